"""Quota arithmetic of the admission: which objects feed a quota, and checks on usage.

What one object counts is pykube_core.quota_usage, shared with the quota
controller. Differences from Kubernetes: an object with ``metadata.deletionTimestamp``
counts nothing. Kubernetes keeps counting it (a pod until its grace period
has passed twice over, anything else until it leaves the store). Without a
quota controller to recount later, the release has to happen at the one
write that starts the deletion, which is the DELETE request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pykube_core.pod_resources import (
    ResourceList,
    container_requirements,
    containers,
    parse_resource_list,
    pod_limits,
    pod_requests,
)
from pykube_core.quantity import Format, Quantity
from pykube_core.quota_usage import COUNT_PREFIX, compute_usage
from pykube_core.quota_usage import usage_source as core_usage_source
from pykube_control.apiserver.resources import RESOURCES

Object = dict[str, Any]

ZERO = Quantity(0)

CONSTRAINED_RESOURCES = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
"""Quota resources that every container of a new pod must set when a quota limits them."""

_NAMESPACED = frozenset(resource.qualified for resource in RESOURCES if resource.namespaced)


# --- which objects feed a quota resource ------------------------------------------------


def usage_source(name: str) -> str | None:
    """Return the qualified resource whose objects make up quota resource ``name``, or None.

    ``count/<resource>`` counts only for a namespaced resource this server serves.
    """
    source = core_usage_source(name)
    if name.startswith(COUNT_PREFIX) and source not in _NAMESPACED:
        return None
    return source


def usage_sources(names: Iterable[str]) -> set[str]:
    """Return every qualified resource that feeds one of the quota resources ``names``."""
    return {source for name in names if (source := usage_source(name)) is not None}


# --- checks and arithmetic --------------------------------------------------------------


def missing_requirements(required: Iterable[str], pod: Object) -> str | None:
    """Return Kubernetes' "must specify" message for containers that leave a constrained resource unset.

    ``required`` contains the quota's resource names; only cpu and memory
    ones matter. Returns None when every container sets them all.
    """
    constrained = set(required) & CONSTRAINED_RESOURCES
    if not constrained:
        return None
    missing: dict[str, set[str]] = {}
    for container in containers(pod):
        requests, limits = container_requirements(container)
        for name in constrained - set(compute_usage(requests, limits)):
            missing.setdefault(name, set()).add(str(container.get("name", "")))
    if not missing:
        return None
    parts = [f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing)]
    return "must specify " + "; ".join(parts)


def subtract(new: ResourceList, old: ResourceList) -> ResourceList:
    """Return new - old for every resource in either list, dropping zeros."""
    delta: ResourceList = {}
    for name in new.keys() | old.keys():
        difference = new.get(name, ZERO) - old.get(name, ZERO)
        if not difference.is_zero():
            delta[name] = difference
    return delta


def mask(values: ResourceList, names: Iterable[str]) -> ResourceList:
    """Return the entries of ``values`` whose name is in ``names``."""
    wanted = set(names)
    return {name: quantity for name, quantity in values.items() if name in wanted}


def apply_delta(used: ResourceList, delta: ResourceList) -> ResourceList:
    """Return used + delta; a result below zero becomes zero, so a release never goes negative."""
    result = dict(used)
    for name, change in delta.items():
        total = used.get(name, Quantity(0, change.format)) + change
        result[name] = total if total.nanos >= 0 else Quantity(0, total.format)
    return result


def exceeded(hard: ResourceList, used: ResourceList, requested: ResourceList) -> list[str]:
    """Return the names, sorted, where used + requested goes over hard."""
    over = []
    for name, quantity in requested.items():
        limit = hard.get(name)
        if limit is not None and used.get(name, ZERO) + quantity > limit:
            over.append(name)
    return sorted(over)


def format_list(values: ResourceList) -> str:
    """Format ``name=value`` pairs sorted by name and joined by commas, as quota messages print them."""
    return ",".join(f"{name}={values[name]}" for name in sorted(values))


def exceeded_message(quota_name: str, requested: ResourceList, used: ResourceList, hard: ResourceList) -> str:
    """Return Kubernetes' message for a request that does not fit one quota; the lists are masked already."""
    return (
        f"exceeded quota: {quota_name}, requested: {format_list(requested)}, "
        f"used: {format_list(used)}, limited: {format_list(hard)}"
    )


def zero_like(hard: ResourceList) -> ResourceList:
    """Return zero usage for every resource of ``hard``."""
    return {name: Quantity(0, Format.DECIMAL_SI) for name in hard}
