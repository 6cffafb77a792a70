"""The eviction subresource's disruption budget check, which allows an eviction or rejects it with 429 TooManyRequests.

An eviction deletes a pod only when the PodDisruptionBudget that covers it
allows one more disruption. The check runs before the delete:

- A pod that is being deleted, has finished, or is still Pending is
  evicted without a budget check, because removing it disrupts nothing.
- A pod covered by no budget is evicted. A pod covered by more than one is
  a 500, as in Kubernetes, since the budgets could disagree.
- A budget whose status is older than its spec (observedGeneration below
  generation) rejects evictions with 429 until the disruption controller has caught up.
- A pod that is not Ready is evicted without using the budget when
  spec.unhealthyPodEvictionPolicy is AlwaysAllow, or when the budget is
  already met (IfHealthyBudget, the default).
- Otherwise status.disruptionsAllowed must be above 0. The check lowers it
  by one and records the pod in status.disruptedPods with compare-and-swap,
  so two concurrent evictions cannot both spend the last disruption. The
  disruption controller later recounts both fields.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from pykube_core.disruption import (
    DISRUPTION_ALLOWED,
    EVICTION_REJECTED,
    INSUFFICIENT_PODS,
    budget_selects,
    is_pod_ready,
)

from pykube_control.apiserver import resources, storage
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.lifecycle import rfc3339
from pykube_control.apiserver.status import APIError, forbidden
from pykube_control.store.errors import ConflictError

Object = dict[str, Any]

_SERVED = resources.by_plural("policy", "v1", "poddisruptionbudgets")
assert _SERVED is not None
BUDGETS: resources.ResourceType = _SERVED

MAX_DISRUPTED_PODS = 2000
"""Evictions a budget may hold unconfirmed by the disruption controller, as in Kubernetes."""
BUDGET_UPDATE_RETRIES = 8
"""Compare-and-swap attempts on a budget's status before the eviction gives up with 429."""
PHASES_WITHOUT_BUDGET = ("Succeeded", "Failed", "Pending")


def too_many_requests(cause: str) -> APIError:
    return APIError(
        429,
        "TooManyRequests",
        EVICTION_REJECTED,
        details={"causes": [{"reason": "DisruptionBudget", "message": cause}]},
    )


async def spend_disruption(ctx: APIContext, pod: Object, dry_run: bool) -> None:
    """Check the pod's budget and spend one disruption of it; raise APIError when the eviction must wait."""
    if _needs_no_budget(pod):
        return
    namespace = pod["metadata"].get("namespace") or "default"
    for _ in range(BUDGET_UPDATE_RETRIES):
        listed = await ctx.store.list(storage.list_prefix(BUDGETS, namespace))
        matching = [(storage.decode_kv(kv), kv.mod_revision) for kv in listed.items]
        matching = [(budget, revision) for budget, revision in matching if budget_selects(budget, pod)]
        if not matching:
            return
        if len(matching) > 1:
            raise APIError(
                500,
                "InternalError",
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            )
        budget, revision = matching[0]
        updated = _spent(budget, pod)
        if updated is None or dry_run:
            return
        try:
            await ctx.store.update(
                storage.object_key(BUDGETS, namespace, budget["metadata"]["name"]),
                storage.encode(updated),
                expected_revision=revision,
            )
        except ConflictError:
            continue
        return
    raise too_many_requests("The disruption budget is being updated by many evictions at once; retry.")


def _needs_no_budget(pod: Object) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return True
    return (pod.get("status") or {}).get("phase") in PHASES_WITHOUT_BUDGET


def _spent(budget: Object, pod: Object) -> Object | None:
    """Return the budget with one disruption spent on the pod, or None when the pod needs none.

    Raises the APIError that rejects the eviction.
    """
    name = budget["metadata"]["name"]
    status = budget.get("status") or {}
    generation = budget["metadata"].get("generation") or 0
    if (status.get("observedGeneration") or 0) < generation:
        raise too_many_requests(f"The disruption budget {name} is still being processed by the server.")

    current = int(status.get("currentHealthy") or 0)
    desired = int(status.get("desiredHealthy") or 0)
    if not is_pod_ready(pod):
        if (budget.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
            return None
        if current >= desired and desired > 0:
            return None

    disrupted = status.get("disruptedPods") or {}
    if len(disrupted) > MAX_DISRUPTED_PODS:
        raise forbidden("DisruptedPods map too big - too many evictions not confirmed by PDB controller")
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed <= 0:
        raise too_many_requests(f"The disruption budget {name} needs {desired} healthy pods and has {current} currently")

    updated = copy.deepcopy(budget)
    new_status = updated.setdefault("status", {})
    new_status["disruptionsAllowed"] = allowed - 1
    now = rfc3339(datetime.datetime.now(datetime.timezone.utc))
    new_status.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = now
    if allowed - 1 == 0:
        _set_insufficient(new_status, now)
    return updated


def _set_insufficient(status: Object, now: str) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != DISRUPTION_ALLOWED]
    previous = [c for c in status.get("conditions") or [] if c.get("type") == DISRUPTION_ALLOWED]
    transition = now
    if previous and previous[0].get("status") == "False":
        transition = previous[0].get("lastTransitionTime") or now
    conditions.append(
        {
            "type": DISRUPTION_ALLOWED,
            "status": "False",
            "reason": INSUFFICIENT_PODS,
            "message": "",
            "observedGeneration": status.get("observedGeneration"),
            "lastTransitionTime": transition,
        }
    )
    status["conditions"] = conditions
