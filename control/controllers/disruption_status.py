"""The status of one PodDisruptionBudget, computed from its pods and their controllers.

Kubernetes' disruption controller fills in these status fields, and the
eviction API and the scheduler's preemption read them:

- expectedPods: how many pods should exist. For an integer minAvailable it
  is the number of selected pods. For maxUnavailable and for a percentage
  minAvailable it is the sum of spec.replicas of the controllers that own
  the selected pods, each controller counted once.
- desiredHealthy: minAvailable (a percentage of expectedPods, rounded up),
  or expectedPods minus maxUnavailable (rounded up the same way), at least 0.
- currentHealthy: selected pods that are Ready, not being deleted, and not
  in disruptedPods (an eviction has already spent a disruption on them).
- disruptionsAllowed: currentHealthy - desiredHealthy, at least 0, and 0
  when expectedPods is 0.
- disruptedPods: evictions not yet seen as deletions. An entry is dropped
  when its pod is gone or being deleted, or after DELETION_TIMEOUT.

Differences from Kubernetes 1.31: the scale of a controller is read from
ReplicaSets (through their Deployment when one owns them) and
ReplicationControllers only. Pods owned by any other kind (StatefulSet,
Job) make the budget fail to sync when their scale is needed, where
Kubernetes would also try the owner's scale subresource.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pykube_core.disruption import (
    DISRUPTION_ALLOWED,
    INSUFFICIENT_PODS,
    SUFFICIENT_PODS,
    SYNC_FAILED,
    is_healthy,
    scaled_value,
)

Object = Mapping[str, Any]

DELETION_TIMEOUT = datetime.timedelta(minutes=2)
"""How long an eviction recorded in disruptedPods keeps its pod out of currentHealthy, as in Kubernetes."""

ScaleLookup = Callable[[str, Object], tuple[str, int] | None]
"""(namespace, controller reference) -> (uid, spec.replicas) of the workload that sets the pod count.

That is the Deployment of a ReplicaSet it owns, so two ReplicaSets of one
rollout count once. None means the workload is unknown.
"""


class SyncError(Exception):
    """The budget's status cannot be computed, such as a pod whose controller's scale is unknown."""


@dataclasses.dataclass(frozen=True)
class BudgetCounts:
    expected_pods: int
    desired_healthy: int
    current_healthy: int
    disruptions_allowed: int
    disrupted_pods: dict[str, str]
    next_expiry: datetime.datetime | None
    """When the oldest kept disruptedPods entry expires, so the budget can be synced again then."""


def parse_time(text: str) -> datetime.datetime | None:
    try:
        parsed = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return parsed.replace(tzinfo=datetime.timezone.utc)


def controller_reference(pod: Object) -> Object | None:
    for reference in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("controller"):
            return dict(reference)
    return None


def expected_scale(namespace: str, pods: Sequence[Object], scale_of: ScaleLookup) -> int:
    """Sum spec.replicas of the controllers of ``pods``; raise SyncError for an unknown controller.

    Pods without a controller are ignored, as Kubernetes ignores such unmanaged pods.
    """
    seen: set[str] = set()
    total = 0
    for pod in pods:
        reference = controller_reference(pod)
        if reference is None:
            continue
        found = scale_of(namespace, reference)
        if found is None:
            name = (pod.get("metadata") or {}).get("name")
            raise SyncError(f'found no controllers for pod "{name}"')
        uid, replicas = found
        if uid not in seen:
            seen.add(uid)
            total += replicas
    return total


def desired_counts(budget: Object, pods: Sequence[Object], scale_of: ScaleLookup) -> tuple[int, int]:
    """Return (expectedPods, desiredHealthy) of the budget; raise SyncError when they cannot be known."""
    spec = budget.get("spec") or {}
    namespace = (budget.get("metadata") or {}).get("namespace") or "default"
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    try:
        if max_unavailable is not None:
            expected = expected_scale(namespace, pods, scale_of)
            return expected, max(0, expected - scaled_value(max_unavailable, expected))
        if isinstance(min_available, int) and not isinstance(min_available, bool):
            return len(pods), min_available
        if isinstance(min_available, str):
            expected = expected_scale(namespace, pods, scale_of)
            return expected, scaled_value(min_available, expected)
    except ValueError as error:
        raise SyncError(str(error)) from None
    raise SyncError("the budget sets neither minAvailable nor maxUnavailable")


def kept_disruptions(
    budget: Object, pods: Sequence[Object], now: datetime.datetime
) -> tuple[dict[str, str], datetime.datetime | None]:
    """Return the disruptedPods entries still pending and the time the first of them expires."""
    recorded = (budget.get("status") or {}).get("disruptedPods") or {}
    live = {
        (pod.get("metadata") or {}).get("name"): pod
        for pod in pods
        if not (pod.get("metadata") or {}).get("deletionTimestamp")
    }
    kept: dict[str, str] = {}
    next_expiry: datetime.datetime | None = None
    for name, stamp in recorded.items():
        started = parse_time(str(stamp))
        if name not in live or started is None:
            continue
        expiry = started + DELETION_TIMEOUT
        if expiry <= now:
            continue
        kept[name] = str(stamp)
        next_expiry = expiry if next_expiry is None else min(next_expiry, expiry)
    return kept, next_expiry


def count_budget(budget: Object, pods: Sequence[Object], scale_of: ScaleLookup, now: datetime.datetime) -> BudgetCounts:
    """Compute the budget's counters from the pods it selects; raise SyncError when it cannot."""
    expected, desired = desired_counts(budget, pods, scale_of)
    disrupted, next_expiry = kept_disruptions(budget, pods, now)
    current = sum(1 for pod in pods if is_healthy(pod) and (pod.get("metadata") or {}).get("name") not in disrupted)
    allowed = current - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    return BudgetCounts(expected, desired, current, allowed, disrupted, next_expiry)


