"""The request attributes an authorizer reads, and the opinion one authorizer returns.

These types are shared by every authorizer in the chain (authorizer.py) so
that a new one, such as RBAC, only implements ``Authorizer.authorize``.
They mirror Kubernetes' authorizer.Attributes and its three outcomes:
ALLOW and DENY end the chain, NO_OPINION passes the request on to the next
authorizer.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Protocol

from pykube_core.fields import FieldSelector

from pykube_control.apiserver.auth.identity import UserInfo


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RequestAttributes:
    """The request as the authorizers see it.

    A resource request has ``resource`` set (a plural such as "pods"). For
    list and watch the caller sets ``name`` from a ``metadata.name=<name>``
    field selector, as Kubernetes' request info does, and passes the parsed
    field selector so the node authorizer can see ``spec.nodeName``. A
    non-resource request (/healthz, /api, /apis/apps) has ``resource`` ""
    and ``path`` set, and its verb is the lower-case HTTP method.
    """

    user: UserInfo
    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    field_selector: FieldSelector | None = None

    @property
    def is_resource_request(self) -> bool:
        return bool(self.resource)


class Outcome(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no opinion"


@dataclasses.dataclass(frozen=True, slots=True)
class Opinion:
    """One authorizer's outcome; ``reason`` explains a denial or no opinion, Kubernetes-style."""

    outcome: Outcome
    reason: str = ""


ALLOW = Opinion(Outcome.ALLOW)
NO_OPINION = Opinion(Outcome.NO_OPINION)


def no_opinion(reason: str) -> Opinion:
    return Opinion(Outcome.NO_OPINION, reason)


class Authorizer(Protocol):
    def authorize(self, attributes: RequestAttributes) -> Opinion:
        """Return ALLOW or DENY to decide the request, or NO_OPINION to leave it to the next authorizer."""
        ...
