"""A pod's effective resource requests, computed as kube-scheduler computes them.

Quantities are summed exactly (as pykube_core.quantity nano-units) and only
the pod's total is converted: cpu to milli-cores, everything else to whole
units, both rounded up as Kubernetes' MilliValue and Value round. A node's
requested amounts are then integer sums of these per-pod totals, as in
kube-scheduler's NodeInfo.

Init containers run one at a time before the app containers, so the pod
needs the maximum of what any init container step needs and what the app
containers need together. Sidecars (init containers with restartPolicy
Always) keep running once started, so each later step also needs every
sidecar started before it, and the app containers run beside all sidecars.
Worked example, cpu in milli-cores:

    init[0] sidecar     100      step 0 needs 100
    init[1] plain       500      step 1 needs 500 + 100 (sidecar 0) = 600
    init[2] sidecar     200      step 2 needs 200 + 100 = 300
    app containers      300+400  with both sidecars: 700 + 100 + 200 = 1000
    effective request = max(100, 600, 300, 1000) = 1000

and without the sidecars (init containers 500 and 300, apps 300 + 400):
max(500, 300, 700) = 700. Pod overhead is then added on top.

Scoring uses a second set of numbers, the "non-zero" requests: a container
that does not mention cpu or memory counts as 100m cpu and 200Mi memory, so
that pods without requests still spread. A container that requests "0"
explicitly keeps 0.

Differences from kube-scheduler (Kubernetes 1.35):

- Pod-level resources (spec.resources) are ignored.
- Resize status of running pods (in-place vertical scaling) is ignored;
  spec requests count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pykube_core.errors import InvalidQuantityError
from pykube_core.quantity import NANOS_PER_UNIT, Quantity, parse_quantity

# Requests assumed for scoring when a container names no cpu or memory request,
# in nano-units: 100m cpu and 200 MiB, kube-scheduler's DefaultMilliCPURequest
# and DefaultMemoryRequest.
DEFAULT_CPU_NANOS = 100 * 10**6
DEFAULT_MEMORY_NANOS = 200 * 1024 * 1024 * NANOS_PER_UNIT
SCORING_DEFAULTS = {"cpu": DEFAULT_CPU_NANOS, "memory": DEFAULT_MEMORY_NANOS}

ResourceNanos = dict[str, int]


def parse_resource_list(resources: Mapping[str, Any] | None, field: str) -> ResourceNanos:
    """Parse a Kubernetes ResourceList into nano-units per resource name.

    Raises ValueError naming the field and the quantity when one is invalid.
    """
    parsed: ResourceNanos = {}
    for name, value in (resources or {}).items():
        try:
            parsed[name] = parse_quantity(str(value)).nanos
        except InvalidQuantityError as error:
            raise ValueError(
                f"{field}[{name!r}]: invalid quantity {value!r}: {error}; "
                "use a Kubernetes quantity such as '500m' or '1Gi'"
            ) from error
    return parsed


def to_column_units(name: str, nanos: int) -> int:
    """Convert nano-units to the table's unit: milli-cores for cpu, whole units otherwise."""
    quantity = Quantity(nanos)
    return quantity.milli_value() if name == "cpu" else quantity.value()


def _add(total: ResourceNanos, extra: Mapping[str, int]) -> None:
    for name, nanos in extra.items():
        total[name] = total.get(name, 0) + nanos


def _maximize(total: ResourceNanos, other: Mapping[str, int]) -> None:
    for name, nanos in other.items():
        total[name] = max(total.get(name, 0), nanos)


def _container_requests(
    container: Mapping[str, Any], field: str, defaults: Mapping[str, int]
) -> ResourceNanos:
    resources = container.get("resources") or {}
    requests = parse_resource_list(resources.get("requests"), f"{field}.resources.requests")
    for name, nanos in defaults.items():
        requests.setdefault(name, nanos)
    return requests


def _containers(spec: Mapping[str, Any], key: str) -> Iterable[tuple[int, Mapping[str, Any]]]:
    return enumerate(spec.get(key) or [])


def is_sidecar(container: Mapping[str, Any]) -> bool:
    """Return True for an init container with restartPolicy Always."""
    return container.get("restartPolicy") == "Always"


def pod_request_nanos(pod: Mapping[str, Any], *, scoring_defaults: bool = False) -> ResourceNanos:
    """Return the pod's effective requests in nano-units (see the module docstring).

    With scoring_defaults, containers without a cpu or memory request count
    as requesting 100m cpu and 200Mi memory.
    """
    spec = pod.get("spec") or {}
    defaults = SCORING_DEFAULTS if scoring_defaults else {}

    total: ResourceNanos = {}
    for index, container in _containers(spec, "containers"):
        _add(total, _container_requests(container, f"spec.containers[{index}]", defaults))

    sidecars: ResourceNanos = {}
    init_peak: ResourceNanos = {}
    for index, container in _containers(spec, "initContainers"):
        requests = _container_requests(container, f"spec.initContainers[{index}]", defaults)
        if is_sidecar(container):
            _add(total, requests)
            _add(sidecars, requests)
            step = dict(sidecars)
        else:
            step = dict(requests)
            _add(step, sidecars)
        _maximize(init_peak, step)
    _maximize(total, init_peak)

    _add(total, parse_resource_list(spec.get("overhead"), "spec.overhead"))
    return total


def pod_requests(pod: Mapping[str, Any], *, scoring_defaults: bool = False) -> dict[str, int]:
    """Return the pod's effective requests in the table's units, per resource name."""
    return {
        name: to_column_units(name, nanos)
        for name, nanos in pod_request_nanos(pod, scoring_defaults=scoring_defaults).items()
    }
