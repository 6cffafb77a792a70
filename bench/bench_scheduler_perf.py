"""Scheduler placement rate on scheduler_perf-shaped workloads: native batch kernel against the reference.

Run with `python -m bench.run bench/bench_scheduler_perf.py`. The clusters
and workloads are those of bench/scheduler_workloads.py, at 500 and 5,000
nodes. One op is one pod placed and assumed, so each pod meets the table
with every earlier pod accounted. A round places the next groups of
replicas (50 identical pods each) with Scheduler.schedule_batch, which
compiles the group's pod once, places the whole group in one kernel call
and assumes each pod in the NodeTable. Every feasible node is scored.

"native" runs the C++ batch kernel and "py" its pure-Python twin, which
reruns the whole cycle per pod. The py rounds place one group of 3 pods,
because the twin takes from 0.1 s to several seconds per pod at 5,000
nodes. The ops/s column counts the whole schedule_batch call; the figure
kernel_pods_per_s counts only the time inside the kernel, which is what
the target of 20,000 pods/s for basic at 5,000 nodes (kernel alone) is
measured against. The table grows by one round of pods per round, and
anti-affinity allows one pod per node per group, so later rounds of the
topology workloads walk more existing pods.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from bench.scheduler_workloads import GROUP_SIZE, WORKLOADS, make_node, make_pod
from pykube_core.scheduler import NodeTable, Scheduler, SchedulerKernel
from pykube_core.scheduler.framework import PURE_PYTHON_KERNEL, native_kernel

GROUPS_PER_ROUND = {"py": 1, "native": 4}
PODS_PER_GROUP = {"py": 3, "native": GROUP_SIZE}
ROUNDS = {"py": 1, "native": 5}


class TimedKernel:
    """Wraps a kernel's schedule_batch and sums the seconds spent inside it."""

    def __init__(self, kernel: SchedulerKernel) -> None:
        self.inner = kernel
        self.seconds = 0.0

    def schedule_batch(self, *args: Any) -> tuple[Any, int, int, int]:
        started = time.perf_counter()
        try:
            return self.inner.schedule_batch(*args)
        finally:
            self.seconds += time.perf_counter() - started


def load_kernel(implementation: str) -> SchedulerKernel:
    if implementation == "py":
        return PURE_PYTHON_KERNEL
    pytest.importorskip("pykube_core.scheduler._native")
    return native_kernel()


# The pure-Python variant runs first, so "ratio to first" is native over py.
@pytest.mark.parametrize("implementation", ["py", "native"])
@pytest.mark.parametrize("node_count", [500, 5_000])
@pytest.mark.parametrize("workload", WORKLOADS)
def bench_workload(benchmark: Any, workload: str, node_count: int, implementation: str) -> None:
    benchmark.group = f"scheduler_perf {workload} {node_count} nodes"
    table = NodeTable()
    for index in range(node_count):
        table.add_node(make_node(index))
    timed = TimedKernel(load_kernel(implementation))
    kernel = dataclasses.replace(timed.inner, schedule_batch=timed.schedule_batch)
    scheduler = Scheduler(table, kernel=kernel, seed=1)
    groups, per_group = GROUPS_PER_ROUND[implementation], PODS_PER_GROUP[implementation]
    benchmark.extra_info["ops"] = groups * per_group
    next_group = iter(range(10**6))
    unplaced = 0

    def place_round() -> None:
        nonlocal unplaced
        for _ in range(groups):
            group = next(next_group)
            pods = [make_pod(workload, group, index, "bench") for index in range(per_group)]
            result = scheduler.schedule_batch(pods)
            unplaced += result.nodes.count(None)

    benchmark.pedantic(place_round, rounds=ROUNDS[implementation], iterations=1)
    placed = groups * per_group * ROUNDS[implementation]
    benchmark.extra_info["kernel_pods_per_s"] = placed / timed.seconds
    benchmark.extra_info["unplaced"] = unplaced
    assert unplaced == 0
