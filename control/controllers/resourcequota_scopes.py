"""ResourceQuota scopes: which objects a quota with ``spec.scopes`` or ``spec.scopeSelector`` counts.

A scoped quota counts only pods, and only those that match every scope,
as in Kubernetes' pod quota evaluator (1.32):

- Terminating: ``spec.activeDeadlineSeconds`` is set and not negative.
  NotTerminating is the opposite.
- BestEffort: no container, init containers included, has a non-zero cpu
  or memory request or limit. NotBestEffort is the opposite.
- PriorityClass: ``spec.priorityClassName`` matches the requirement's
  operator (In, NotIn, Exists, DoesNotExist), as a label would.
- CrossNamespacePodAffinity: an affinity or anti-affinity term names
  namespaces or has a namespace selector.

An entry of ``spec.scopes`` is a requirement with operator Exists. Only
PriorityClass reads the operator, as in Kubernetes, and an unknown scope
matches nothing.
"""

from __future__ import annotations

from typing import Any

from pykube_control.controllers.resourcequota_usage import container_resources, pod_containers

Object = dict[str, Any]
Requirement = dict[str, Any]
"""One scope selector requirement: scopeName, operator and values."""

QOS_RESOURCES = ("cpu", "memory")


def quota_scopes(quota: Object) -> list[Requirement]:
    spec = quota.get("spec") or {}
    scopes: list[Requirement] = [{"scopeName": name, "operator": "Exists"} for name in spec.get("scopes") or []]
    for requirement in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        if isinstance(requirement, dict):
            scopes.append(requirement)
    return scopes


def quota_counts(quota: Object, qualified: str, obj: Object) -> bool:
    """Tell whether ``quota`` counts ``obj``, an object of the qualified resource ``qualified``."""
    scopes = quota_scopes(quota)
    if not scopes:
        return True
    if qualified != "pods":
        return False
    return all(pod_matches(scope, obj) for scope in scopes)


def pod_matches(scope: Requirement, pod: Object) -> bool:
    name = scope.get("scopeName")
    if name == "Terminating":
        return is_terminating(pod)
    if name == "NotTerminating":
        return not is_terminating(pod)
    if name == "BestEffort":
        return is_best_effort(pod)
    if name == "NotBestEffort":
        return not is_best_effort(pod)
    if name == "PriorityClass":
        return priority_class_matches(scope, str((pod.get("spec") or {}).get("priorityClassName") or ""))
    if name == "CrossNamespacePodAffinity":
        return has_cross_namespace_affinity(pod)
    return False


def is_terminating(pod: Object) -> bool:
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    return isinstance(deadline, int) and deadline >= 0


def is_best_effort(pod: Object) -> bool:
    for container in pod_containers(pod):
        for kind in ("requests", "limits"):
            values = container_resources(container, kind)
            if any(not values[name].is_zero() for name in QOS_RESOURCES if name in values):
                return False
    return True


def priority_class_matches(scope: Requirement, priority_class: str) -> bool:
    operator = scope.get("operator")
    values = scope.get("values") or []
    if operator == "Exists":
        return bool(priority_class)
    if operator == "DoesNotExist":
        return not priority_class
    if operator == "In":
        return bool(priority_class) and priority_class in values
    if operator == "NotIn":
        return not priority_class or priority_class not in values
    return False


def has_cross_namespace_affinity(pod: Object) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        terms = list(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        for weighted in rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            if isinstance(weighted, dict):
                terms.append(weighted.get("podAffinityTerm") or {})
        if any(isinstance(t, dict) and (t.get("namespaces") or t.get("namespaceSelector") is not None) for t in terms):
            return True
    return False
