"""Scheduler placement rate: native kernels against the pure-Python reference.

Run with `python -m bench.run bench/bench_scheduler_kernel.py`, which also
records the figures in docs/benchmarks.md. Each cluster has 500 or 5,000
nodes (8 cpu, 32Gi, 110 pods, a zone label out of three, an image on every
third node). Each pod requests 100m cpu and 500Mi. One op is one pod placed
and assumed, so the next pod is placed against the updated table. A round
places extra_info["ops"] pods.

"kernel" times the kernels alone on a pod compiled once: filter, score,
select, then assume. "schedule" times Scheduler.schedule_and_assume, which
also compiles the pod from its JSON and builds the per-node reason list.

"spread" and "anti-affinity" time the kernels like "kernel", for pods
labelled app=bench with a hard topology spread constraint over the three
zones (maxSkew 1), or with required anti-affinity against app=bench per
hostname. Each placed pod is accounted in the table's pod slots, which the
next pod's PreFilter and PreScore walk, so these rounds also rebuild the
pod arrays once per pod. The anti-affinity rounds place fewer pods, so that
500 nodes never run out of hosts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pykube_core.scheduler import NodeTable, Scheduler, SchedulerKernel
from pykube_core.scheduler.framework import NORMALIZATION, PURE_PYTHON_KERNEL, native_kernel

# Pods per round, per implementation: the reference takes about 0.1 s per
# pod on 5,000 nodes, so it places fewer pods per round.
PODS_PER_ROUND = {"py": 5, "native": 100}
ROUNDS = {"py": 3, "native": 10}
# Anti-affinity allows one pod per node: 10 rounds of 40 pods fit 500 nodes.
ANTI_AFFINITY_PODS_PER_ROUND = {"py": 5, "native": 40}

SPREAD_CONSTRAINT = {
    "topologyKey": "topology.kubernetes.io/zone",
    "maxSkew": 1,
    "whenUnsatisfiable": "DoNotSchedule",
    "labelSelector": {"matchLabels": {"app": "bench"}},
}
ANTI_AFFINITY = {
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "bench"}}}
        ]
    }
}


def make_node(index: int) -> dict[str, Any]:
    images = [{"names": ["nginx:latest"], "sizeBytes": 200 * 2**20}] if index % 3 == 0 else []
    return {
        "metadata": {
            "name": f"node-{index}",
            "labels": {"topology.kubernetes.io/zone": f"zone-{index % 3}", "kubernetes.io/hostname": f"node-{index}"},
        },
        "spec": {},
        "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}, "images": images},
    }


def make_pod(index: int) -> dict[str, Any]:
    requests = {"cpu": "100m", "memory": "500Mi"}
    return {
        "metadata": {"name": f"pod-{index}", "namespace": "bench"},
        "spec": {"containers": [{"name": "app", "image": "nginx", "resources": {"requests": requests}}]},
    }


def make_constrained_pod(index: int, constraint: str) -> dict[str, Any]:
    """Return make_pod(index) labelled app=bench with a spread constraint or anti-affinity."""
    pod = make_pod(index)
    pod["metadata"]["labels"] = {"app": "bench"}
    if constraint == "spread":
        pod["spec"]["topologySpreadConstraints"] = [SPREAD_CONSTRAINT]
    else:
        pod["spec"]["affinity"] = ANTI_AFFINITY
    return pod


def load_kernel(implementation: str) -> SchedulerKernel:
    if implementation == "py":
        return PURE_PYTHON_KERNEL
    pytest.importorskip("pykube_core.scheduler._native")
    return native_kernel()


def build_scheduler(node_count: int, implementation: str) -> Scheduler:
    table = NodeTable()
    for index in range(node_count):
        table.add_node(make_node(index))
    return Scheduler(table, kernel=load_kernel(implementation), seed=1)


# The pure-Python variant runs first, so "ratio to first" is native over py.
@pytest.mark.parametrize("implementation", ["py", "native"])
@pytest.mark.parametrize("node_count", [500, 5_000])
def bench_kernel(benchmark: Any, node_count: int, implementation: str) -> None:
    benchmark.group = f"scheduler kernel {node_count} nodes"
    scheduler = build_scheduler(node_count, implementation)
    kernel, table = scheduler.kernel, scheduler.table
    scoring = scheduler.profile.scoring_arrays(table)
    weights = scheduler.profile.weight_array()
    pod_count = PODS_PER_ROUND[implementation]
    benchmark.extra_info["ops"] = pod_count
    names = table.names()
    placed = iter(range(10**9))

    def place_pods() -> None:
        compiled = scheduler.compile(make_pod(0))
        state = 1
        for _ in range(pod_count):
            nodes = table.arrays()
            status = kernel.filter_nodes(nodes, compiled)[0]
            candidates = np.flatnonzero(status == 0).astype(np.int64)
            raw = kernel.score_nodes(nodes, compiled, scoring, candidates)
            _, _, selected, state = kernel.select_node(raw, weights, NORMALIZATION, state)
            table.assume_pod(make_pod(next(placed)), names[int(candidates[selected])])

    benchmark.pedantic(place_pods, rounds=ROUNDS[implementation], iterations=1)
    assert sum(table.pod_count(name) for name in names) == pod_count * ROUNDS[implementation]


@pytest.mark.parametrize("implementation", ["py", "native"])
@pytest.mark.parametrize("node_count", [500, 5_000])
def bench_schedule(benchmark: Any, node_count: int, implementation: str) -> None:
    benchmark.group = f"scheduler schedule_and_assume {node_count} nodes"
    scheduler = build_scheduler(node_count, implementation)
    pod_count = PODS_PER_ROUND[implementation]
    benchmark.extra_info["ops"] = pod_count
    placed = iter(range(10**9))

    def place_pods() -> None:
        for _ in range(pod_count):
            assert scheduler.schedule_and_assume(make_pod(next(placed))).node is not None

    benchmark.pedantic(place_pods, rounds=ROUNDS[implementation], iterations=1)


@pytest.mark.parametrize("implementation", ["py", "native"])
@pytest.mark.parametrize("node_count", [500, 5_000])
@pytest.mark.parametrize("constraint", ["spread", "anti-affinity"])
def bench_constrained(benchmark: Any, constraint: str, node_count: int, implementation: str) -> None:
    benchmark.group = f"scheduler kernel {constraint} {node_count} nodes"
    scheduler = build_scheduler(node_count, implementation)
    kernel, table = scheduler.kernel, scheduler.table
    scoring = scheduler.profile.scoring_arrays(table)
    weights = scheduler.profile.weight_array()
    per_round = PODS_PER_ROUND if constraint == "spread" else ANTI_AFFINITY_PODS_PER_ROUND
    pod_count = per_round[implementation]
    benchmark.extra_info["ops"] = pod_count
    names = table.names()
    placed = iter(range(10**9))

    def place_pods() -> None:
        compiled = scheduler.compile(make_constrained_pod(0, constraint))
        state = 1
        for _ in range(pod_count):
            nodes = table.arrays()
            status = kernel.filter_nodes(nodes, compiled)[0]
            candidates = np.flatnonzero(status == 0).astype(np.int64)
            raw = kernel.score_nodes(nodes, compiled, scoring, candidates)
            _, _, selected, state = kernel.select_node(raw, weights, NORMALIZATION, state)
            table.assume_pod(make_constrained_pod(next(placed), constraint), names[int(candidates[selected])])

    benchmark.pedantic(place_pods, rounds=ROUNDS[implementation], iterations=1)
    assert sum(table.pod_count(name) for name in names) == pod_count * ROUNDS[implementation]
