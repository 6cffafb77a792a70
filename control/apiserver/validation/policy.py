"""ResourceQuota, LimitRange and PriorityClass: resource names, quantity ordering, priorities."""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError
from pykube_core.quantity import Quantity

from pykube_control.apiserver.validation.fielderrors import (
    check_immutable,
    duplicate,
    forbidden,
    invalid,
    invalid_each,
    not_supported,
)
from pykube_control.apiserver.validation.formats import qualified_name_messages
from pykube_control.apiserver.validation.quantities import resource_list
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str, child_dict, dig, set_default

STANDARD_QUOTA_RESOURCES = frozenset(
    {
        "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
        "persistentvolumeclaims", "services.nodeports", "services.loadbalancers", "cpu", "memory",
        "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage",
        "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    }
)  # fmt: skip
QUOTA_SCOPES = ("BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass", "Terminating")
LIMIT_TYPES = ("Container", "PersistentVolumeClaim", "Pod")
HIGHEST_USER_PRIORITY = 1_000_000_000
"""Largest value of a user-defined PriorityClass; larger values are reserved for system classes."""
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}
SYSTEM_PRIORITY_PREFIX = "system-"
PREEMPTION_POLICIES = ("Never", "PreemptLowerPriority")


# --- ResourceQuota ---


