"""The requests of namespace deletion that ``APIClient`` has no verb for.

Deleting a namespace's content takes three requests the typed client does
not offer: discovery (which namespaced resources the server serves), DELETE
on a collection, and PUT on ``namespaces/{name}/finalize``.
``NamespaceRequests`` sends them over its own ``Transport`` built from the
client's configuration, so it needs nothing private from ``APIClient``.

Discovery reads the preferred version of every group, as Kubernetes'
namespace controller does. An old group such as extensions/v1beta1 serves
the same stored objects as apps/v1, so the same Deployment can be deleted
and listed twice; callers count objects by the apiVersion of the returned
List, which is the stored version, to report each object once.
"""

from __future__ import annotations

from typing import Any

from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import NAMESPACES, Resource, ResourceLike, resource_path
from pykube_control.client.transport import Transport

Object = dict[str, Any]

REQUIRED_VERBS = frozenset({"list", "deletecollection"})
"""Verbs a resource must serve for the controller to empty it."""


class NamespaceRequests:
    """Discovery, deletecollection and finalize over one connection pool; call ``close`` when done."""

    def __init__(self, config: ClientConfig) -> None:
        self._transport = Transport(config)

    async def close(self) -> None:
        await self._transport.close()

    async def namespaced_resources(self) -> list[Resource]:
        """Return every namespaced resource of each group's preferred version that serves list and deletecollection.

        Raise APIError or APIConnectionError when discovery fails.
        """
        group_versions = ["v1"]
        groups = await self._transport.request("GET", "/apis")
        for group in (groups or {}).get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            if isinstance(preferred, str) and preferred:
                group_versions.append(preferred)
        found: list[Resource] = []
        for group_version in group_versions:
            group, _, version = group_version.rpartition("/")
            path = f"/apis/{group_version}" if group else f"/api/{version}"
            listing = await self._transport.request("GET", path)
            for entry in (listing or {}).get("resources") or []:
                resource = _namespaced_resource(group, version, entry)
                if resource is not None:
                    found.append(resource)
        return found

    async def delete_collection(self, resource: ResourceLike, namespace: str) -> None:
        """Delete every ``resource`` object in ``namespace`` with background propagation."""
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        await self._transport.request("DELETE", resource_path(resource, namespace), body=options)

    async def finalize(self, namespace: Object, finalizers: list[str]) -> Object:
        """Replace ``spec.finalizers`` of ``namespace`` through its finalize subresource.

        The server deletes the namespace when both ``spec.finalizers`` and
        ``metadata.finalizers`` end up empty. The request carries the
        namespace's resourceVersion, so a stale copy fails with Conflict.
        """
        body = {**namespace, "spec": {**(namespace.get("spec") or {}), "finalizers": finalizers}}
        name = str(namespace["metadata"]["name"])
        result = await self._transport.request("PUT", resource_path(NAMESPACES, None, name, "finalize"), body=body)
        return result if isinstance(result, dict) else {}


def _namespaced_resource(group: str, version: str, entry: Object) -> Resource | None:
    """Return the resource of a discovery entry, or None for subresources and what cannot be emptied."""
    plural = entry.get("name")
    kind = entry.get("kind")
    if not isinstance(plural, str) or "/" in plural or not isinstance(kind, str):
        return None
    if not entry.get("namespaced") or not REQUIRED_VERBS <= set(entry.get("verbs") or []):
        return None
    return Resource(group, version, kind, plural, True)
