"""Quota usage: what one object counts against a ResourceQuota, and the arithmetic on it.

``object_usage`` measures an object the way Kubernetes' quota evaluators do
(pkg/quota/v1/evaluator/core, 1.32):

- Every object counts 1 for ``count/<resource>`` (``count/<resource>.<group>``
  outside the core group). Services, secrets, configmaps, claims,
  replication controllers and quotas also count 1 under their plain name.
- A pod counts ``pods`` and its compute resources (cpu, memory and
  ephemeral-storage as ``<name>``, ``requests.<name>`` and ``limits.<name>``,
  hugepages, and ``requests.<extended resource>``) unless it has reached
  Succeeded or Failed.
- A Service counts ``services.nodeports`` (one per port, for NodePort and
  LoadBalancer) and ``services.loadbalancers``.
- A claim counts ``requests.storage``, rounded up to whole bytes and raised
  to ``status.allocatedResources`` if larger, and the same two numbers per
  storage class as ``<class>.storageclass.storage.k8s.io/<name>``.

Differences from Kubernetes: an object with ``metadata.deletionTimestamp``
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
from pykube_control.apiserver.resources import RESOURCES

Object = dict[str, Any]

ONE = Quantity.from_units(1)
ZERO = Quantity(0)

COUNT_PREFIX = "count/"
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"

PLAIN_COUNTS = frozenset(
    {"services", "secrets", "configmaps", "persistentvolumeclaims", "replicationcontrollers", "resourcequotas"}
)
"""Resources that a quota also counts under their plain name, besides ``count/<resource>``."""

COMPUTE_RESOURCES = ("cpu", "memory", "ephemeral-storage")

CONSTRAINED_RESOURCES = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
"""Quota resources that every container of a new pod must set when a quota limits them."""

TERMINAL_PHASES = ("Succeeded", "Failed")

_NAMESPACED = frozenset(resource.qualified for resource in RESOURCES if resource.namespaced)


# --- usage of one object --------------------------------------------------------------


def object_usage(resource: str, obj: Object) -> ResourceList:
    """Return what ``obj``, an object of the qualified ``resource``, counts against a quota."""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return {}
    usage: ResourceList = {COUNT_PREFIX + resource: ONE}
    if resource in PLAIN_COUNTS:
        usage[resource] = ONE
    if resource == "pods":
        usage.update(pod_usage(obj))
    elif resource == "services":
        usage.update(service_usage(obj))
    elif resource == "persistentvolumeclaims":
        usage.update(claim_usage(obj))
    return usage


def pod_counts(pod: Object) -> bool:
    """Tell whether a pod still counts its compute resources: only terminal phases stop it."""
    return (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES


def pod_usage(pod: Object) -> ResourceList:
    if not pod_counts(pod):
        return {}
    return compute_usage(pod_requests(pod, overhead=True), pod_limits(pod, overhead=True))


def compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """Return the quota resources that one pod (or one container) with these requirements uses."""
    usage: ResourceList = {"pods": ONE}
    for name in COMPUTE_RESOURCES:
        if name in requests:
            usage[name] = usage[f"requests.{name}"] = requests[name]
        if name in limits:
            usage[f"limits.{name}"] = limits[name]
    for name, quantity in requests.items():
        if name.startswith("hugepages-"):
            usage[name] = usage[f"requests.{name}"] = quantity
        elif is_extended_resource(name):
            usage[f"requests.{name}"] = quantity
    return usage


def is_extended_resource(name: str) -> bool:
    """Tell whether ``name`` is an extended resource such as "example.com/gpu"."""
    return "/" in name and "kubernetes.io/" not in name and not name.startswith("requests.")


def service_usage(service: Object) -> ResourceList:
    spec = service.get("spec") or {}
    ports = len(spec.get("ports") or [])
    kind = spec.get("type")
    node_ports = ports if kind in ("NodePort", "LoadBalancer") else 0
    load_balancers = 1 if kind == "LoadBalancer" else 0
    return {
        "services.nodeports": Quantity.from_units(node_ports),
        "services.loadbalancers": Quantity.from_units(load_balancers),
    }


def claim_usage(claim: Object) -> ResourceList:
    storage_class = storage_class_of(claim)
    usage: ResourceList = {}
    if storage_class:
        usage[f"{storage_class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
    requested = claim_storage(claim)
    if requested is not None:
        usage["requests.storage"] = requested
        if storage_class:
            usage[f"{storage_class}{STORAGE_CLASS_SUFFIX}requests.storage"] = requested
    return usage


def storage_class_of(claim: Object) -> str:
    """Return the claim's storage class: the beta annotation first, as Kubernetes reads it."""
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_STORAGE_CLASS_ANNOTATION])
    return str((claim.get("spec") or {}).get("storageClassName") or "")


def claim_storage(claim: Object) -> Quantity | None:
    """Return the storage a claim counts, or None when it requests none."""
    requests = parse_resource_list(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    allocated = parse_resource_list((claim.get("status") or {}).get("allocatedResources"))
    found = [q for q in (requests.get("storage"), allocated.get("storage")) if q is not None]
    if not found:
        return None
    return round_up_to_unit(max(found))


def round_up_to_unit(quantity: Quantity) -> Quantity:
    """Round a fractional quantity up to whole units, so storage counts in whole bytes."""
    if quantity.nanos % 10**9 == 0:
        return quantity
    return Quantity.from_units(quantity.value(), quantity.format)


# --- which objects feed a quota resource ------------------------------------------------


def usage_source(name: str) -> str | None:
    """Return the qualified resource whose objects make up quota resource ``name``, or None."""
    if name.startswith(COUNT_PREFIX):
        resource = name[len(COUNT_PREFIX):]
        return resource if resource in _NAMESPACED else None
    if name in PLAIN_COUNTS:
        return name
    if name in ("services.nodeports", "services.loadbalancers"):
        return "services"
    if name == "requests.storage" or STORAGE_CLASS_SUFFIX in name:
        return "persistentvolumeclaims"
    if name in ("pods", *COMPUTE_RESOURCES) or name.startswith(("requests.", "limits.", "hugepages-")):
        return "pods"
    return None


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
