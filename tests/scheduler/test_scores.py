"""Score plugins, normalisation, weights and tie-breaking on both kernels."""

from __future__ import annotations

from typing import Any

import pytest

from pykube_core.scheduler import Profile, SchedulerKernel, ScorePlugin, ShapePoint, Strategy, default_kernel
from tests.scheduler.builders import (
    container,
    expression,
    make_node,
    make_pod,
    preferred_affinity,
    scheduler_for,
    taint,
    toleration,
)

Object = dict[str, Any]
MIB = 2**20


def scores_of(kernel: SchedulerKernel, nodes: list[Object], pod: Object, profile: Profile | None = None) -> dict[str, tuple[int, ...]]:
    return dict(scheduler_for(kernel, *nodes, profile=profile).schedule(pod).scores)


def plugin_scores(kernel: SchedulerKernel, nodes: list[Object], pod: Object, plugin: ScorePlugin, profile: Profile | None = None) -> dict[str, int]:
    return {name: row[plugin] for name, row in scores_of(kernel, nodes, pod, profile).items()}


FIT_CASES = [
    # cpu (4000 - 1000) * 100 / 4000 = 75, memory (8Gi - 2Gi) * 100 / 8Gi = 75
    pytest.param(Strategy.LEAST_ALLOCATED, "1", "2Gi", 75, id="least allocated"),
    # cpu 25, memory 25
    pytest.param(Strategy.MOST_ALLOCATED, "1", "2Gi", 25, id="most allocated"),
    # cpu 3000/4000 -> 75, memory 1Gi/8Gi -> 87 (12.5 truncated); mean 81
    pytest.param(Strategy.LEAST_ALLOCATED, "1", "1Gi", 81, id="least allocated uneven"),
    # over capacity scores 0 for least allocated
    pytest.param(Strategy.LEAST_ALLOCATED, "5", "1Gi", None, id="no fit no score"),
]


@pytest.mark.parametrize(("strategy", "cpu", "memory", "expected"), FIT_CASES)
def test_fit_score_strategy(kernel: SchedulerKernel, strategy: Strategy, cpu: str, memory: str, expected: int | None) -> None:
    scores = plugin_scores(
        kernel, [make_node("n")], make_pod(cpu=cpu, memory=memory), ScorePlugin.NODE_RESOURCES_FIT, Profile(strategy=strategy)
    )
    assert scores.get("n") == expected


def test_fit_score_defaults_for_empty_pod(kernel: SchedulerKernel) -> None:
    # 100m of 4 cpu: 97; 200Mi of 8Gi: (8192 - 200) * 100 / 8192 = 97
    scores = plugin_scores(kernel, [make_node("n")], make_pod(), ScorePlugin.NODE_RESOURCES_FIT)
    assert scores == {"n": 97}


RATIO_SHAPE = (ShapePoint(0, 0), ShapePoint(100, 10))


def test_fit_score_requested_to_capacity_ratio(kernel: SchedulerKernel) -> None:
    # cpu 25% -> 25, memory 50% -> 50; mean 37.5 rounds half away from zero to 38
    profile = Profile(strategy=Strategy.REQUESTED_TO_CAPACITY_RATIO, shape=RATIO_SHAPE)
    scores = plugin_scores(kernel, [make_node("n")], make_pod(cpu="1", memory="4Gi"), ScorePlugin.NODE_RESOURCES_FIT, profile)
    assert scores == {"n": 38}


def test_fit_score_decreasing_shape(kernel: SchedulerKernel) -> None:
    # cpu 30% on shape 10 -> 0 at 0..100%: 100 - 30 = 70; memory 25%: 75; mean 72.5 -> 73
    profile = Profile(strategy=Strategy.REQUESTED_TO_CAPACITY_RATIO, shape=(ShapePoint(0, 10), ShapePoint(100, 0)))
    pod = make_pod(cpu="1200m", memory="2Gi")
    scores = plugin_scores(kernel, [make_node("n")], pod, ScorePlugin.NODE_RESOURCES_FIT, profile)
    assert scores == {"n": 73}


BALANCED_CASES = [
    # cpu 0.25, memory 0.25: deviation 0
    pytest.param("1", "2Gi", 100, id="equal fractions"),
    # cpu 0.5, memory 0.125: deviation 0.1875 -> 81
    pytest.param("2", "1Gi", 81, id="uneven fractions"),
    pytest.param(None, None, 0, id="best effort pod skipped"),
]


@pytest.mark.parametrize(("cpu", "memory", "expected"), BALANCED_CASES)
def test_balanced_allocation(kernel: SchedulerKernel, cpu: str | None, memory: str | None, expected: int) -> None:
    scores = plugin_scores(kernel, [make_node("n")], make_pod(cpu=cpu, memory=memory), ScorePlugin.BALANCED_ALLOCATION)
    assert scores == {"n": expected}


