"""What one object counts against a ResourceQuota.

The API server's quota admission charges every write, and the quota
controller recounts from scratch. Both must measure an object the same
way, or each recount would undo the charges. Controllers may not import
the API server, so the rules are stated again here, following Kubernetes'
core/v1 quota evaluators (1.32):

- Every object counts 1 as ``count/<plural>``, or ``count/<plural>.<group>``
  outside the core group. Services, secrets, configmaps, claims,
  replication controllers and quotas also count 1 under their plain name.
- A pod that has not reached Succeeded or Failed counts ``pods`` and its
  compute resources: cpu, memory and ephemeral-storage as ``<name>``,
  ``requests.<name>`` and ``limits.<name>``, hugepages as ``<name>`` and
  ``requests.<name>``, and extended resources as ``requests.<name>``.
  A terminal pod still counts ``count/pods``.
- A Service counts ``services.nodeports`` (one per port of a NodePort or
  LoadBalancer Service) and ``services.loadbalancers``.
- A claim counts ``requests.storage``, the larger of its request and
  ``status.allocatedResources`` rounded up to whole bytes, and the same
  per storage class as ``<class>.storageclass.storage.k8s.io/requests.storage``
  and ``.../persistentvolumeclaims``.

A pod's requests and limits follow Kubernetes' PodRequests and PodLimits
(see pykube_core.pod_resources). ``spec.overhead`` adds to requests, and
to each limit that is set.

The pod arithmetic is pykube_core.pod_resources, which the admission uses
too. Differences from Kubernetes, shared with the admission: an object with
``metadata.deletionTimestamp`` counts nothing, and pod-level
``spec.resources`` is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pykube_core.pod_resources import ResourceList, parse_resource_list, pod_limits, pod_requests
from pykube_core.quantity import Format, Quantity

Object = dict[str, Any]

ONE = Quantity.from_units(1)
COUNT_PREFIX = "count/"
STORAGE_CLASS_INFIX = ".storageclass.storage.k8s.io/"
BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
PLAIN_COUNTS = frozenset(
    {"services", "secrets", "configmaps", "persistentvolumeclaims", "replicationcontrollers", "resourcequotas"}
)
"""Resources counted under their plain name as well as ``count/<plural>``."""
COMPUTE_RESOURCES = ("cpu", "memory", "ephemeral-storage")
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


# --- resource lists ---------------------------------------------------------------------


def restrict(values: ResourceList, names: Iterable[str]) -> ResourceList:
    """Return the entries of ``values`` whose name is in ``names``."""
    wanted = set(names)
    return {name: quantity for name, quantity in values.items() if name in wanted}


# --- pods ---------------------------------------------------------------------------------


def pod_compute_usage(pod: Object) -> ResourceList:
    """Return the compute resources and ``pods`` a pod that has not terminated uses."""
    requests = pod_requests(pod, overhead=True)
    limits = pod_limits(pod, overhead=True)

    usage: ResourceList = {"pods": ONE}
    for name in COMPUTE_RESOURCES:
        if name in requests:
            usage[name] = usage[f"requests.{name}"] = requests[name]
        if name in limits:
            usage[f"limits.{name}"] = limits[name]
    for name, quantity in requests.items():
        if name.startswith("hugepages-"):
            usage[name] = usage[f"requests.{name}"] = quantity
        elif "/" in name and "kubernetes.io/" not in name:
            usage[f"requests.{name}"] = quantity
    return usage


def is_terminal(pod: Object) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


# --- services and claims -------------------------------------------------------------------


def service_usage(service: Object) -> ResourceList:
    spec = service.get("spec") or {}
    service_type = spec.get("type")
    ports = len(spec.get("ports") or [])
    node_ports = ports if service_type in ("NodePort", "LoadBalancer") else 0
    return {
        "services.nodeports": Quantity.from_units(node_ports),
        "services.loadbalancers": Quantity.from_units(1 if service_type == "LoadBalancer" else 0),
    }


def storage_class_of(claim: Object) -> str:
    """Return the claim's storage class; the beta annotation wins over spec.storageClassName, as in Kubernetes."""
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_STORAGE_CLASS_ANNOTATION])
    return str((claim.get("spec") or {}).get("storageClassName") or "")


def claim_usage(claim: Object) -> ResourceList:
    storage_class = storage_class_of(claim)
    usage: ResourceList = {}
    if storage_class:
        usage[f"{storage_class}{STORAGE_CLASS_INFIX}persistentvolumeclaims"] = ONE
    requested = parse_resource_list(((claim.get("spec") or {}).get("resources") or {}).get("requests")).get("storage")
    allocated = parse_resource_list((claim.get("status") or {}).get("allocatedResources")).get("storage")
    sizes = [size for size in (requested, allocated) if size is not None]
    if sizes:
        storage = max(sizes)
        if storage.nanos % 10**9:
            storage = Quantity.from_units(storage.value(), storage.format)
        usage["requests.storage"] = storage
        if storage_class:
            usage[f"{storage_class}{STORAGE_CLASS_INFIX}requests.storage"] = storage
    return usage


# --- any object --------------------------------------------------------------------------------


def object_usage(qualified: str, obj: Object) -> ResourceList:
    """Return what ``obj``, an object of ``qualified`` ("pods", "deployments.apps"), counts against a quota."""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return {}
    usage: ResourceList = {COUNT_PREFIX + qualified: ONE}
    if qualified in PLAIN_COUNTS:
        usage[qualified] = ONE
    if qualified == "pods" and not is_terminal(obj):
        usage.update(pod_compute_usage(obj))
    elif qualified == "services":
        usage.update(service_usage(obj))
    elif qualified == "persistentvolumeclaims":
        usage.update(claim_usage(obj))
    return usage


def usage_source(name: str) -> str | None:
    """Return the qualified resource whose objects make up quota resource ``name``, or None for none.

    ``count/<resource>`` names any resource; whether it is served and
    namespaced is for the caller to check.
    """
    if name.startswith(COUNT_PREFIX):
        return name[len(COUNT_PREFIX):] or None
    if name in PLAIN_COUNTS:
        return name
    if name in ("services.nodeports", "services.loadbalancers"):
        return "services"
    if name == "requests.storage" or STORAGE_CLASS_INFIX in name:
        return "persistentvolumeclaims"
    if name in ("pods", *COMPUTE_RESOURCES) or name.startswith(("requests.", "limits.", "hugepages-")):
        return "pods"
    return None


def zero_usage(names: Iterable[str]) -> ResourceList:
    return {name: Quantity(0, Format.DECIMAL_SI) for name in names}
