"""Deployment, ReplicaSet, ReplicationController and DaemonSet: defaults and validation.

Defaults and checks follow k8s.io/kubernetes/pkg/apis/apps (v1 defaults and
validation, 1.32): apps/v1 selectors are required and immutable, rolling
update budgets are integers or percentages, and templates must restart
their pods always.
"""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError

from pykube_control.apiserver.validation.controllers import (
    int_or_percent_errors,
    int_or_percent_value,
    is_empty_selector,
    long_running_template_errors,
    non_negative_errors,
    parse_selector,
    selector_match_errors,
    template_labels,
)
from pykube_control.apiserver.validation.fielderrors import (
    check_immutable,
    forbidden,
    invalid,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.meta import validate_labels
from pykube_control.apiserver.validation.pod_defaults import default_pod_spec
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.wire import as_dict, as_int, child_dict, dig, set_default

DEFAULT_REVISION_HISTORY_LIMIT = 10
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
DEFAULT_ROLLING_BUDGET = "25%"
DEPLOYMENT_STRATEGIES = ("Recreate", "RollingUpdate")
DAEMON_SET_STRATEGIES = ("OnDelete", "RollingUpdate")
REPLICA_COUNTS = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas")


def _default_template(spec: dict[str, Any]) -> None:
    template = child_dict(spec, "template")
    if template is None:
        return
    pod_spec = child_dict(template, "spec")
    if pod_spec is not None:
        default_pod_spec(pod_spec)


# --- defaults ---


def default_deployment(obj: dict[str, Any]) -> None:
    spec = child_dict(obj, "spec")
    if spec is None:
        return
    set_default(spec, "replicas", 1)
    strategy = child_dict(spec, "strategy")
    if strategy is not None:
        set_default(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = child_dict(strategy, "rollingUpdate")
            if rolling is not None:
                set_default(rolling, "maxUnavailable", DEFAULT_ROLLING_BUDGET)
                set_default(rolling, "maxSurge", DEFAULT_ROLLING_BUDGET)
    set_default(spec, "revisionHistoryLimit", DEFAULT_REVISION_HISTORY_LIMIT)
    set_default(spec, "progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_SECONDS)
    _default_template(spec)


def default_replica_set(obj: dict[str, Any]) -> None:
    spec = child_dict(obj, "spec")
    if spec is None:
        return
    set_default(spec, "replicas", 1)
    _default_template(spec)


def default_replication_controller(obj: dict[str, Any]) -> None:
    """Default replicas, and the selector and object labels from the template labels."""
    spec = child_dict(obj, "spec")
    if spec is None:
        return
    labels = template_labels(obj)
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = child_dict(obj, "metadata")
        if meta is not None and not meta.get("labels"):
            meta["labels"] = dict(labels)
    set_default(spec, "replicas", 1)
    _default_template(spec)


def default_daemon_set(obj: dict[str, Any]) -> None:
    spec = child_dict(obj, "spec")
    if spec is None:
        return
    strategy = child_dict(spec, "updateStrategy")
    if strategy is not None:
        set_default(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = child_dict(strategy, "rollingUpdate")
            if rolling is not None:
                set_default(rolling, "maxUnavailable", 1)
                set_default(rolling, "maxSurge", 0)
    set_default(spec, "revisionHistoryLimit", DEFAULT_REVISION_HISTORY_LIMIT)
    _default_template(spec)


# --- validation ---


def _apps_selector_errors(obj: dict[str, Any], kind: str) -> list[FieldError]:
    """Check an apps/v1 selector: present, non-empty, valid, and selecting the template."""
    raw = dig(obj, "spec", "selector")
    if raw is None:
        return [required("spec.selector")]
    selector, errors = parse_selector("spec.selector", raw)
    if is_empty_selector(raw):
        errors.append(invalid("spec.selector", raw, f"empty selector is invalid for {kind.lower()}"))
    elif selector is not None:
        errors.extend(selector_match_errors(obj, selector))
    return errors


def _replicated_errors(obj: dict[str, Any], kind: str) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors = non_negative_errors("spec.replicas", spec.get("replicas"))
    errors.extend(non_negative_errors("spec.minReadySeconds", spec.get("minReadySeconds")))
    errors.extend(long_running_template_errors(obj, kind))
    return errors


def validate_deployment(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    # Kubernetes says "deployment" in the empty-selector message of ReplicaSets too.
    errors = _apps_selector_errors(obj, "Deployment")
    errors.extend(_replicated_errors(obj, "ReplicaSet"))
    errors.extend(_deployment_strategy_errors(as_dict(spec.get("strategy"))))
    errors.extend(non_negative_errors("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        errors.extend(non_negative_errors("spec.progressDeadlineSeconds", deadline))
        seconds = as_int(deadline)
        if seconds is not None and seconds <= (as_int(spec.get("minReadySeconds")) or 0):
            errors.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return errors


def _deployment_strategy_errors(strategy: dict[str, Any]) -> list[FieldError]:
    path = "spec.strategy"
    kind = strategy.get("type")
    if kind == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            return [forbidden(f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind != "RollingUpdate":
        return [not_supported(f"{path}.type", kind, DEPLOYMENT_STRATEGIES)]
    rolling = strategy.get("rollingUpdate")
    if rolling is None:
        return [required(f"{path}.rollingUpdate", "this should be defaulted and never be nil")]
    budget = as_dict(rolling)
    unavailable = budget.get("maxUnavailable")
    surge = budget.get("maxSurge")
    errors = int_or_percent_errors(f"{path}.rollingUpdate.maxUnavailable", unavailable)
    errors.extend(int_or_percent_errors(f"{path}.rollingUpdate.maxSurge", surge))
    if int_or_percent_value(unavailable) == 0 and int_or_percent_value(surge) == 0:
        errors.append(invalid(f"{path}.rollingUpdate.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"))
    return errors


def validate_replica_set(obj: dict[str, Any]) -> list[FieldError]:
    return _apps_selector_errors(obj, "Deployment") + _replicated_errors(obj, "ReplicaSet")


def validate_replication_controller(obj: dict[str, Any]) -> list[FieldError]:
    """Check an RC: its selector is a plain label map that must select the template."""
    selector = dig(obj, "spec", "selector")
    errors: list[FieldError] = []
    if not as_dict(selector):
        errors.append(required("spec.selector"))
    else:
        errors.extend(validate_labels(selector, "spec.selector"))
        labels = template_labels(obj)
        if any(labels.get(key) != value for key, value in as_dict(selector).items()):
            raw = dig(obj, "spec", "template", "metadata", "labels")
            errors.append(invalid("spec.template.metadata.labels", raw, "`selector` does not match template `labels`"))
    if dig(obj, "spec", "template") is None:
        errors.append(required("spec.template"))
    errors.extend(_replicated_errors(obj, "ReplicationController"))
    return errors


def validate_daemon_set(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors = _apps_selector_errors(obj, "DaemonSet")
    errors.extend(long_running_template_errors(obj, "DaemonSet"))
    errors.extend(non_negative_errors("spec.minReadySeconds", spec.get("minReadySeconds")))
    errors.extend(non_negative_errors("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")))
    errors.extend(_daemon_set_strategy_errors(as_dict(spec.get("updateStrategy"))))
    return errors


def _daemon_set_strategy_errors(strategy: dict[str, Any]) -> list[FieldError]:
    path = "spec.updateStrategy"
    kind = strategy.get("type")
    if kind == "OnDelete":
        return []
    if kind != "RollingUpdate":
        return [not_supported(f"{path}.type", kind, DAEMON_SET_STRATEGIES)]
    if strategy.get("rollingUpdate") is None:
        return [required(f"{path}.rollingUpdate")]
    budget = as_dict(strategy["rollingUpdate"])
    unavailable = budget.get("maxUnavailable")
    surge = budget.get("maxSurge")
    errors = int_or_percent_errors(f"{path}.rollingUpdate.maxUnavailable", unavailable)
    errors.extend(int_or_percent_errors(f"{path}.rollingUpdate.maxSurge", surge))
    has_unavailable = int_or_percent_value(unavailable) != 0
    has_surge = int_or_percent_value(surge) != 0
    if has_unavailable and has_surge:
        errors.append(invalid(f"{path}.rollingUpdate.maxSurge", surge, "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errors.append(required(f"{path}.rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return errors


def validate_selector_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Reject a changed apps/v1 selector: the controller would orphan its pods."""
    return check_immutable("spec.selector", dig(new, "spec", "selector"), dig(old, "spec", "selector"))


def validate_replicas_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Check the replica counters of a workload status: non-negative and consistent."""
    status = as_dict(new.get("status"))
    errors: list[FieldError] = []
    for key in (*REPLICA_COUNTS, "fullyLabeledReplicas", "observedGeneration", "collisionCount"):
        errors.extend(non_negative_errors(f"status.{key}", status.get(key)))
    replicas = as_int(status.get("replicas")) or 0
    ready = as_int(status.get("readyReplicas")) or 0
    available = as_int(status.get("availableReplicas")) or 0
    if ready > replicas:
        errors.append(invalid("status.readyReplicas", ready, "cannot be greater than status.replicas"))
    if available > replicas:
        errors.append(invalid("status.availableReplicas", available, "cannot be greater than status.replicas"))
    if available > ready and status.get("readyReplicas") is not None:
        errors.append(invalid("status.availableReplicas", available, "cannot be greater than readyReplicas"))
    return errors


def validate_daemon_set_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    status = as_dict(new.get("status"))
    errors: list[FieldError] = []
    for key in (
        "currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady",
        "updatedNumberScheduled", "numberAvailable", "numberUnavailable", "observedGeneration", "collisionCount",
    ):  # fmt: skip
        errors.extend(non_negative_errors(f"status.{key}", status.get(key)))
    return errors


DEPLOYMENT = KindRules(
    defaults=default_deployment,
    validate=validate_deployment,
    validate_update=validate_selector_update,
    validate_status=validate_replicas_status,
)
REPLICA_SET = KindRules(
    defaults=default_replica_set,
    validate=validate_replica_set,
    validate_update=validate_selector_update,
    validate_status=validate_replicas_status,
)
REPLICATION_CONTROLLER = KindRules(
    defaults=default_replication_controller,
    validate=validate_replication_controller,
    validate_status=validate_replicas_status,
)
DAEMON_SET = KindRules(
    defaults=default_daemon_set,
    validate=validate_daemon_set,
    validate_update=validate_selector_update,
    validate_status=validate_daemon_set_status,
)
