"""Property tests: a batch of identical pods lands exactly where one-by-one scheduling puts them."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykube_core.scheduler import NodeTable, Profile, Scheduler
from pykube_core.scheduler.framework import PURE_PYTHON_KERNEL, SchedulerKernel
from tests.scheduler.builders import load_kernel
from tests.scheduler.test_topology_properties import nodes, pods, resolve, spread_constraints

Object = dict[str, Any]


@st.composite
def templates(draw: st.DrawFn) -> Object:
    pod = draw(pods(0))
    pod["metadata"].pop("deletionTimestamp", None)
    if draw(st.integers(0, 3)) == 0:
        pod["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
    if draw(st.booleans()):
        cpu = draw(st.sampled_from(["500m", "1", "3"]))
        pod["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu, "memory": "1Gi"}}
    return pod


def replicas(template: Object, count: int) -> list[Object]:
    copies = []
    for index in range(count):
        pod = copy.deepcopy(template)
        pod["metadata"]["name"] = f"replica-{index}"
        copies.append(pod)
    return copies


def scheduler_with(kernel: SchedulerKernel, node_list: list[Object], existing: list[Object], seed: int) -> Scheduler:
    table = NodeTable(namespace_resolver=resolve)
    for node in node_list:
        table.add_node(node)
    scheduler = Scheduler(table, kernel=kernel, profile=Profile(), seed=seed)
    for pod in existing:
        scheduler.schedule_and_assume(pod)
    return scheduler


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    node_list=st.integers(1, 7).flatmap(lambda n: st.tuples(*[nodes(i) for i in range(n)])),
    existing=st.integers(0, 6).flatmap(lambda n: st.tuples(*[pods(i + 100) for i in range(n)])),
    template=templates(),
    count=st.integers(1, 8),
    seed=st.integers(0, 2**64 - 1),
    defaults=st.sampled_from([None, [{"matchLabels": {"app": "web"}}], [{}]]),
)
def test_batch_equals_sequential(
    node_list: tuple[Object, ...],
    existing: tuple[Object, ...],
    template: Object,
    count: int,
    seed: int,
    defaults: list[Object] | None,
) -> None:
    sequential = scheduler_with(PURE_PYTHON_KERNEL, list(node_list), list(existing), seed)
    expected = []
    for pod in replicas(template, count):
        expected.append(sequential.schedule_and_assume(pod, spread_selectors=defaults).node)
    for kernel in (load_kernel("native"), PURE_PYTHON_KERNEL):
        batched = scheduler_with(kernel, list(node_list), list(existing), seed)
        result = batched.schedule_batch(replicas(template, count), spread_selectors=defaults)
        assert list(result.nodes) == expected, kernel.name
        assert batched._rng_state == sequential._rng_state, kernel.name
        assert (result.failure is None) == (None not in expected), kernel.name


@st.composite
def hard_spread_templates(draw: st.DrawFn) -> Object:
    """A template whose only pod terms are DoNotSchedule spread constraints, which the native kernel places incrementally."""
    pod = draw(templates())
    pod["spec"].pop("affinity", None)
    constraints = pod["spec"].get("topologySpreadConstraints") or draw(spread_constraints().filter(bool))
    for constraint in constraints:
        constraint["whenUnsatisfiable"] = "DoNotSchedule"
    pod["spec"]["topologySpreadConstraints"] = constraints
    return pod


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    node_list=st.integers(1, 7).flatmap(lambda n: st.tuples(*[nodes(i) for i in range(n)])),
    existing=st.integers(0, 8).flatmap(lambda n: st.tuples(*[pods(i + 100) for i in range(n)])),
    template=hard_spread_templates(),
    count=st.integers(1, 12),
    seed=st.integers(0, 2**64 - 1),
)
def test_batch_equals_sequential_hard_spread(
    node_list: tuple[Object, ...], existing: tuple[Object, ...], template: Object, count: int, seed: int
) -> None:
    sequential = scheduler_with(PURE_PYTHON_KERNEL, list(node_list), list(existing), seed)
    expected = [sequential.schedule_and_assume(pod).node for pod in replicas(template, count)]
    batched = scheduler_with(load_kernel("native"), list(node_list), list(existing), seed)

    result = batched.schedule_batch(replicas(template, count))

    assert list(result.nodes) == expected
    assert batched._rng_state == sequential._rng_state


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    percentage=st.sampled_from([0, 5, 30, 100]),
    count=st.integers(1, 12),
    seed=st.integers(0, 2**64 - 1),
    template=templates(),
)
def test_batch_equals_sequential_sampled(percentage: int, count: int, seed: int, template: Object) -> None:
    node_list = [
        {
            "metadata": {"name": f"n{i}", "labels": {"kubernetes.io/hostname": f"n{i}", "topology.kubernetes.io/zone": "abc"[i % 3]}},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
        }
        for i in range(230)
    ]
    profile = Profile(percentage_of_nodes_to_score=percentage)

    def fresh(kernel: SchedulerKernel) -> Scheduler:
        table = NodeTable(namespace_resolver=resolve)
        for node in node_list:
            table.add_node(node)
        return Scheduler(table, kernel=kernel, profile=profile, seed=seed)

    sequential = fresh(load_kernel("native"))
    expected = [sequential.schedule_and_assume(pod).node for pod in replicas(template, count)]
    for kernel in (load_kernel("native"), PURE_PYTHON_KERNEL):
        batched = fresh(kernel)
        result = batched.schedule_batch(replicas(template, count))
        assert list(result.nodes) == expected, kernel.name
        assert batched._next_start_row == sequential._next_start_row, kernel.name
