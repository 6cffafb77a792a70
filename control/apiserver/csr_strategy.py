"""What the API server itself writes into a CertificateSigningRequest.

On create, ``spec.username``, ``spec.uid``, ``spec.groups`` and
``spec.extra`` become the identity of the user who sent the request,
whatever the request body contained, because the approving controller decides from
them. On update, each endpoint may change only its part of the status:

- ``/status`` (the signer) writes ``status.certificate`` and conditions
  other than Approved and Denied;
- ``/approval`` (an approver) writes only the Approved and Denied
  conditions;
- the main resource keeps the whole status (write.py does that for every
  kind with a status subresource).

A new condition without timestamps gets ``lastUpdateTime`` and
``lastTransitionTime`` set to now, as Kubernetes does.

Differences from Kubernetes 1.32: without authentication (the insecure
loopback mode) the requester fields are kept as the client sent them,
since that mode trusts every client.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from pykube_control.apiserver.auth.identity import UserInfo
from pykube_control.apiserver.objects import now_rfc3339
from pykube_control.apiserver.resources import ResourceType

Object = dict[str, Any]

GROUP = "certificates.k8s.io"
KIND = "CertificateSigningRequest"
APPROVAL_CONDITIONS = ("Approved", "Denied")

USER_KEY = web.RequestKey("pykube.user", UserInfo)
"""Key of the authenticated user on an aiohttp request, set by the server before any handler runs; absent without auth."""


def _is_csr(resource: ResourceType) -> bool:
    return resource.group == GROUP and resource.kind == KIND


def prepare_create(resource: ResourceType, obj: Object, user: UserInfo | None) -> None:
    """Record the requester in the spec of a new CSR and start it with an empty status; other kinds are left alone."""
    if not _is_csr(resource):
        return
    obj["status"] = {}
    if user is None:
        return
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec["username"] = user.name
    if user.uid:
        spec["uid"] = user.uid
    else:
        spec.pop("uid", None)
    spec["groups"] = list(user.groups)
    spec.pop("extra", None)


def prepare_update(resource: ResourceType, subresource: str | None, updated: Object, current: Object) -> None:
    """Limit a /status or /approval update of a CSR to the fields that endpoint owns."""
    if not _is_csr(resource) or subresource not in ("status", "approval"):
        return
    status = updated.get("status")
    if not isinstance(status, dict):
        status = updated["status"] = {}
    old_status = current.get("status") if isinstance(current.get("status"), dict) else {}
    assert isinstance(old_status, dict)
    new_conditions = _conditions(status)
    old_conditions = _conditions(old_status)
    if subresource == "status":
        kept = [c for c in old_conditions if c.get("type") in APPROVAL_CONDITIONS]
        written = [c for c in new_conditions if c.get("type") not in APPROVAL_CONDITIONS]
    else:
        kept = [c for c in old_conditions if c.get("type") not in APPROVAL_CONDITIONS]
        written = [c for c in new_conditions if c.get("type") in APPROVAL_CONDITIONS]
        if "certificate" in old_status:
            status["certificate"] = old_status["certificate"]
        else:
            status.pop("certificate", None)
    conditions = kept + [_stamped(condition, old_conditions) for condition in written]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


def _conditions(status: Object) -> list[Object]:
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return []
    return [copy.deepcopy(condition) for condition in conditions if isinstance(condition, dict)]


def _stamped(condition: Object, old_conditions: list[Object]) -> Object:
    """Fill in missing timestamps; a condition whose status is unchanged keeps its old transition time."""
    now = now_rfc3339()
    previous = next((c for c in old_conditions if c.get("type") == condition.get("type")), None)
    if not condition.get("lastUpdateTime"):
        condition["lastUpdateTime"] = now
    if not condition.get("lastTransitionTime"):
        unchanged = previous is not None and previous.get("status") == condition.get("status")
        condition["lastTransitionTime"] = previous.get("lastTransitionTime", now) if unchanged and previous else now
    return condition
