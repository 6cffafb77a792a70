"""Admission of a pod on its node: does it fit into what the admitted pods leave of allocatable?

The scheduler checks fit before binding, but a pod created with
spec.nodeName set skips the scheduler, so the agent checks again, as the
kubelet does. A pod that does not fit is rejected for good: its phase
becomes Failed with reason ``OutOf<resource>`` ("OutOfcpu", "OutOfmemory",
"OutOfpods") and the kubelet's message, for example

    Pod was rejected: Node didn't have enough resource: cpu, requested: 2000, used: 300, capacity: 1000

Numbers are milli-cores for cpu, bytes for memory and ephemeral-storage,
and a count for pods. "used" sums the effective requests (init containers
counted as the scheduler counts them) of the pods already admitted that
have not terminated. The pod count is checked first, then cpu, memory and
ephemeral-storage; the first resource that does not fit names the reason.

Differences from a kubelet: extended resources, node affinity, taints and
host ports are not checked here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pykube_core.scheduler.requests import pod_requests

from pykube_control.agent.node_info import NodeResources

CHECKED_RESOURCES = ("cpu", "memory", "ephemeral-storage")


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """Why a pod was rejected: ``reason`` and ``message`` go into its status."""

    reason: str
    message: str


def admit(
    pod: Mapping[str, Any], admitted: Iterable[Mapping[str, Any]], allocatable: NodeResources
) -> Rejection | None:
    """Return None when ``pod`` fits beside the ``admitted`` pods, else the Rejection.

    ``admitted`` must not contain ``pod`` itself.
    """
    capacity = allocatable.as_dict()
    active = [other for other in admitted if not is_terminal(other)]
    if len(active) + 1 > capacity["pods"]:
        return _rejection("pods", 1, len(active), capacity["pods"])

    requested = pod_requests(pod)
    used: dict[str, int] = {}
    for other in active:
        for name, amount in pod_requests(other).items():
            used[name] = used.get(name, 0) + amount
    for name in CHECKED_RESOURCES:
        want = requested.get(name, 0)
        if want > 0 and want + used.get(name, 0) > capacity[name]:
            return _rejection(name, want, used.get(name, 0), capacity[name])
    return None


def is_terminal(pod: Mapping[str, Any]) -> bool:
    """Return True for a pod in phase Succeeded or Failed, whose resources are free again."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _rejection(resource: str, requested: int, used: int, capacity: int) -> Rejection:
    detail = f"Node didn't have enough resource: {resource}, requested: {requested}, used: {used}, capacity: {capacity}"
    return Rejection(reason=f"OutOf{resource}", message=f"Pod was rejected: {detail}")
