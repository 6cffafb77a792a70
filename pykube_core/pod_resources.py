"""Resource lists and the effective requests and limits of a whole pod.

On the wire a resource list is a JSON object of quantity strings
(``{"cpu": "100m"}``). Here it is a dict of Quantity, which adds and
compares exactly, so LimitRanger and ResourceQuota never round. The API
server's admission and the quota controller both measure pods with these
functions, because a recount that measured differently would undo the
admission's charges.

``pod_requests`` and ``pod_limits`` follow Kubernetes' PodRequests and
PodLimits (k8s.io/component-helpers resource, 1.32): regular containers
add up, while init containers run one at a time, so each resource takes
the larger of that sum and the largest init container. A sidecar (an init
container with ``restartPolicy: Always``) keeps running next to everything
started after it, so it adds to the sum and to every later init container.

Differences from Kubernetes: pod-level ``spec.resources`` and resources
allocated by an in-place resize are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pykube_core.quantity import Quantity, parse_quantity

Object = dict[str, Any]
ResourceList = dict[str, Quantity]


def parse_resource_list(raw: object) -> ResourceList:
    """Parse a wire resource list; a missing or non-object value is an empty list.

    Raises InvalidQuantityError for a malformed quantity. Validation rejects
    those before admission runs, so here one means a bug upstream.
    """
    if not isinstance(raw, dict):
        return {}
    return {name: parse_quantity(str(value)) for name, value in raw.items()}


def format_resource_list(values: ResourceList) -> dict[str, str]:
    """Return the wire form of ``values``, sorted by name, each quantity in Kubernetes' canonical text."""
    return {name: str(quantity) for name, quantity in sorted(values.items())}


def add_into(total: ResourceList, other: ResourceList) -> None:
    for name, quantity in other.items():
        current = total.get(name)
        total[name] = quantity if current is None else current + quantity


def max_into(total: ResourceList, other: ResourceList) -> None:
    for name, quantity in other.items():
        current = total.get(name)
        if current is None or quantity > current:
            total[name] = quantity


def containers(pod: Object) -> Iterator[Object]:
    """Yield the regular containers, then the init containers, skipping malformed entries."""
    spec = pod.get("spec") or {}
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                yield container


def container_requirements(container: Object) -> tuple[ResourceList, ResourceList]:
    """Return the (requests, limits) of one container."""
    resources = container.get("resources") or {}
    return parse_resource_list(resources.get("requests")), parse_resource_list(resources.get("limits"))


def pod_requests(pod: Object, *, overhead: bool) -> ResourceList:
    """Return the requests of the whole pod; ``overhead`` adds ``spec.overhead`` as quota does."""
    totals = _pod_totals(pod, "requests")
    if overhead:
        add_into(totals, parse_resource_list((pod.get("spec") or {}).get("overhead")))
    return totals


def pod_limits(pod: Object, *, overhead: bool) -> ResourceList:
    """Return the limits of the whole pod; ``overhead`` adds ``spec.overhead`` to each resource that has a limit."""
    totals = _pod_totals(pod, "limits")
    if overhead:
        for name, quantity in parse_resource_list((pod.get("spec") or {}).get("overhead")).items():
            if name in totals:
                totals[name] = totals[name] + quantity
    return totals


def _pod_totals(pod: Object, kind: Literal["requests", "limits"]) -> ResourceList:
    """Sum the requests or limits of the pod's containers, with init containers as the module docstring describes."""
    column = 0 if kind == "requests" else 1
    spec = pod.get("spec") or {}
    totals: ResourceList = {}
    for container in spec.get("containers") or []:
        if isinstance(container, dict):
            add_into(totals, container_requirements(container)[column])

    sidecars: ResourceList = {}
    largest_init: ResourceList = {}
    for container in spec.get("initContainers") or []:
        if not isinstance(container, dict):
            continue
        own = container_requirements(container)[column]
        if container.get("restartPolicy") == "Always":
            add_into(totals, own)
            add_into(sidecars, own)
            running = dict(sidecars)
        else:
            # A regular init container runs next to every sidecar started before it.
            running = dict(own)
            add_into(running, sidecars)
        max_into(largest_init, running)

    max_into(totals, largest_init)
    return totals
