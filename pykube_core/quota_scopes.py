"""ResourceQuota scopes: which pods a scoped quota counts.

A quota with ``spec.scopes`` or ``spec.scopeSelector`` counts only the pods
that match every scope, and no object of any other kind, as in Kubernetes
(pkg/quota/v1/evaluator/core/pods.go, 1.32):

- Terminating: ``spec.activeDeadlineSeconds`` is set and not negative;
  NotTerminating is the opposite.
- BestEffort: no container, init containers included, has a non-zero cpu
  or memory request or limit; NotBestEffort is the opposite.
- PriorityClass: ``spec.priorityClassName`` matches the selector's operator
  (In, NotIn, Exists, DoesNotExist) as a label named PriorityClass would.
- CrossNamespacePodAffinity: a pod (anti-)affinity term names namespaces
  or has a namespace selector.

Only PriorityClass reads the operator, as in Kubernetes.
"""

from __future__ import annotations

from typing import Any

from pykube_core.pod_resources import container_requirements, containers

Object = dict[str, Any]
Scope = dict[str, Any]
"""One scope selector requirement: scopeName, operator and values."""

QOS_RESOURCES = ("cpu", "memory")


def quota_scopes(quota: Object) -> list[Scope]:
    """Return the quota's scopes as selector requirements; a bare scope means operator Exists."""
    spec = quota.get("spec") or {}
    scopes: list[Scope] = [{"scopeName": name, "operator": "Exists"} for name in spec.get("scopes") or []]
    for requirement in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        if isinstance(requirement, dict):
            scopes.append(requirement)
    return scopes


def quota_matches(quota: Object, resource: str, obj: Object) -> bool:
    """Tell whether ``quota`` counts ``obj``, an object of the qualified ``resource``."""
    scopes = quota_scopes(quota)
    if not scopes:
        return True
    if resource != "pods":
        return False
    return all(pod_matches_scope(scope, obj) for scope in scopes)


def pod_matches_scope(scope: Scope, pod: Object) -> bool:
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
        return _priority_class_matches(scope, str((pod.get("spec") or {}).get("priorityClassName") or ""))
    if name == "CrossNamespacePodAffinity":
        return uses_cross_namespace_affinity(pod)
    return False


def is_terminating(pod: Object) -> bool:
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    return isinstance(deadline, int) and deadline >= 0


def is_best_effort(pod: Object) -> bool:
    """Tell whether the pod's QoS class is BestEffort."""
    for container in containers(pod):
        for values in container_requirements(container):
            if any(name in QOS_RESOURCES and not quantity.is_zero() for name, quantity in values.items()):
                return False
    return True


def _priority_class_matches(scope: Scope, priority_class: str) -> bool:
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


def uses_cross_namespace_affinity(pod: Object) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        terms = list(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        for weighted in rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            if isinstance(weighted, dict):
                terms.append(weighted.get("podAffinityTerm") or {})
        for term in terms:
            if isinstance(term, dict) and (term.get("namespaces") or term.get("namespaceSelector") is not None):
                return True
    return False
