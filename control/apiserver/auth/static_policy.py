"""The fixed part of the authorization policy: superusers and the public and discovery paths.

Kubernetes grants these through its bootstrap RBAC roles: group
system:masters may do everything, everyone may read the health and version
endpoints (role system:public-info-viewer), and authenticated users may
read API discovery and OpenAPI (role system:discovery). Until pykube serves
RBAC objects, this module applies the same grants as fixed rules; later the
RBAC authorizer can take them over as default bindings.
"""

from __future__ import annotations

import dataclasses

from pykube_control.apiserver.auth.attributes import ALLOW, NO_OPINION, Opinion, RequestAttributes
from pykube_control.apiserver.auth.identity import (
    AUTHENTICATED_GROUP,
    MASTERS_GROUP,
    UNAUTHENTICATED_GROUP,
)


class MastersAuthorizer:
    """Allow every request of a user in group system:masters, as Kubernetes does before any other authorizer."""

    def authorize(self, attributes: RequestAttributes) -> Opinion:
        if MASTERS_GROUP in attributes.user.groups:
            return ALLOW
        return NO_OPINION


@dataclasses.dataclass(frozen=True, slots=True)
class PathRule:
    """Allow ``verbs`` on non-resource ``paths`` to members of ``groups``.

    A path ending in "*" matches every path with that prefix; any other path
    matches exactly, as in RBAC's nonResourceURLs.
    """

    groups: frozenset[str]
    verbs: frozenset[str]
    paths: tuple[str, ...]

    def allows(self, attributes: RequestAttributes) -> bool:
        if attributes.is_resource_request or attributes.verb not in self.verbs:
            return False
        if self.groups.isdisjoint(attributes.user.groups):
            return False
        return any(_path_matches(pattern, attributes.path) for pattern in self.paths)


def _path_matches(pattern: str, path: str) -> bool:
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


PUBLIC_INFO = PathRule(
    groups=frozenset({AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP}),
    verbs=frozenset({"get"}),
    paths=("/healthz", "/livez", "/readyz", "/version", "/version/"),
)
"""Kubernetes' system:public-info-viewer role, bound to everyone including anonymous."""

DISCOVERY = PathRule(
    groups=frozenset({AUTHENTICATED_GROUP}),
    verbs=frozenset({"get"}),
    paths=(
        "/healthz", "/livez", "/readyz", "/version", "/version/",
        "/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*",
    ),
)
"""Kubernetes' system:discovery role, bound to authenticated users."""


class PathAuthorizer:
    """Allow non-resource requests that one of ``rules`` allows; no opinion on anything else."""

    def __init__(self, rules: tuple[PathRule, ...] = (PUBLIC_INFO, DISCOVERY)) -> None:
        self._rules = rules

    def authorize(self, attributes: RequestAttributes) -> Opinion:
        if any(rule.allows(attributes) for rule in self._rules):
            return ALLOW
        return NO_OPINION