def _quota_name_errors(path: str, names: list[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    for name in names:
        if "/" in name or name in STANDARD_QUOTA_RESOURCES:
            continue
        if name.startswith(("hugepages-", "requests.hugepages-")):
            continue
        errors.append(invalid(f"{path}[{name}]", name, "must be a standard resource for quota"))
    return errors


def _quota_list_errors(path: str, value: object) -> list[FieldError]:
    _, errors = resource_list(path, value, name_check="any")
    errors.extend(_quota_name_errors(path, sorted(as_dict(value))))
    return errors


def validate_resource_quota(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors = _quota_list_errors("spec.hard", spec.get("hard"))
    seen: set[str] = set()
    for index, scope in enumerate(as_list(spec.get("scopes"))):
        path = f"spec.scopes[{index}]"
        if scope not in QUOTA_SCOPES:
            errors.append(not_supported(path, scope, QUOTA_SCOPES))
        elif scope in seen:
            errors.append(duplicate(path, scope))
        seen.add(as_str(scope))
    if {"BestEffort", "NotBestEffort"} <= seen or {"Terminating", "NotTerminating"} <= seen:
        errors.append(invalid("spec.scopes", as_list(spec.get("scopes")), "conflicting scopes"))
    return errors


def validate_resource_quota_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    status = as_dict(new.get("status"))
    return _quota_list_errors("status.hard", status.get("hard")) + _quota_list_errors("status.used", status.get("used"))


# --- LimitRange ---


def default_limit_range(obj: dict[str, Any]) -> None:
    """Default a Container item's limit to max, and its request to the limit, else to min."""
    spec = as_dict(obj.get("spec"))
    for item in as_list(spec.get("limits")):
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        for target, source in (("default", "max"), ("defaultRequest", "default"), ("defaultRequest", "min")):
            values = as_dict(item.get(source))
            if not values:
                continue
            defaults = child_dict(item, target)
            if defaults is not None:
                for name, quantity in values.items():
                    defaults.setdefault(name, quantity)


def validate_limit_range(obj: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, raw in enumerate(as_list(as_dict(obj.get("spec")).get("limits"))):
        item = as_dict(raw)
        path = f"spec.limits[{index}]"
        kind = as_str(item.get("type"))
        errors.extend(_limit_type_errors(f"{path}.type", kind))
        if kind in seen:
            errors.append(duplicate(f"{path}.type", kind))
        seen.add(kind)
        errors.extend(_limit_item_errors(path, item, kind))
    return errors


def _limit_type_errors(path: str, kind: str) -> list[FieldError]:
    errors = invalid_each(path, kind, qualified_name_messages(kind))
    if not errors and "/" not in kind and kind not in LIMIT_TYPES:
        errors.append(invalid(path, kind, "must be a standard limit type or fully qualified"))
    return errors


def _limit_item_errors(path: str, item: dict[str, Any], kind: str) -> list[FieldError]:
    parsed: dict[str, dict[str, Quantity]] = {}
    errors: list[FieldError] = []
    for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
        parsed[key], found = resource_list(f"{path}.{key}", item.get(key), name_check="any")
        errors.extend(found)
    if kind == "Pod":
        for key in ("default", "defaultRequest"):
            if as_dict(item.get(key)):
                errors.append(forbidden(f"{path}.{key}", "may not be specified when `type` is 'Pod'"))
    names = sorted(set().union(*(set(values) for values in parsed.values())))
    for name in names:
        errors.extend(_limit_order_errors(path, name, parsed))
    return errors


def _limit_order_errors(path: str, name: str, parsed: dict[str, dict[str, Quantity]]) -> list[FieldError]:
    """Check min <= defaultRequest <= default <= max and maxLimitRequestRatio >= 1 for one resource."""
    low = parsed["min"].get(name)
    high = parsed["max"].get(name)
    limit = parsed["default"].get(name)
    request = parsed["defaultRequest"].get(name)
    ratio = parsed["maxLimitRequestRatio"].get(name)
    errors: list[FieldError] = []

    if low is not None and high is not None and low > high:
        errors.append(invalid(f"{path}.min[{name}]", str(low), f"min value {low} is greater than max value {high}"))
    if request is not None and low is not None and low > request:
        detail = f"min value {low} is greater than default request value {request}"
        errors.append(invalid(f"{path}.defaultRequest[{name}]", str(request), detail))
    if request is not None and high is not None and request > high:
        detail = f"default request value {request} is greater than max value {high}"
        errors.append(invalid(f"{path}.defaultRequest[{name}]", str(request), detail))
    if request is not None and limit is not None and request > limit:
        detail = f"default request value {request} is greater than default limit value {limit}"
        errors.append(invalid(f"{path}.defaultRequest[{name}]", str(request), detail))
    if limit is not None and low is not None and low > limit:
        errors.append(invalid(f"{path}.default[{name}]", str(low), f"min value {low} is greater than default value {limit}"))
    if limit is not None and high is not None and limit > high:
        errors.append(invalid(f"{path}.default[{name}]", str(high), f"default value {limit} is greater than max value {high}"))

    if ratio is not None and ratio < Quantity.from_units(1):
        errors.append(invalid(f"{path}.maxLimitRequestRatio[{name}]", str(ratio), f"ratio {ratio} is less than 1"))
    if ratio is not None and low is not None and high is not None and low.value() > 0:
        max_ratio = high.value() / low.value()
        if max_ratio > ratio.value():
            detail = f"ratio {ratio} is greater than max/min = {max_ratio:f}"
            errors.append(invalid(f"{path}.maxLimitRequestRatio[{name}]", str(ratio), detail))
    return errors


# --- PriorityClass ---


def default_priority_class(obj: dict[str, Any]) -> None:
    set_default(obj, "preemptionPolicy", "PreemptLowerPriority")


def validate_priority_class(obj: dict[str, Any]) -> list[FieldError]:
    name = as_str(dig(obj, "metadata", "name"))
    value = as_int(obj.get("value"))
    errors: list[FieldError] = []
    if value is None:
        errors.append(invalid("value", obj.get("value"), "must be an integer"))
        value = 0
    if name.startswith(SYSTEM_PRIORITY_PREFIX):
        if SYSTEM_PRIORITY_CLASSES.get(name) != value:
            detail = (
                f"priority class names with '{SYSTEM_PRIORITY_PREFIX}' prefix are reserved for system use only. "
                f"error: {name} is not a known system priority class"
            )
            errors.append(forbidden("metadata.name", detail))
    elif value > HIGHEST_USER_PRIORITY:
        errors.append(forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"))
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in PREEMPTION_POLICIES:
        errors.append(not_supported("preemptionPolicy", policy, PREEMPTION_POLICIES))
    return errors


def validate_priority_class_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    if new.get("value") != old.get("value"):
        errors.append(forbidden("value", "may not be changed in an update."))
    errors.extend(check_immutable("preemptionPolicy", new.get("preemptionPolicy"), old.get("preemptionPolicy")))
    return errors


RESOURCE_QUOTA = KindRules(validate=validate_resource_quota, validate_status=validate_resource_quota_status)
LIMIT_RANGE = KindRules(defaults=default_limit_range, validate=validate_limit_range)
PRIORITY_CLASS = KindRules(
    defaults=default_priority_class,
    validate=validate_priority_class,
    validate_update=validate_priority_class_update,
)
