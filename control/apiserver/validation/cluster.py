"""Namespace, Node and Lease: defaults and validation of the cluster-level kinds."""

from __future__ import annotations

import ipaddress
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.labels import validate_label_key, validate_label_value

from pykube_control.apiserver.validation.controllers import non_negative_errors
from pykube_control.apiserver.validation.fielderrors import (
    duplicate,
    invalid,
    invalid_each,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.quantities import resource_list
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str, child_dict, dig, set_default

KUBERNETES_FINALIZER = "kubernetes"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


# --- Namespace ---


def default_namespace(obj: dict[str, Any]) -> None:
    """Add the kubernetes finalizer, the Active phase and the metadata.name label."""
    spec = child_dict(obj, "spec")
    if spec is not None:
        finalizers = spec.get("finalizers")
        if finalizers is None:
            spec["finalizers"] = [KUBERNETES_FINALIZER]
        elif isinstance(finalizers, list) and KUBERNETES_FINALIZER not in finalizers:
            finalizers.append(KUBERNETES_FINALIZER)
    status = child_dict(obj, "status")
    if status is not None:
        set_default(status, "phase", "Active")
    meta = child_dict(obj, "metadata")
    name = as_str(dig(obj, "metadata", "name"))
    if meta is not None and name:
        labels = child_dict(meta, "labels")
        if labels is not None:
            labels[NAMESPACE_NAME_LABEL] = name


def validate_namespace(obj: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, raw in enumerate(as_list(dig(obj, "spec", "finalizers"))):
        name = as_str(raw)
        path = f"spec.finalizers[{index}]"
        errors.extend(invalid_each(path, name, validate_label_key(name)))
        if "/" not in name and name != KUBERNETES_FINALIZER:
            errors.append(invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified"))
    return errors


def validate_namespace_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    # "status.Phase" with a capital P is the path Kubernetes reports.
    phase = dig(new, "status", "phase")
    if not dig(new, "metadata", "deletionTimestamp"):
        if phase != "Active":
            return [invalid("status.Phase", phase, "may only be 'Active' if `deletionTimestamp` is empty")]
    elif phase != "Terminating":
        return [invalid("status.Phase", phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")]
    return []


# --- Node ---


def default_node(obj: dict[str, Any]) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and status.get("capacity") is not None and status.get("allocatable") is None:
        status["allocatable"] = status["capacity"]


def validate_node(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors = _taints_errors(as_list(spec.get("taints")))
    cidrs = as_list(spec.get("podCIDRs"))
    for index, cidr in enumerate(cidrs):
        errors.extend(_cidr_errors(f"spec.podCIDRs[{index}]", cidr))
    if spec.get("podCIDR") and cidrs and spec["podCIDR"] != cidrs[0]:
        errors.append(invalid("spec.podCIDRs", cidrs, "first value must match `podCIDR`"))
    errors.extend(_node_status_errors(as_dict(obj.get("status"))))
    return errors


def _cidr_errors(path: str, value: object) -> list[FieldError]:
    try:
        ipaddress.ip_network(as_str(value), strict=False)
    except ValueError:
        return [invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    return []


def _taints_errors(taints: list[Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for index, raw in enumerate(taints):
        taint = as_dict(raw)
        path = f"spec.taints[{index}]"
        key = as_str(taint.get("key"))
        errors.extend(invalid_each(f"{path}.key", key, validate_label_key(key)))
        value = as_str(taint.get("value"))
        errors.extend(invalid_each(f"{path}.value", value, validate_label_value(value)))
        effect = as_str(taint.get("effect"))
        if not effect:
            errors.append(required(f"{path}.effect"))
        elif effect not in TAINT_EFFECTS:
            errors.append(not_supported(f"{path}.effect", effect, TAINT_EFFECTS))
        if (key, effect) in seen:
            errors.append(duplicate(path, "taints must be unique by key and effect pair"))
        seen.add((key, effect))
    return errors


def _node_status_errors(status: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in ("capacity", "allocatable"):
        errors.extend(resource_list(f"status.{key}", status.get(key), name_check="any")[1])
    return errors


def validate_node_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Allow podCIDRs and providerID to be set once, from empty to a value."""
    errors: list[FieldError] = []
    old_cidrs = dig(old, "spec", "podCIDRs")
    if old_cidrs and dig(new, "spec", "podCIDRs") != old_cidrs:
        errors.append(invalid("spec.podCIDRs", dig(new, "spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
    old_provider = dig(old, "spec", "providerID")
    if old_provider and dig(new, "spec", "providerID") != old_provider:
        errors.append(invalid("spec.providerID", dig(new, "spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
    return errors


def validate_node_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    return _node_status_errors(as_dict(new.get("status")))


# --- Lease ---


def validate_lease(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors: list[FieldError] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None:
        seconds = as_int(duration)
        if seconds is None or seconds <= 0:
            errors.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    errors.extend(non_negative_errors("spec.leaseTransitions", spec.get("leaseTransitions")))
    return errors


NAMESPACE = KindRules(defaults=default_namespace, validate=validate_namespace, validate_status=validate_namespace_status)
NODE = KindRules(
    defaults=default_node,
    validate=validate_node,
    validate_update=validate_node_update,
    validate_status=validate_node_status,
)
LEASE = KindRules(validate=validate_lease)
