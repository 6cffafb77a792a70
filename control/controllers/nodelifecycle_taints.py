"""Node taints and pod tolerations as the node lifecycle controller reads and writes them.

These are pure functions over wire objects, kept apart from the
controller's loops so the matching rules can be read and tested alone.
Matching follows the Kubernetes Toleration rules (core/v1): an empty
effect matches every effect, an empty key with operator Exists matches
every taint, operator Equal (the default) also compares the value, and
tolerationSeconds bounds how long a NoExecute taint is tolerated.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

Object = dict[str, Any]

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
"""Key of the taints of a node whose Ready condition is Unknown."""
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
"""Key of the taints of a node whose Ready condition is False."""
LIFECYCLE_TAINT_KEYS = (UNREACHABLE_TAINT, NOT_READY_TAINT)
NO_EXECUTE = "NoExecute"
NO_SCHEDULE = "NoSchedule"


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime.datetime | None:
    """Parse an RFC 3339 time such as "2026-01-02T03:04:05Z" or a MicroTime; None when missing or invalid."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def ready_condition(node: Object) -> Object | None:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition
    return None


def lifecycle_taint_key(ready_status: str | None) -> str | None:
    """Return the taint key a node with this Ready status must carry, or None for a Ready node.

    A node without a Ready condition has not reported yet and gets no
    taint here; the controller marks it Unknown after the grace period.
    """
    if ready_status == "Unknown":
        return UNREACHABLE_TAINT
    if ready_status == "False":
        return NOT_READY_TAINT
    return None


def reconcile_taints(taints: Sequence[Object], required_key: str | None, now: datetime.datetime) -> list[Object]:
    """Return ``taints`` with exactly the lifecycle taints of ``required_key`` (NoSchedule and NoExecute).

    Taints with other keys keep their order. A required taint that is
    already there keeps its timeAdded, because NoExecute eviction deadlines
    count from it. New taints get timeAdded ``now``.
    """
    result = [taint for taint in taints if taint.get("key") not in LIFECYCLE_TAINT_KEYS]
    if required_key is None:
        return result
    for effect in (NO_SCHEDULE, NO_EXECUTE):
        existing = next(
            (t for t in taints if t.get("key") == required_key and t.get("effect") == effect and not t.get("value")),
            None,
        )
        if existing is None:
            existing = {"key": required_key, "effect": effect, "timeAdded": rfc3339(now)}
        result.append(existing)
    return result


def tolerates(toleration: Object, taint: Object) -> bool:
    """Return whether ``toleration`` matches ``taint``, ignoring tolerationSeconds."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return not key or key == taint.get("key")
    if operator != "Equal" or key != taint.get("key"):
        return False
    return (toleration.get("value") or "") == (taint.get("value") or "")


def toleration_limit(tolerations: Sequence[Object], taint: Object) -> float | None:
    """Return the seconds the pod tolerates ``taint``: None for ever, -1 when no toleration matches.

    With several matching tolerations the shortest tolerationSeconds wins,
    as in Kubernetes, and a negative value counts as 0.
    """
    matching = [toleration for toleration in tolerations if tolerates(toleration, taint)]
    if not matching:
        return -1.0
    limits = [float(t["tolerationSeconds"]) for t in matching if isinstance(t.get("tolerationSeconds"), (int, float))]
    if not limits:
        return None
    return max(0.0, min(limits))


def eviction_time(pod: Object, taints: Sequence[Object], observed: datetime.datetime) -> datetime.datetime | None:
    """Return when ``pod`` must be deleted because of the NoExecute ``taints`` of its node, None for never.

    Each taint's tolerated time counts from its timeAdded, or from
    ``observed`` for a taint without one, and the earliest deadline wins.
    A taint the pod does not tolerate gives a deadline of its timeAdded,
    which is in the past, so the pod is deleted at once.
    """
    tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or [] if isinstance(t, dict)]
    deadlines: list[datetime.datetime] = []
    for taint in taints:
        if taint.get("effect") != NO_EXECUTE:
            continue
        limit = toleration_limit(tolerations, taint)
        if limit is None:
            continue
        added = parse_time(taint.get("timeAdded")) or observed
        deadlines.append(added + datetime.timedelta(seconds=max(0.0, limit)))
    return min(deadlines, default=None)
