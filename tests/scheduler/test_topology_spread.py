"""PodTopologySpread: filter verdicts, reasons and scores on both kernels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pykube_core.scheduler import Scheduler, SchedulerKernel, ScorePlugin, Status
from tests.scheduler.builders import (
    ZONE,
    labeled,
    make_pod,
    selector,
    spread,
    table_of,
    taint,
    zoned_node,
)

Object = dict[str, Any]

SKEW = "node(s) didn't match pod topology spread constraints"
MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"
AFFINITY = "node(s) didn't match Pod's node affinity/selector"
TAINTED = "node(s) had untolerated taint(s)"

WEB = selector(app="web")


def web(name: str, **labels: str) -> Object:
    return labeled(make_pod(name), {"app": "web", **labels})


def spread_pod(*constraints: Object, labels: Mapping[str, str] | None = None, **spec: Any) -> Object:
    return labeled(make_pod("incoming", topologySpreadConstraints=list(constraints), **spec), dict(labels or {"app": "web"}))


def build(kernel: SchedulerKernel, nodes: Sequence[Object], placed: Sequence[tuple[Object, str]]) -> Scheduler:
    table = table_of(*nodes)
    for pod, node in placed:
        table.assume_pod(pod, node)
    return Scheduler(table, kernel=kernel)


def verdicts(kernel: SchedulerKernel, nodes: Sequence[Object], placed: Sequence[tuple[Object, str]], pod: Object) -> dict[str, str]:
    """Return per node the first reason it was rejected with, or "" when it fits."""
    result = build(kernel, nodes, placed).filter(pod)
    found = {name: "" for name in result.node_names}
    for verdict in result.rejected:
        found[verdict.node] = verdict.reasons[0]
    return found


A1, A2, B1, C1 = zoned_node("a1", "a"), zoned_node("a2", "a"), zoned_node("b1", "b"), zoned_node("c1", "c")
UNZONED = zoned_node("n0", None)

FILTER_CASES = [
    pytest.param([A1, B1], [(web("w1"), "a1")], spread_pod(spread(ZONE, 1, WEB)), {"a1": SKEW, "b1": ""}, id="skew above max"),
    pytest.param([A1, B1], [(web("w1"), "a1")], spread_pod(spread(ZONE, 2, WEB)), {"a1": "", "b1": ""}, id="skew within max"),
    pytest.param([A1, UNZONED], [], spread_pod(spread(ZONE, 1, WEB)), {"a1": "", "n0": MISSING}, id="node without topology key"),
    pytest.param(
        [A1, B1],
        [(web("w1"), "a1"), (web("w2"), "b1")],
        spread_pod(spread(ZONE, 1, WEB, minDomains=3)),
        {"a1": SKEW, "b1": SKEW},
        id="fewer domains than minDomains",
    ),
    pytest.param(
        [A1, B1],
        [(web("w1"), "a1"), (web("w2"), "b1")],
        spread_pod(spread(ZONE, 1, WEB, minDomains=2)),
        {"a1": "", "b1": ""},
        id="enough domains for minDomains",
    ),
    pytest.param(
        [A1, B1], [(web("w1"), "a1")], spread_pod(spread(ZONE, 1, WEB), labels={"app": "api"}), {"a1": "", "b1": ""}, id="pod outside its own selector"
    ),
    pytest.param(
        [A1, B1], [(labeled(make_pod("w1"), terminating=True, app="web"), "a1")], spread_pod(spread(ZONE, 1, WEB)), {"a1": "", "b1": ""}, id="terminating pod not counted"
    ),
    pytest.param(
        [A1, B1], [(labeled(make_pod("w1"), namespace="other", app="web"), "a1")], spread_pod(spread(ZONE, 1, WEB)), {"a1": "", "b1": ""}, id="other namespace not counted"
    ),
    pytest.param(
        [A1, B1], [(web("w1"), "a1")], spread_pod(spread(ZONE, 1, None)), {"a1": "", "b1": ""}, id="nil selector counts nothing"
    ),
    pytest.param(
        [A1, A2, B1],
        [(web("w1"), "a1")],
        spread_pod(spread(ZONE, 1, WEB), nodeSelector={ZONE: "a"}),
        {"a1": "", "a2": "", "b1": AFFINITY},
        id="node affinity policy honor",
    ),
    pytest.param(
        [A1, A2, B1],
        [(web("w1"), "a1")],
        spread_pod(spread(ZONE, 1, WEB, nodeAffinityPolicy="Ignore"), nodeSelector={ZONE: "a"}),
        {"a1": SKEW, "a2": SKEW, "b1": AFFINITY},
        id="node affinity policy ignore",
    ),
    pytest.param(
        [A1, zoned_node("b1", "b", taints=[taint("dedicated")])],
        [(web("w1"), "a1")],
        spread_pod(spread(ZONE, 1, WEB, nodeTaintsPolicy="Honor")),
        {"a1": "", "b1": TAINTED},
        id="node taints policy honor",
    ),
    pytest.param(
        [A1, zoned_node("b1", "b", taints=[taint("dedicated")])],
        [(web("w1"), "a1")],
        spread_pod(spread(ZONE, 1, WEB)),
        {"a1": SKEW, "b1": TAINTED},
        id="node taints policy ignore",
    ),
    pytest.param(
        [A1, B1],
        [(web("w1", version="v1"), "a1")],
        spread_pod(spread(ZONE, 1, WEB, matchLabelKeys=["version"]), labels={"app": "web", "version": "v2"}),
        {"a1": "", "b1": ""},
        id="matchLabelKeys narrows the selector",
    ),
    pytest.param(
        [A1, B1],
        [(web("w1", version="v2"), "a1")],
        spread_pod(spread(ZONE, 1, WEB, matchLabelKeys=["version"]), labels={"app": "web", "version": "v2"}),
        {"a1": SKEW, "b1": ""},
        id="matchLabelKeys same value",
    ),
    pytest.param(
        [A1, B1],
        [(web("w1"), "a1")],
        spread_pod(spread(ZONE, 1, WEB, hard=False)),
        {"a1": "", "b1": ""},
        id="schedule anyway never filters",
    ),
    pytest.param(
        [zoned_node("a1", "a", labels={"rack": "r1"}), zoned_node("b1", "b")],
        [],
        spread_pod(spread(ZONE, 1, WEB), spread("rack", 1, WEB)),
        {"a1": "", "b1": MISSING},
        id="every key required",
    ),
]


@pytest.mark.parametrize(("nodes", "placed", "pod", "expected"), FILTER_CASES)
def test_spread_filter(
    kernel: SchedulerKernel, nodes: list[Object], placed: list[tuple[Object, str]], pod: Object, expected: dict[str, str]
) -> None:
    assert verdicts(kernel, nodes, placed, pod) == expected


def test_spread_filter_statuses(kernel: SchedulerKernel) -> None:
    result = build(kernel, [A1, UNZONED], [(web("w1"), "a1"), (web("w2"), "a1")]).filter(spread_pod(spread(ZONE, 1, WEB)))
    statuses = {verdict.node: (verdict.status, verdict.plugin) for verdict in result.rejected}
    assert statuses["n0"] == (Status.UNSCHEDULABLE_AND_UNRESOLVABLE, "PodTopologySpread")


def test_spread_filter_skew_status(kernel: SchedulerKernel) -> None:
    result = build(kernel, [A1, B1], [(web("w1"), "a1")]).filter(spread_pod(spread(ZONE, 1, WEB)))
    statuses = {verdict.node: (verdict.status, verdict.plugin) for verdict in result.rejected}
    assert statuses == {"a1": (Status.UNSCHEDULABLE, "PodTopologySpread")}


def test_spread_message(kernel: SchedulerKernel) -> None:
    # b1 fits, so the summary counts 3 nodes; a shorter reason sorts first.
    result = build(kernel, [A1, B1, UNZONED], [(web("w1"), "a1")]).filter(spread_pod(spread(ZONE, 1, WEB)))
    assert result.message() == f"0/3 nodes are available: 1 {SKEW}, 1 {MISSING}."


def spread_scores(
    kernel: SchedulerKernel, nodes: Sequence[Object], placed: Sequence[tuple[Object, str]], pod: Object, **kwargs: Any
) -> dict[str, int]:
    result = build(kernel, nodes, placed).schedule(pod, **kwargs)
    return {name: row[ScorePlugin.POD_TOPOLOGY_SPREAD] for name, row in result.scores.items()}


def test_spread_score_prefers_emptier_zone(kernel: SchedulerKernel) -> None:
    # Three domains weigh log(3 + 2) = 1.609 per pod: raw a1 round(3.22) = 3,
    # b1 round(1.61) = 2, c1 0; normalised 100 * (3 + 0 - raw) / 3.
    placed = [(web("w1"), "a1"), (web("w2"), "a1"), (web("w3"), "b1")]
    scores = spread_scores(kernel, [A1, B1, C1], placed, spread_pod(spread(ZONE, 1, WEB, hard=False)))
    assert scores == {"a1": 0, "b1": 33, "c1": 100}


def test_spread_score_ignores_unlabelled_node(kernel: SchedulerKernel) -> None:
    scores = spread_scores(kernel, [A1, UNZONED], [], spread_pod(spread(ZONE, 1, WEB, hard=False)))
    assert scores == {"a1": 100, "n0": 0}


def test_spread_score_without_constraints(kernel: SchedulerKernel) -> None:
    scores = spread_scores(kernel, [A1, B1], [(web("w1"), "a1")], web("incoming"))
    assert scores == {"a1": 0, "b1": 0}


def test_spread_score_system_defaults(kernel: SchedulerKernel) -> None:
    # hostname (maxSkew 3) and zone (maxSkew 5) each weigh log(2 + 2) = 1.386
    # per pod: a1 1.386 + 2 + 1.386 + 4 = 8.77 -> 9, b1 2 + 4 = 6;
    # normalised 100 * (9 + 6 - raw) / 9.
    scores = spread_scores(kernel, [A1, B1], [(web("w1"), "a1")], web("incoming"), spread_selectors=[WEB])
    assert scores == {"a1": 66, "b1": 100}


def test_spread_score_system_defaults_keep_unzoned_node(kernel: SchedulerKernel) -> None:
    # The unzoned node is not ignored but gets no zone term: n0 scores
    # 1 * log(4) + 2 = 3.39 -> 3, a1 scores 2 + 4 = 6 although it has no pod;
    # normalised 100 * (6 + 3 - raw) / 6.
    scores = spread_scores(kernel, [A1, UNZONED], [(web("w1"), "n0")], web("incoming"), spread_selectors=[WEB])
    assert scores == {"a1": 50, "n0": 100}


def test_spread_score_empty_default_selector(kernel: SchedulerKernel) -> None:
    scores = spread_scores(kernel, [A1, B1], [(web("w1"), "a1")], web("incoming"), spread_selectors=[{}])
    assert scores == {"a1": 0, "b1": 0}


def test_spread_total_weight(kernel: SchedulerKernel) -> None:
    result = build(kernel, [A1, B1], [(web("w1"), "a1")]).schedule(spread_pod(spread(ZONE, 1, WEB, hard=False)))
    assert result.node == "b1"
