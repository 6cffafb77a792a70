"""What one object counts against a ResourceQuota, as Kubernetes' quota evaluators measure it.

Both the API server's quota admission, which charges every write, and the
quota controller, which recounts from scratch, measure objects with this
module: if they measured differently, each recount would undo the charges.
The rules follow pkg/quota/v1/evaluator/core (Kubernetes 1.32):

- Every object counts 1 for ``count/<resource>`` (``count/<resource>.<group>``
  outside the core group). Services, secrets, configmaps, claims,
  replication controllers and quotas also count 1 under their plain name.
- A pod counts ``pods`` and its compute resources (cpu, memory and
  ephemeral-storage as ``<name>``, ``requests.<name>`` and ``limits.<name>``,
  hugepages, and ``requests.<extended resource>``) unless it has reached
  Succeeded or Failed. Its requests and limits come from pod_resources,
  with ``spec.overhead``.
- A Service counts ``services.nodeports`` (one per port, for NodePort and
  LoadBalancer) and ``services.loadbalancers``.
- A claim counts ``requests.storage``, rounded up to whole bytes and raised
  to ``status.allocatedResources`` if larger, and the same two numbers per
  storage class as ``<class>.storageclass.storage.k8s.io/<name>``.

Difference from Kubernetes: an object with ``metadata.deletionTimestamp``
counts nothing, so the admission releases its usage at the DELETE request
that starts the deletion. Kubernetes keeps counting it (a pod until its
grace period has passed twice over, anything else until it leaves the
store).
"""

from __future__ import annotations

from typing import Any

from pykube_core.pod_resources import ResourceList, parse_resource_list, pod_limits, pod_requests
from pykube_core.quantity import Quantity

Object = dict[str, Any]

ONE = Quantity.from_units(1)

COUNT_PREFIX = "count/"
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"

PLAIN_COUNTS = frozenset(
    {"services", "secrets", "configmaps", "persistentvolumeclaims", "replicationcontrollers", "resourcequotas"}
)
"""Resources that a quota also counts under their plain name, besides ``count/<resource>``."""

COMPUTE_RESOURCES = ("cpu", "memory", "ephemeral-storage")

TERMINAL_PHASES = ("Succeeded", "Failed")


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
    """Return the qualified resource whose objects make up quota resource ``name``, or None.

    ``count/<resource>`` names any resource; whether it is served and
    namespaced is for the caller to check.
    """
    if name.startswith(COUNT_PREFIX):
        return name[len(COUNT_PREFIX):] or None
    if name in PLAIN_COUNTS:
        return name
    if name in ("services.nodeports", "services.loadbalancers"):
        return "services"
    if name == "requests.storage" or STORAGE_CLASS_SUFFIX in name:
        return "persistentvolumeclaims"
    if name in ("pods", *COMPUTE_RESOURCES) or name.startswith(("requests.", "limits.", "hugepages-")):
        return "pods"
    return None
