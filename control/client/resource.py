"""Resource identities and their REST paths.

A call names its resource by (group, version, plural, namespaced), the way
a Kubernetes client's REST mapping does. ``Resource`` is that tuple plus the
kind. ``resource_for`` and the constants below take their values from the
API server's table of served resources, so the client and the server cannot
disagree about a plural or about which resources are namespaced.

NOTE: this is the one place where the client imports the API server's code,
and it imports only ``pykube_control.apiserver.resources``, a data module
without dependencies. Other components keep importing only the client.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Protocol

from pykube_control.apiserver import resources as served


class ResourceLike(Protocol):
    """Anything that names a resource: ``Resource`` or the API server's ``ResourceType``."""

    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def plural(self) -> str: ...
    @property
    def namespaced(self) -> bool: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Resource:
    group: str
    """API group; "" is the core group served under /api."""
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` of objects of this resource: "v1" or "<group>/<version>"."""
        return f"{self.group}/{self.version}" if self.group else self.version


def resource_for(group: str, version: str, plural: str) -> Resource:
    """Return the served resource at ``group``/``version``/``plural``; raise KeyError naming it when not served."""
    found = served.by_plural(group, version, plural)
    if found is None:
        path = "/".join(filter(None, (group, version, plural)))
        raise KeyError(f"resource {path} is not served by the API server; check the group, version and plural")
    return Resource(found.group, found.version, found.kind, found.plural, found.namespaced)


def api_version_of(resource: ResourceLike) -> str:
    return f"{resource.group}/{resource.version}" if resource.group else resource.version


def resource_path(
    resource: ResourceLike, namespace: str | None = None, name: str | None = None, subresource: str | None = None
) -> str:
    """Build the REST path, such as /apis/apps/v1/namespaces/web/deployments/front/scale.

    ``namespace`` is ignored for cluster-scoped resources. A namespaced
    resource without a namespace is the all-namespaces collection, which
    only list and watch accept.
    """
    prefix = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    parts = [prefix]
    if resource.namespaced and namespace:
        parts.append(f"namespaces/{_quote(namespace)}")
    parts.append(resource.plural)
    if name is not None:
        if not name:
            raise ValueError(f"empty name for a {resource.kind}; pass the object's metadata.name")
        parts.append(_quote(name))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


NAMESPACES = resource_for("", "v1", "namespaces")
PODS = resource_for("", "v1", "pods")
NODES = resource_for("", "v1", "nodes")
SERVICES = resource_for("", "v1", "services")
CONFIGMAPS = resource_for("", "v1", "configmaps")
SECRETS = resource_for("", "v1", "secrets")
EVENTS = resource_for("", "v1", "events")
PERSISTENT_VOLUMES = resource_for("", "v1", "persistentvolumes")
PERSISTENT_VOLUME_CLAIMS = resource_for("", "v1", "persistentvolumeclaims")
DEPLOYMENTS = resource_for("apps", "v1", "deployments")
REPLICA_SETS = resource_for("apps", "v1", "replicasets")
DAEMON_SETS = resource_for("apps", "v1", "daemonsets")
JOBS = resource_for("batch", "v1", "jobs")
ENDPOINT_SLICES = resource_for("discovery.k8s.io", "v1", "endpointslices")
LEASES = resource_for("coordination.k8s.io", "v1", "leases")
PRIORITY_CLASSES = resource_for("scheduling.k8s.io", "v1", "priorityclasses")
POD_DISRUPTION_BUDGETS = resource_for("policy", "v1", "poddisruptionbudgets")
