"""Workloads shaped like kube-scheduler's scheduler_perf suite, shared by the scheduler benchmarks.

Every node has 8 cpu, 32Gi, 110 pods, a hostname label and one of three
zone labels (zone-0, zone-1, zone-2, by index modulo 3). Every pod requests
100m cpu and 500Mi, as scheduler_perf's basic pods do, and the workloads
differ in the pods' constraints:

- basic: nothing more;
- node-affinity: required node affinity to zone-0 or zone-1;
- topology-spread: DoNotSchedule spread over the zones, maxSkew 1;
- anti-affinity: required anti-affinity to its own group per hostname,
  so at most one pod of a group lands on a node;
- affinity: required affinity to its own group per zone, so a group
  shares the zone of its first pod;
- preferred: preferred affinity (weight 1, zone) and preferred
  anti-affinity (weight 1, hostname) to its own group;
- mixed: the groups above in turn.

Pods of one group (GROUP_SIZE of them) are identical apart from their
names, like the replicas of a ReplicaSet. Each group has its own label
value, so the anti-affinity and affinity terms select one group.
"""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
ZONE_COUNT = 3
GROUP_SIZE = 50
"""Pods per group: replicas with one scheduling signature."""

WORKLOADS = ("basic", "node-affinity", "topology-spread", "anti-affinity", "affinity", "preferred", "mixed")
MIXED_ORDER = ("basic", "node-affinity", "topology-spread", "anti-affinity", "affinity", "preferred")


def zone_of(index: int) -> str:
    return f"zone-{index % ZONE_COUNT}"


def make_node(index: int, prefix: str = "node-") -> Object:
    name = f"{prefix}{index}"
    return {
        "metadata": {"name": name, "labels": {ZONE: zone_of(index), HOSTNAME: name}},
        "spec": {},
        "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}},
    }


def make_api_node(index: int, prefix: str = "node-") -> Object:
    """Return node `index` as a whole Node object for the API server: make_node's fields, capacity and Ready.

    scheduler_perf creates its nodes this way, with no kubelet behind them,
    so nothing renews their status and no pod on them ever runs.
    """
    node = make_node(index, prefix)
    status = node["status"]
    status["capacity"] = dict(status["allocatable"])
    status["conditions"] = [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "created by the benchmark"}
    ]
    return {"apiVersion": "v1", "kind": "Node", **node}


def group_selector(group: str) -> Object:
    return {"matchLabels": {"group": group}}


def constraints(kind: str, group: str) -> Object:
    """Return the spec fields that make a pod of workload `kind`."""
    if kind == "node-affinity":
        term = {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone-0", "zone-1"]}]}
        return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}}
    if kind == "topology-spread":
        spread = {"topologyKey": ZONE, "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": group_selector(group)}
        return {"topologySpreadConstraints": [spread]}
    if kind == "anti-affinity":
        term = {"topologyKey": HOSTNAME, "labelSelector": group_selector(group)}
        return {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}}
    if kind == "affinity":
        term = {"topologyKey": ZONE, "labelSelector": group_selector(group)}
        return {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}}
    if kind == "preferred":
        near = {"weight": 1, "podAffinityTerm": {"topologyKey": ZONE, "labelSelector": group_selector(group)}}
        apart = {"weight": 1, "podAffinityTerm": {"topologyKey": HOSTNAME, "labelSelector": group_selector(group)}}
        return {
            "affinity": {
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [near]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [apart]},
            }
        }
    return {}


def group_kind(workload: str, group_index: int) -> str:
    """Return the workload of the group_index-th group: the workload itself, or the mixed rotation."""
    if workload == "mixed":
        return MIXED_ORDER[group_index % len(MIXED_ORDER)]
    return workload


def make_pod(workload: str, group_index: int, index: int, namespace: str) -> Object:
    """Return pod `index` of group `group_index` of the workload."""
    kind = group_kind(workload, group_index)
    group = f"{workload}-{group_index}"
    requests = {"cpu": "100m", "memory": "500Mi"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{group}-{index}", "namespace": namespace, "labels": {"group": group}},
        "spec": {
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": requests}}],
            **constraints(kind, group),
        },
    }