def condition(status: str, reason: str, message: str, generation: int, previous: Object | None, now: str) -> dict[str, Any]:
    """Build the DisruptionAllowed condition, keeping lastTransitionTime while the status stays the same."""
    transition = now
    if previous is not None and previous.get("status") == status and previous.get("lastTransitionTime"):
        transition = str(previous["lastTransitionTime"])
    return {
        "type": DISRUPTION_ALLOWED,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": transition,
    }


def previous_condition(budget: Object) -> Object | None:
    for item in (budget.get("status") or {}).get("conditions") or []:
        if item.get("type") == DISRUPTION_ALLOWED:
            return dict(item)
    return None


def budget_status(counts: BudgetCounts, budget: Object, now: str) -> dict[str, Any]:
    generation = int((budget.get("metadata") or {}).get("generation") or 0)
    if counts.disruptions_allowed > 0:
        allowed = condition("True", SUFFICIENT_PODS, "", generation, previous_condition(budget), now)
    else:
        allowed = condition("False", INSUFFICIENT_PODS, "", generation, previous_condition(budget), now)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "disruptionsAllowed": counts.disruptions_allowed,
        "currentHealthy": counts.current_healthy,
        "desiredHealthy": counts.desired_healthy,
        "expectedPods": counts.expected_pods,
        "conditions": [allowed],
    }
    if counts.disrupted_pods:
        status["disruptedPods"] = dict(counts.disrupted_pods)
    return status


def failed_status(error: SyncError, budget: Object, now: str) -> dict[str, Any]:
    """Return the status of a budget that failed to sync: no disruptions allowed, the error in the condition."""
    generation = int((budget.get("metadata") or {}).get("generation") or 0)
    status = dict(budget.get("status") or {})
    status["observedGeneration"] = generation
    status["disruptionsAllowed"] = 0
    status["conditions"] = [condition("False", SYNC_FAILED, str(error), generation, previous_condition(budget), now)]
    return status
