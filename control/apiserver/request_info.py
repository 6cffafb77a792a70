"""Parse an API request path into what it addresses.

Kubernetes resource paths have a few shapes:

    /api/v1/<plural>[/<name>[/<subresource>]]                     core, cluster-scoped or all namespaces
    /api/v1/namespaces/<ns>/<plural>[/<name>[/<subresource>]]     core, namespaced
    /apis/<group>/<version>/...                                   the same under a named group
    /api/v1/watch/...                                             legacy watch paths

Namespaces themselves are the cluster-scoped resource "namespaces", so
``/api/v1/namespaces/<name>[/status]`` addresses a Namespace object; the
parser tells the two apart by the number of segments after the namespace
name.
"""

from __future__ import annotations

import dataclasses

from pykube_control.apiserver import resources
from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.status import APIError

NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
"""Subresources of a Namespace; no namespaced resource has these plurals, so the paths cannot be misread."""


@dataclasses.dataclass(frozen=True, slots=True)
class RequestInfo:
    resource: ResourceType
    namespace: str | None
    """The namespace in the path; None for cluster-scoped resources and all-namespace lists."""
    name: str | None
    subresource: str | None
    legacy_watch: bool
    group: str
    version: str


def not_found_path(path: str) -> APIError:
    return APIError(404, "NotFound", f"the server could not find the requested resource (path {path})")


def parse_resource_path(path: str) -> RequestInfo | None:
    """Return what a resource path addresses, or None if it is not a resource path.

    Raise APIError 404 for a resource path that names nothing served.
    """
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    legacy_watch = False
    if rest[0] == "watch":
        legacy_watch = True
        rest = rest[1:]
        if not rest:
            raise not_found_path(path)

    namespace: str | None = None
    # /api/v1/namespaces/<name>/status and /finalize address the Namespace itself.
    namespace_subresource = rest[0] == "namespaces" and len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES
    if rest[0] == "namespaces" and len(rest) >= 3 and not namespace_subresource:
        namespace, rest = rest[1], rest[2:]
    plural, name, subresource = rest[0], None, None
    if len(rest) >= 2:
        name = rest[1]
    if len(rest) >= 3:
        subresource = rest[2]
    if len(rest) > 3:
        raise not_found_path(path)

    resource = resources.by_plural(group, version, plural)
    if resource is None:
        raise not_found_path(path)
    if namespace is not None and not resource.namespaced:
        raise not_found_path(path)
    if subresource is not None and subresource not in resource.subresources:
        raise not_found_path(path)
    if resource.namespaced and name is not None and namespace is None:
        # /api/v1/pods/<name> is not a path Kubernetes serves.
        raise not_found_path(path)
    return RequestInfo(resource, namespace, name, subresource, legacy_watch, group, version)
