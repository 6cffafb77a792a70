"""Admission of a pod on its node: does it fit into what the admitted pods leave of allocatable?

The scheduler checks fit before binding, but a pod created with
spec.nodeName set skips the scheduler, so the agent checks again, as the
kubelet does. A pod that does not fit is rejected for good: its phase
becomes Failed with reason ``OutOf<resource>`` ("OutOfcpu", "OutOfmemory",
"OutOfpods") and the kubelet's message, for example

    Pod was rejected: Node didn't have enough resource: cpu, requested: 2000, used: 300, capacity: 1000

Numbers are milli-cores for cpu, bytes for memory and ephemeral-storage,
and a count for pods. "used" sums the effective requests of the pods already
admitted that have not terminated (see ``pod_requests``). The pod count is checked first, then cpu, memory and
ephemeral-storage; the first resource that does not fit names the reason.

Differences from a kubelet: extended resources, node affinity, taints and
host ports are not checked here, and sidecar init containers (restartPolicy
Always) count like plain init containers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pykube_core.quantity import NANOS_PER_MILLI, NANOS_PER_UNIT, parse_quantity

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


def pod_requests(pod: Mapping[str, Any]) -> dict[str, int]:
    """Return the pod's effective requests: milli-cores for cpu, whole units (rounded up) for the rest.

    Init containers run one at a time before the app containers. So the pod
    needs the larger of the biggest init container and the sum of the app
    containers, and overhead comes on top. For cpu, init 500m with apps
    300m + 400m gives max(500, 700) = 700m.

    The scheduler's version (pykube_core.scheduler.requests) also counts
    sidecars, but importing it loads numpy and the scheduler kernels, about
    15 MB of the agent's memory, so the agent keeps this small twin.
    """
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for container in spec.get("containers") or []:
        for name, nanos in _requests_nanos(container).items():
            total[name] = total.get(name, 0) + nanos
    for container in spec.get("initContainers") or []:
        for name, nanos in _requests_nanos(container).items():
            total[name] = max(total.get(name, 0), nanos)
    for name, value in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, 0) + parse_quantity(str(value)).nanos
    return {name: _units(name, nanos) for name, nanos in total.items()}


def _requests_nanos(container: Mapping[str, Any]) -> dict[str, int]:
    requests = (container.get("resources") or {}).get("requests") or {}
    return {str(name): parse_quantity(str(value)).nanos for name, value in requests.items()}


def _units(name: str, nanos: int) -> int:
    scale = NANOS_PER_MILLI if name == "cpu" else NANOS_PER_UNIT
    return -(-nanos // scale)


def _rejection(resource: str, requested: int, used: int, capacity: int) -> Rejection:
    detail = f"Node didn't have enough resource: {resource}, requested: {requested}, used: {used}, capacity: {capacity}"
    return Rejection(reason=f"OutOf{resource}", message=f"Pod was rejected: {detail}")
