"""Pod and owner helpers shared by the ReplicaSet and Deployment controllers.

These are the small rules both controllers apply to wire objects: which
pods count (active, ready, available), what a controller reference looks
like, the order in which surplus pods are deleted, and the expectations
that keep a sync from acting twice on creates and deletes still in flight.
They work on plain dicts, as the informers cache them, and never write.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Iterable, Mapping
from typing import Any

Object = dict[str, Any]

EXPECTATIONS_TIMEOUT = 300.0
"""Seconds after which unmet expectations are dropped, as in kube-controller-manager,
so a lost watch event delays a sync by at most this long instead of forever."""


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def format_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp as the API server writes it; None for a missing or invalid value."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def metadata(obj: Mapping[str, Any]) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    value = metadata(obj).get("labels")
    return value if isinstance(value, dict) else {}


def is_being_deleted(obj: Mapping[str, Any]) -> bool:
    return bool(metadata(obj).get("deletionTimestamp"))


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the ownerReference with controller=true, or None when the object has no controller."""
    for reference in metadata(obj).get("ownerReferences") or []:
        if isinstance(reference, dict) and reference.get("controller"):
            return reference
    return None


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """Build the controller reference that an owner puts on the objects it creates or adopts."""
    meta = metadata(owner)
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


# --- pod state ------------------------------------------------------------------------------


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """Tell whether the pod counts toward replicas: not finished and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_being_deleted(pod)


def _ready_condition(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition
    return None


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    condition = _ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def ready_since(pod: Mapping[str, Any]) -> datetime.datetime | None:
    """Return when the pod last became ready, or None when it is not ready."""
    condition = _ready_condition(pod)
    if condition is None or condition.get("status") != "True":
        return None
    return parse_time(condition.get("lastTransitionTime"))


def is_pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Tell whether the pod has been ready for at least ``min_ready_seconds``.

    A ready pod without a lastTransitionTime counts as available only when
    ``min_ready_seconds`` is 0, because its ready time is unknown.
    """
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) <= now


# --- deletion order ---------------------------------------------------------------------------

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _restarts(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(status.get("restartCount") or 0) for status in statuses if isinstance(status, dict)), default=0)


def deletion_order(pods: Iterable[Object], related: Iterable[Object]) -> list[Object]:
    """Sort pods so that the ones to delete first come first, as Kubernetes ranks them.

    The order is: unscheduled before scheduled; Pending, then Unknown, then
    Running; not ready before ready; pods on nodes crowded with ``related``
    active pods before the others; ready for a shorter time first; more
    container restarts first; newer before older.
    """
    per_node: dict[str, int] = {}
    for pod in related:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and is_pod_active(pod):
            per_node[node] = per_node.get(node, 0) + 1

    def rank(pod: Object) -> tuple[Any, ...]:
        node = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        since = ready_since(pod)
        created = parse_time(metadata(pod).get("creationTimestamp"))
        return (
            1 if node else 0,
            _PHASE_RANK.get(phase, 0),
            1 if is_pod_ready(pod) else 0,
            -per_node.get(node, 0) if node else 0,
            -(since.timestamp() if since else 0.0),
            -_restarts(pod),
            -(created.timestamp() if created else 0.0),
        )

    return sorted(pods, key=rank)


# --- expectations ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Expected:
    creations: int
    deletions: set[str]
    """Keys ("<namespace>/<name>") of pods whose deletion has been requested but not yet observed."""
    set_at: float


class Expectations:
    """Creates and deletes a controller has requested and not yet seen in its informer, per owner key.

    A sync that finds unmet expectations does not create or delete pods,
    because its cache does not yet show its own earlier writes. Entries
    expire after ``timeout`` seconds so a lost event cannot block an owner.
    """

    def __init__(self, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self._timeout = timeout
        self._entries: dict[str, _Expected] = {}

    def satisfied(self, owner_key: str) -> bool:
        entry = self._entries.get(owner_key)
        if entry is None:
            return True
        if entry.creations <= 0 and not entry.deletions:
            return True
        return time.monotonic() - entry.set_at > self._timeout

    def expect(self, owner_key: str, creations: int = 0, deletions: Iterable[str] = ()) -> None:
        """Replace the owner's expectations with these pending creates and deletes."""
        self._entries[owner_key] = _Expected(creations, set(deletions), time.monotonic())

    def creation_observed(self, owner_key: str) -> None:
        entry = self._entries.get(owner_key)
        if entry is not None:
            entry.creations -= 1

    def deletion_observed(self, owner_key: str, pod_key: str) -> None:
        entry = self._entries.get(owner_key)
        if entry is not None:
            entry.deletions.discard(pod_key)

    def forget(self, owner_key: str) -> None:
        self._entries.pop(owner_key, None)