def test_taint_toleration_score(kernel: SchedulerKernel) -> None:
    nodes = [
        make_node("clean"),
        make_node("one", taints=[taint("a", effect="PreferNoSchedule")]),
        make_node("two", taints=[taint("a", effect="PreferNoSchedule"), taint("b", effect="PreferNoSchedule")]),
    ]
    scores = plugin_scores(kernel, nodes, make_pod(), ScorePlugin.TAINT_TOLERATION)
    assert scores == {"clean": 100, "one": 50, "two": 0}


def test_taint_toleration_score_tolerated(kernel: SchedulerKernel) -> None:
    nodes = [make_node("one", taints=[taint("a", effect="PreferNoSchedule")]), make_node("clean")]
    pod = make_pod(tolerations=[toleration("a", operator="Exists", effect="PreferNoSchedule")])
    assert plugin_scores(kernel, nodes, pod, ScorePlugin.TAINT_TOLERATION) == {"one": 100, "clean": 100}


def test_taint_toleration_score_ignores_no_schedule_toleration(kernel: SchedulerKernel) -> None:
    nodes = [make_node("one", taints=[taint("a", effect="PreferNoSchedule")]), make_node("clean")]
    pod = make_pod(tolerations=[toleration("a", operator="Exists", effect="NoSchedule")])
    assert plugin_scores(kernel, nodes, pod, ScorePlugin.TAINT_TOLERATION) == {"one": 0, "clean": 100}


def test_node_affinity_score(kernel: SchedulerKernel) -> None:
    nodes = [make_node("a", labels={"zone": "a", "disk": "ssd"}), make_node("b", labels={"zone": "a"}), make_node("c")]
    pod = make_pod(
        affinity=preferred_affinity(
            (60, {"matchExpressions": [expression("zone", "In", "a")]}),
            (20, {"matchExpressions": [expression("disk", "Exists")]}),
        )
    )
    # raw 80, 60, 0 normalised against the maximum 80
    assert plugin_scores(kernel, nodes, pod, ScorePlugin.NODE_AFFINITY) == {"a": 100, "b": 75, "c": 0}


def test_image_locality_score(kernel: SchedulerKernel) -> None:
    nodes = [
        make_node("has", images=[(["nginx:latest"], 500 * MIB)]),
        make_node("also", images=[(["nginx:latest"], 500 * MIB)]),
        make_node("none"),
        make_node("small", images=[(["busybox:latest"], 5 * MIB)]),
    ]
    pod = make_pod(containers=[container(image="nginx")])
    # 500 MiB spread over 2 of 4 nodes counts 250 MiB: 100 * (250 - 23) / (1000 - 23) = 23
    assert plugin_scores(kernel, nodes, pod, ScorePlugin.IMAGE_LOCALITY) == {"has": 23, "also": 23, "none": 0, "small": 0}


def test_select_highest_total(kernel: SchedulerKernel) -> None:
    scheduler = scheduler_for(kernel, make_node("small", cpu="2"), make_node("large", cpu="16"))
    assert scheduler.schedule(make_pod(cpu="1", memory="1Gi")).node == "large"


def test_select_ties_spread(kernel: SchedulerKernel) -> None:
    nodes = [make_node(f"n{i}") for i in range(4)]
    scheduler = scheduler_for(kernel, *nodes, seed=7)
    chosen = {scheduler.schedule(make_pod()).node for _ in range(64)}
    assert chosen == {"n0", "n1", "n2", "n3"}


def test_select_same_seed_same_nodes(kernel: SchedulerKernel) -> None:
    first = scheduler_for(kernel, *[make_node(f"n{i}") for i in range(5)], seed=42)
    second = scheduler_for(kernel, *[make_node(f"n{i}") for i in range(5)], seed=42)
    assert [first.schedule(make_pod()).node for _ in range(20)] == [second.schedule(make_pod()).node for _ in range(20)]


def test_schedule_no_feasible_node(kernel: SchedulerKernel) -> None:
    result = scheduler_for(kernel, make_node("n", cpu="1")).schedule(make_pod(cpu="2"))
    assert result.node is None
    assert result.message() == "0/1 nodes are available: 1 Insufficient cpu."


def test_profile_rejects_bad_shape() -> None:
    with pytest.raises(ValueError, match="utilization 50 must be 0-100 and increase strictly"):
        Profile(strategy=Strategy.REQUESTED_TO_CAPACITY_RATIO, shape=(ShapePoint(50, 1), ShapePoint(50, 2)))


def test_pure_python_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYKUBE_PURE_PYTHON", "1")
    assert default_kernel().name == "py"
