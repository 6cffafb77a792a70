"""Server-set status of new objects and the deletion rules.

New objects of kinds with a status subresource start with the status
Kubernetes gives them (a Pod is Pending with its QoS class, a Namespace
Active). Deletion follows Kubernetes' graceful deletion: an object with
finalizers, a Namespace, or a Pod running on a node is marked with
deletionTimestamp and stays until its finalizers are gone or its node agent
confirms; anything else is removed at once.
"""

from __future__ import annotations

import datetime
from typing import Any

from pykube_control.apiserver.resources import ResourceType

Object = dict[str, Any]

DEFAULT_POD_GRACE_SECONDS = 30

RETURNS_OBJECT_ON_DELETE = frozenset({"pods", "services", "persistentvolumes", "persistentvolumeclaims"})
"""Kinds whose DELETE responds with the object, as their Kubernetes API reference
documents; the rest respond with a Status."""


def _quantity_pairs(container: Object) -> tuple[dict[str, Any], dict[str, Any]]:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    return (requests if isinstance(requests, dict) else {}), (limits if isinstance(limits, dict) else {})


def qos_class(pod: Object) -> str:
    """Return Guaranteed, Burstable or BestEffort by Kubernetes' rules on cpu and memory.

    Requests default to limits (the defaulter copies them), so a container is
    guaranteed when it has cpu and memory limits and equal requests.
    """
    spec = pod.get("spec") or {}
    containers = [c for c in (spec.get("containers") or []) + (spec.get("initContainers") or []) if isinstance(c, dict)]
    any_set = False
    guaranteed = bool(containers)
    for container in containers:
        requests, limits = _quantity_pairs(container)
        for name in ("cpu", "memory"):
            if name in requests or name in limits:
                any_set = True
            limit = limits.get(name)
            request = requests.get(name, limit)
            if limit is None or str(request) != str(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def initial_status(resource: ResourceType, obj: Object) -> None:
    """Replace a new object's status with the one Kubernetes starts it with."""
    if "status" not in resource.subresources:
        return
    if resource.qualified == "pods":
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}
    elif resource.qualified == "namespaces":
        obj["status"] = {"phase": "Active"}
    elif resource.qualified == "services":
        obj["status"] = {"loadBalancer": {}}
    elif resource.qualified in ("persistentvolumeclaims", "persistentvolumes"):
        obj["status"] = {"phase": "Pending"}
    elif resource.qualified == "nodes":
        # A node agent registers its node with status; keep what it sent.
        return
    else:
        obj["status"] = {}


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_grace_seconds(pod: Object, requested: int | None) -> int:
    """Return the grace period of a pod's deletion: 0 unless it runs on a node."""
    spec = pod.get("spec") or {}
    phase = (pod.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(0, requested)
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_POD_GRACE_SECONDS)
    return grace if isinstance(grace, int) and grace >= 0 else DEFAULT_POD_GRACE_SECONDS


def finalizers_for_policy(policy: str | None) -> list[str]:
    if policy == "Orphan":
        return ["orphan"]
    if policy == "Foreground":
        return ["foregroundDeletion"]
    return []
