"""Deployment arithmetic and bookkeeping that does not talk to the API server.

The pod-template-hash, revision annotations, maxSurge and maxUnavailable
resolution, the proportional share of a scale change, status conditions
and the completeness tests that ``kubectl rollout status`` relies on. Each
function takes wire objects (plain dicts) and returns values, so the
Deployment controller stays a sequence of reads and writes.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pykube_control.controllers.replicaset_util import Object, format_time, metadata, now_utc, parse_time

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"

DEFAULT_MAX_SURGE = "25%"
DEFAULT_MAX_UNAVAILABLE = "25%"
DEFAULT_REVISION_HISTORY_LIMIT = 10

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""Alphabet of hash suffixes, without vowels so that no suffix spells a word; decimal digits map to ten of them."""


# --- template hash --------------------------------------------------------------------------


def _fnv32a(data: bytes) -> int:
    value = _FNV_OFFSET
    for byte in data:
        value ^= byte
        value = (value * _FNV_PRIME) & 0xFFFFFFFF
    return value


def template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """Return the pod-template-hash of a pod template: stable across processes and restarts.

    The hash is FNV-1a (32 bit) over the template as canonical JSON (sorted
    keys), followed by the collision count when set, written in decimal with
    every digit mapped into a safe alphabet. Kubernetes hashes its Go
    printing of the struct instead, so the values differ from Kubernetes'.
    """
    data = json.dumps(_normalized(copy.deepcopy(dict(template))), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += str(collision_count).encode()
    return "".join(_SAFE_ALPHABET[ord(digit) % len(_SAFE_ALPHABET)] for digit in str(_fnv32a(data)))


def template_without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(dict(template))
    labels = (stripped.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return stripped


def templates_equal(replica_set_template: Mapping[str, Any], deployment_template: Mapping[str, Any]) -> bool:
    """Tell whether a ReplicaSet runs the Deployment's template, ignoring the pod-template-hash label."""
    return _normalized(template_without_hash(replica_set_template)) == _normalized(template_without_hash(deployment_template))


def _normalized(template: dict[str, Any]) -> dict[str, Any]:
    """Drop template metadata that Kubernetes' typed objects cannot tell from absent, such as
    the ``"creationTimestamp": null`` that kubectl writes in ``rollout undo``."""
    meta = {key: value for key, value in (template.get("metadata") or {}).items() if value is not None}
    if not meta.get("labels"):
        meta.pop("labels", None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    if meta:
        template["metadata"] = meta
    else:
        template.pop("metadata", None)
    return template


# --- revisions ------------------------------------------------------------------------------


def revision_of(obj: Mapping[str, Any]) -> int:
    """Return the revision annotation as an integer, or 0 when it is missing or not a number."""
    value = (metadata(obj).get("annotations") or {}).get(REVISION)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def max_revision(replica_sets: Iterable[Object]) -> int:
    return max((revision_of(rs) for rs in replica_sets), default=0)


# --- replicas arithmetic ----------------------------------------------------------------------


def replicas_of(obj: Mapping[str, Any]) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1))


def status_count(obj: Mapping[str, Any], field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def resolve_int_or_percent(value: object, total: int, round_up: bool, field: str) -> int:
    """Resolve an IntOrString such as 3 or "25%" against ``total``; raise ValueError naming ``field`` if invalid."""
    if isinstance(value, bool):
        raise ValueError(f"invalid {field} {value!r}: use an integer or a percentage such as \"25%\"")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            percent = int(value[:-1])
        except ValueError:
            percent = -1
        if percent >= 0:
            exact = percent * total / 100
            return math.ceil(exact) if round_up else math.floor(exact)
    raise ValueError(f"invalid {field} {value!r}: use an integer or a percentage such as \"25%\"")


def surge_and_unavailable(deployment: Mapping[str, Any]) -> tuple[int, int]:
    """Return (maxSurge, maxUnavailable) in pods for a RollingUpdate Deployment.

    Surge rounds up and unavailable rounds down, as in Kubernetes. When both
    resolve to 0, maxUnavailable becomes 1 so the rollout can move. A
    Recreate Deployment returns (0, 0).
    """
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    replicas = replicas_of(deployment)
    surge = resolve_int_or_percent(rolling.get("maxSurge", DEFAULT_MAX_SURGE), replicas, True, "spec.strategy.rollingUpdate.maxSurge")
    unavailable = resolve_int_or_percent(
        rolling.get("maxUnavailable", DEFAULT_MAX_UNAVAILABLE), replicas, False, "spec.strategy.rollingUpdate.maxUnavailable"
    )
    unavailable = min(unavailable, replicas)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def new_replica_set_replicas(deployment: Mapping[str, Any], all_sets: Iterable[Object], new_set: Object) -> int:
    """Return the replicas the new ReplicaSet may have now, within maxSurge (rolling) or all of them (Recreate)."""
    wanted = replicas_of(deployment)
    strategy = ((deployment.get("spec") or {}).get("strategy") or {}).get("type")
    if strategy == "Recreate":
        return wanted
    surge, _ = surge_and_unavailable(deployment)
    current_total = sum(replicas_of(rs) for rs in all_sets)
    allowed_total = wanted + surge
    if current_total >= allowed_total:
        return replicas_of(new_set)
    scale_up = min(allowed_total - current_total, wanted - replicas_of(new_set))
    return replicas_of(new_set) + max(0, scale_up)


def proportion(replica_set: Object, deployment: Mapping[str, Any], to_add: int, added: int) -> int:
    """Return this ReplicaSet's share of a scale change of ``to_add`` pods, of which ``added`` are assigned.

    The share is the set's fraction of the size recorded in its
    max-replicas annotation, applied to the Deployment's new maximum
    (replicas + maxSurge), and capped by what is left to assign.
    """
    if replicas_of(replica_set) == 0 or to_add == 0 or to_add == added:
        return 0
    allowed = to_add - added
    fraction = _fraction(replica_set, deployment)
    if to_add > 0:
        return min(fraction, allowed)
    return max(fraction, allowed)


def _fraction(replica_set: Object, deployment: Mapping[str, Any]) -> int:
    if replicas_of(deployment) == 0:
        return -replicas_of(replica_set)
    surge, _ = surge_and_unavailable(deployment)
    deployment_max = replicas_of(deployment) + surge
    annotated = (metadata(replica_set).get("annotations") or {}).get(MAX_REPLICAS)
    try:
        previous_max = int(annotated) if annotated is not None else status_count(deployment, "replicas")
    except ValueError:
        previous_max = status_count(deployment, "replicas")
    if previous_max <= 0:
        previous_max = deployment_max
    share = replicas_of(replica_set) * deployment_max / previous_max
    return int(round(share)) - replicas_of(replica_set)


# --- conditions and completeness ---------------------------------------------------------------


def condition(status: Mapping[str, Any], condition_type: str) -> dict[str, Any] | None:
    for item in status.get("conditions") or []:
        if isinstance(item, dict) and item.get("type") == condition_type:
            return item
    return None


def set_condition(status: dict[str, Any], condition_type: str, value: str, reason: str, message: str) -> None:
    """Set a condition, keeping lastTransitionTime unless the status changes and lastUpdateTime unless anything does."""
    now = format_time(now_utc())
    current = condition(status, condition_type)
    new = {"type": condition_type, "status": value, "reason": reason, "message": message,
           "lastUpdateTime": now, "lastTransitionTime": now}  # fmt: skip
    if current is not None:
        if current.get("status") == value:
            new["lastTransitionTime"] = current.get("lastTransitionTime", now)
            if current.get("reason") == reason and current.get("message") == message:
                new["lastUpdateTime"] = current.get("lastUpdateTime", now)
    # Replace in place: moving a condition to the end would make equal statuses compare unequal.
    conditions = list(status.get("conditions") or [])
    positions = [index for index, item in enumerate(conditions) if item.get("type") == condition_type]
    if positions:
        conditions[positions[0]] = new
    else:
        conditions.append(new)
    status["conditions"] = conditions


def remove_condition(status: dict[str, Any], condition_type: str) -> None:
    status["conditions"] = [item for item in status.get("conditions") or [] if item.get("type") != condition_type]


def is_complete(deployment: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Tell whether every replica runs the new template and is available (kubectl's notion of done)."""
    wanted = replicas_of(deployment)
    return (
        int(status.get("updatedReplicas") or 0) == wanted
        and int(status.get("replicas") or 0) == wanted
        and int(status.get("availableReplicas") or 0) == wanted
        and int(status.get("observedGeneration") or 0) >= int(metadata(deployment).get("generation") or 0)
    )


def made_progress(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Tell whether the rollout moved since ``old``: more updated, ready or available pods, or fewer old ones."""
    old_other = int(old.get("replicas") or 0) - int(old.get("updatedReplicas") or 0)
    new_other = int(new.get("replicas") or 0) - int(new.get("updatedReplicas") or 0)
    return (
        int(new.get("updatedReplicas") or 0) > int(old.get("updatedReplicas") or 0)
        or new_other < old_other
        or int(new.get("readyReplicas") or 0) > int(old.get("readyReplicas") or 0)
        or int(new.get("availableReplicas") or 0) > int(old.get("availableReplicas") or 0)
    )


def seconds_until_deadline(deployment: Mapping[str, Any], status: Mapping[str, Any]) -> float | None:
    """Return seconds left before the Progressing condition times out, or None when no deadline applies."""
    deadline = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    progressing = condition(status, "Progressing")
    if deadline is None or progressing is None or progressing.get("reason") == "NewReplicaSetAvailable":
        return None
    updated = parse_time(progressing.get("lastUpdateTime"))
    if updated is None:
        return None
    return float(deadline) - (now_utc() - updated).total_seconds()
