"""The asynchronous API client: typed verbs over any resource, and watch.

``APIClient`` is what every component uses to talk to the cluster. Each verb
takes the resource (see ``resource.py``) and returns decoded JSON objects as
plain dicts, since components read and write Kubernetes wire objects
directly. Failures raise the ``APIError`` subclass of the server's Status
reason (``errors.py``). Retries, timeouts and TLS live in ``transport.py``.

Namespaces follow kubectl: a namespaced get, create, update, patch or
delete without a namespace uses the object's ``metadata.namespace`` and then
the kubeconfig context's namespace. ``list`` and ``watch`` without a
namespace cover all namespaces, which is what informers want.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, Literal

import aiohttp

from pykube_control.client.errors import APIConnectionError, error_from_status
from pykube_control.client.kubeconfig import ClientConfig, load_client_config
from pykube_control.client.resource import EVENTS, PODS, ResourceLike, resource_path
from pykube_control.client.transport import WATCH_GRACE, RetryPolicy, Transport
from pykube_control.client.watch import Object, WatchEvent, parse_frames

PatchType = Literal["merge", "strategic", "json"]

PATCH_CONTENT_TYPES: Mapping[PatchType, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}

PropagationPolicy = Literal["Foreground", "Background", "Orphan"]


class APIClient:
    """A client of one API server over one connection pool; use ``async with`` or call ``close``."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        request_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        pool_size: int | None = None,
    ) -> None:
        options: dict[str, Any] = {}
        if request_timeout is not None:
            options["request_timeout"] = request_timeout
        if retry is not None:
            options["retry"] = retry
        if pool_size is not None:
            options["pool_size"] = pool_size
        self.config = config
        self._transport = Transport(config, **options)

    @classmethod
    def from_kubeconfig(
        cls, path: str | os.PathLike[str] | None = None, *, context: str | None = None, **options: Any
    ) -> APIClient:
        """Build a client from a kubeconfig found as ``load_client_config`` finds it."""
        return cls(load_client_config(path, context=context), **options)

    async def __aenter__(self) -> APIClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.close()

    # --- reading ---------------------------------------------------------------------------

    async def get(self, resource: ResourceLike, name: str, *, namespace: str | None = None) -> Object:
        path = resource_path(resource, self._namespace(resource, namespace), name)
        return await self._object("GET", path)

    async def list(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
    ) -> Object:
        """Return one List object; pass its ``metadata.continue`` back as ``continue_token`` for the next page."""
        params = _selectors(label_selector, field_selector)
        if limit is not None:
            params["limit"] = str(limit)
        if continue_token:
            params["continue"] = continue_token
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        return await self._object("GET", resource_path(resource, namespace), params=params)

    async def list_pages(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
    ) -> AsyncIterator[Object]:
        """Yield the pages of one consistent list, ``limit`` objects at a time, until no continue token is left.

        Every page carries the snapshot's resourceVersion. A continue token
        that expires between pages raises ``Gone``, and the caller lists again.
        """
        token: str | None = None
        while True:
            page = await self.list(
                resource, namespace=namespace, label_selector=label_selector,
                field_selector=field_selector, limit=limit, continue_token=token,
            )  # fmt: skip
            yield page
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return

    # --- writing ---------------------------------------------------------------------------

    async def create(self, resource: ResourceLike, obj: Object, *, namespace: str | None = None) -> Object:
        path = resource_path(resource, self._namespace(resource, namespace, obj))
        return await self._object("POST", path, body=obj)

    async def update(self, resource: ResourceLike, obj: Object, *, namespace: str | None = None) -> Object:
        """Replace the object named by ``obj``; its ``metadata.resourceVersion``, when set, must be current."""
        path = resource_path(resource, self._namespace(resource, namespace, obj), _name_of(obj))
        return await self._object("PUT", path, body=obj)

    async def update_status(self, resource: ResourceLike, obj: Object, *, namespace: str | None = None) -> Object:
        """Replace the status of the object named by ``obj`` through the status subresource."""
        path = resource_path(resource, self._namespace(resource, namespace, obj), _name_of(obj), "status")
        return await self._object("PUT", path, body=obj)

    async def patch(
        self,
        resource: ResourceLike,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
    ) -> Object:
        """Patch an object: ``patch`` is a JSON object for merge and strategic, a list of operations for json."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"invalid patch_type {patch_type!r}; use one of {sorted(PATCH_CONTENT_TYPES)}")
        path = resource_path(resource, self._namespace(resource, namespace), name, subresource)
        return await self._object("PATCH", path, body=patch, content_type=PATCH_CONTENT_TYPES[patch_type])

    async def delete(
        self,
        resource: ResourceLike,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: PropagationPolicy | None = None,
        grace_period_seconds: int | None = None,
        precondition_uid: str | None = None,
        precondition_resource_version: str | None = None,
    ) -> Object:
        """Delete an object; return the object (still present with finalizers) or the server's success Status."""
        options = _delete_options(
            propagation_policy, grace_period_seconds, precondition_uid, precondition_resource_version
        )
        path = resource_path(resource, self._namespace(resource, namespace), name)
        return await self._object("DELETE", path, body=options)

    async def bind(self, pod_name: str, node_name: str, *, namespace: str | None = None, pod_uid: str | None = None) -> None:
        """Assign a pending pod to ``node_name`` (the scheduler's write); Conflict when it is already bound."""
        namespace = self._namespace(PODS, namespace) or self.config.namespace
        metadata: dict[str, str] = {"name": pod_name, "namespace": namespace}
        if pod_uid:
            metadata["uid"] = pod_uid
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": metadata,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        # The scheduler binds every pod it places, so this skips aiohttp's per-request cost.
        await self._transport.request_small("POST", resource_path(PODS, namespace, pod_name, "binding"), binding)

    async def evict(
        self, pod_name: str, *, namespace: str | None = None, grace_period_seconds: int | None = None
    ) -> None:
        """Delete a pod through the eviction subresource, which honours disruption budgets."""
        namespace = self._namespace(PODS, namespace) or self.config.namespace
        eviction: Object = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod_name, "namespace": namespace},
        }
        if grace_period_seconds is not None:
            eviction["deleteOptions"] = _delete_options(None, grace_period_seconds, None, None)
        await self._object("POST", resource_path(PODS, namespace, pod_name, "eviction"), body=eviction)

    async def create_event(self, event: Object, *, namespace: str | None = None) -> Object:
        """Create a core/v1 Event; see ``events.EventRecorder`` for building and aggregating them.

        Like ``bind``, it skips aiohttp's per-request cost: the scheduler
        records an Event for every pod it binds.
        """
        path = resource_path(EVENTS, self._namespace(EVENTS, namespace, event))
        created: Object = await self._transport.request_small("POST", path, event)
        return created

    # --- watching --------------------------------------------------------------------------

    async def watch(
        self,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        name: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Yield (type, object) for each change after ``resource_version``.

        Without ``resource_version`` the server first sends ADDED for every
        current object. The iteration ends when the server closes the stream
        (after ``timeout_seconds``). An ERROR frame raises the APIError of its
        Status, so a resourceVersion that is too old raises ``Gone``. A broken
        connection raises APIConnectionError. Only opening the stream is retried.
        """
        params = _selectors(label_selector, field_selector)
        params["watch"] = "true"
        if name is not None:
            selector = f"metadata.name={name}"
            params["fieldSelector"] = f"{field_selector},{selector}" if field_selector else selector
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        total = None
        if timeout_seconds is not None:
            params["timeoutSeconds"] = str(timeout_seconds)
            total = timeout_seconds + WATCH_GRACE

        path = resource_path(resource, namespace)
        async with self._transport.stream(path, params, total) as response:
            try:
                async for event_type, obj in parse_frames(response.content.iter_any()):
                    if event_type == "ERROR":
                        raise error_from_status(obj)
                    yield event_type, obj
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as error:
                raise APIConnectionError(
                    f"watch {path} broke: {type(error).__name__}: {error}; watch again from the last resourceVersion"
                ) from error

    # --- helpers ---------------------------------------------------------------------------

    def _namespace(self, resource: ResourceLike, namespace: str | None, obj: Object | None = None) -> str | None:
        if not resource.namespaced:
            return None
        if namespace:
            return namespace
        from_object = ((obj or {}).get("metadata") or {}).get("namespace")
        if from_object:
            return str(from_object)
        return self.config.namespace

    async def _object(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Object:
        result = await self._transport.request(method, path, params=params, body=body, content_type=content_type)
        return result if isinstance(result, dict) else {}


def _selectors(label_selector: str | None, field_selector: str | None) -> dict[str, str]:
    params = {}
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    return params


def _name_of(obj: Object) -> str:
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"object of kind {obj.get('kind')!r} has no metadata.name; set it before update")
    return name


def _delete_options(
    propagation_policy: str | None,
    grace_period_seconds: int | None,
    precondition_uid: str | None,
    precondition_resource_version: str | None,
) -> Object:
    options: Object = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if propagation_policy is not None:
        options["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        options["gracePeriodSeconds"] = grace_period_seconds
    preconditions = {}
    if precondition_uid is not None:
        preconditions["uid"] = precondition_uid
    if precondition_resource_version is not None:
        preconditions["resourceVersion"] = precondition_resource_version
    if preconditions:
        options["preconditions"] = preconditions
    return options
