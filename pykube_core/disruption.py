"""PodDisruptionBudget arithmetic shared by the eviction API, the disruption controller and the scheduler.

Three components read budgets and must agree on which pods a budget
covers and which of them count as healthy, so those rules live here once,
as pure functions over the Kubernetes JSON objects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.labels import selector_from_label_selector

Object = Mapping[str, Any]

DISRUPTION_ALLOWED = "DisruptionAllowed"
"""Type of the budget condition that says whether an eviction may happen now."""
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"

EVICTION_REJECTED = "Cannot evict pod as it would violate the pod's disruption budget."
"""Message of the 429 response to an eviction that a budget forbids, in Kubernetes' wording."""


def budget_selects(budget: Object, pod: Object) -> bool:
    """Return True when the budget's namespace and spec.selector cover the pod.

    As in policy/v1, an empty selector covers every pod of the namespace and
    a missing selector covers none. An invalid selector covers none, because
    the API server rejects such budgets and only a stored object written
    around validation can carry one.
    """
    budget_metadata = budget.get("metadata") or {}
    pod_metadata = pod.get("metadata") or {}
    if (budget_metadata.get("namespace") or "default") != (pod_metadata.get("namespace") or "default"):
        return False
    try:
        selector = selector_from_label_selector((budget.get("spec") or {}).get("selector"))
    except FieldError:
        return False
    return selector.matches(pod_metadata.get("labels") or {})


def is_pod_ready(pod: Object) -> bool:
    """Return True when the pod's Ready condition is True."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def is_healthy(pod: Object) -> bool:
    """Return True for a pod a budget counts as healthy: Ready and not being deleted."""
    return is_pod_ready(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp")


def scaled_value(value: int | str, total: int) -> int:
    """Resolve an int-or-percent value against ``total``, rounding a percentage up.

    "25%" of 10 pods is 3, as Kubernetes' GetScaledValueFromIntOrPercent
    with roundUp=true computes it. Raises ValueError for a malformed value.
    """
    if isinstance(value, bool):
        raise ValueError(f"int-or-percent value {value!r} is a boolean; use an integer or a string such as '25%'")
    if isinstance(value, int):
        return value
    if not value.endswith("%") or not value[:-1].isdigit():
        raise ValueError(f"int-or-percent value {value!r} is invalid; use an integer or a string such as '25%'")
    return math.ceil(int(value[:-1]) * total / 100)
