"""Preemption victim search: one Preemptor.preempt call on a full cluster.

Run with `python -m bench.run bench/bench_preemption.py`. Each cluster has
100 or 500 nodes of 8 cpu, each full with eight 1-cpu pods of priority 10
to 80. The preemptor requests 2 cpu at priority 1000, so every node is a
candidate: the search removes the eight pods, filters, then offers each
back (eight more filters per node) and ranks the candidates. One op is one
whole search; the table is restored after each.

The search stops after max(10% of the nodes, 100) candidates, so both
clusters simulate 100 nodes, but each filter call covers every node of
the table. So the cost grows with candidates x pods per node x nodes.
"""

from __future__ import annotations

from typing import Any

import pytest

from pykube_core.scheduler import NodeTable, Scheduler, SchedulerKernel
from pykube_core.scheduler.framework import PURE_PYTHON_KERNEL, native_kernel
from pykube_control.scheduler.preemption import Preemptor

PODS_PER_NODE = 8
ROUNDS = {"py": 1, "native": 3}


def make_node(index: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"node-{index}", "labels": {"kubernetes.io/hostname": f"node-{index}"}},
        "spec": {},
        "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}},
    }


def make_pod(name: str, priority: int, cpu: str, node: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "priority": priority,
        "containers": [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": cpu, "memory": "100Mi"}}}],
    }
    if node is not None:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": "bench"}, "spec": spec, "status": {}}


def full_cluster(nodes: int, kernel: SchedulerKernel) -> tuple[Scheduler, dict[str, list[dict[str, Any]]]]:
    table = NodeTable()
    bound: dict[str, list[dict[str, Any]]] = {}
    for index in range(nodes):
        table.add_node(make_node(index))
        name = f"node-{index}"
        for slot in range(PODS_PER_NODE):
            pod = make_pod(f"{name}-pod-{slot}", 10 * (slot + 1), "1", name)
            table.add_pod(pod)
            bound.setdefault(name, []).append(pod)
    return Scheduler(table, kernel=kernel), bound


@pytest.mark.parametrize("nodes", [100, 500])
@pytest.mark.parametrize("implementation", ["py", "native"])
def test_preempt_search(benchmark: Any, implementation: str, nodes: int) -> None:
    if implementation == "py" and nodes > 100:
        pytest.skip("the pure-Python kernel takes minutes per search on 500 nodes")
    kernel = PURE_PYTHON_KERNEL if implementation == "py" else native_kernel()
    scheduler, bound = full_cluster(nodes, kernel)
    preemptor = Preemptor(scheduler, lambda name: bound.get(name, []))
    pod = make_pod("urgent", 1000, "2")
    filtered = scheduler.filter(pod)
    benchmark.extra_info["ops"] = 1
    benchmark.extra_info["nodes"] = nodes

    outcome = benchmark.pedantic(
        lambda: preemptor.preempt(pod, filtered, []), rounds=ROUNDS[implementation], iterations=1
    )

    assert outcome.candidate is not None
    assert len(outcome.candidate.victims) == 2
