"""PodDisruptionBudget (policy/v1): the budget fields, int-or-percent values and status counters.

Differences from Kubernetes 1.31: a budget must set exactly one of
spec.minAvailable and spec.maxUnavailable. Kubernetes also accepts a budget
with neither, which then protects nothing, so pykube rejects it as a likely
mistake.
"""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError

from pykube_control.apiserver.validation.fielderrors import NEGATIVE_MESSAGE, invalid, not_supported, required
from pykube_control.apiserver.validation.formats import percent_messages
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.scheduling import label_selector_errors
from pykube_control.apiserver.validation.wire import as_dict, as_int

UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")
STATUS_COUNTERS = ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods")


def int_or_percent_errors(path: str, value: object) -> list[FieldError]:
    """Check a non-negative integer or a percentage string of at most 100%."""
    if isinstance(value, str):
        messages = percent_messages(value)
        if messages:
            return [invalid(path, value, message) for message in messages]
        if int(value[:-1]) > 100:
            return [invalid(path, value, "must not be greater than 100%")]
        return []
    number = as_int(value)
    if number is None:
        return [invalid(path, value, "must be an integer or percentage (e.g '5%')")]
    if number < 0:
        return [invalid(path, value, NEGATIVE_MESSAGE)]
    return []


def validate_pod_disruption_budget(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    errors: list[FieldError] = []

    if min_available is not None and max_unavailable is not None:
        errors.append(invalid("spec.minAvailable", min_available, "minAvailable and maxUnavailable cannot be both set"))
    elif min_available is None and max_unavailable is None:
        errors.append(required("spec.minAvailable", "one of minAvailable or maxUnavailable must be set"))
    if min_available is not None:
        errors.extend(int_or_percent_errors("spec.minAvailable", min_available))
    if max_unavailable is not None:
        errors.extend(int_or_percent_errors("spec.maxUnavailable", max_unavailable))

    if spec.get("selector") is not None:
        errors.extend(label_selector_errors("spec.selector", spec["selector"]))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        errors.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, UNHEALTHY_POD_EVICTION_POLICIES))
    return errors


def validate_pod_disruption_budget_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    status = as_dict(new.get("status"))
    errors: list[FieldError] = []
    for name in STATUS_COUNTERS:
        value = status.get(name)
        if value is None:
            continue
        number = as_int(value)
        if number is None or number < 0:
            errors.append(invalid(f"status.{name}", value, NEGATIVE_MESSAGE))
    return errors


POD_DISRUPTION_BUDGET = KindRules(
    validate=validate_pod_disruption_budget,
    validate_status=validate_pod_disruption_budget_status,
)
