"""InterPodAffinity: filter verdicts, reasons and scores on both kernels."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from pykube_core.scheduler import NodeTable, Profile, Scheduler, SchedulerKernel, ScorePlugin, Status
from tests.scheduler.builders import (
    HOSTNAME,
    ZONE,
    labeled,
    load_kernel,
    make_pod,
    pod_affinity,
    pod_term,
    selector,
    zoned_node,
)

Object = dict[str, Any]

AFFINITY = "node(s) didn't match pod affinity rules"
ANTI = "node(s) didn't match pod anti-affinity rules"
EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules"

DB, WEB = selector(app="db"), selector(app="web")
A1, A2, B1 = zoned_node("a1", "a"), zoned_node("a2", "a"), zoned_node("b1", "b")
NODES = [A1, A2, B1]


def pod(name: str, app: str, namespace: str | None = None, **affinity: Any) -> Object:
    spec: dict[str, Any] = {"affinity": pod_affinity(**affinity)} if affinity else {}
    return labeled(make_pod(name, **spec), namespace=namespace, app=app)


def build(
    kernel: SchedulerKernel,
    nodes: Sequence[Object],
    placed: Sequence[tuple[Object, str]],
    *,
    table: NodeTable | None = None,
    profile: Profile | None = None,
) -> Scheduler:
    table = table if table is not None else NodeTable()
    for node in nodes:
        table.add_node(node)
    for placed_pod, node_name in placed:
        table.assume_pod(placed_pod, node_name)
    return Scheduler(table, kernel=kernel, profile=profile)


def verdicts(scheduler: Scheduler, incoming: Object) -> dict[str, str]:
    """Return per node the first reason it was rejected with, or "" when it fits."""
    result = scheduler.filter(incoming)
    found = {name: "" for name in result.node_names}
    for verdict in result.rejected:
        found[verdict.node] = verdict.reasons[0]
    return found


FILTER_CASES = [
    pytest.param(
        [(pod("db", "db"), "a1")],
        pod("in", "web", required=[pod_term(DB, ZONE)]),
        {"a1": "", "a2": "", "b1": AFFINITY},
        id="affinity to the zone of a pod",
    ),
    pytest.param(
        [],
        pod("in", "web", required=[pod_term(DB, ZONE)]),
        {"a1": AFFINITY, "a2": AFFINITY, "b1": AFFINITY},
        id="affinity with no matching pod",
    ),
    pytest.param(
        [], pod("in", "web", required=[pod_term(WEB, ZONE)]), {"a1": "", "a2": "", "b1": ""}, id="first pod of a self-affine group"
    ),
    pytest.param(
        [(pod("w", "web"), "b1")],
        pod("in", "web", required=[pod_term(WEB, ZONE)]),
        {"a1": AFFINITY, "a2": AFFINITY, "b1": ""},
        id="self-affine group already placed",
    ),
    pytest.param(
        [(pod("db", "db"), "a1")],
        pod("in", "web", required=[pod_term(DB, ZONE), pod_term(WEB, HOSTNAME)]),
        {"a1": AFFINITY, "a2": AFFINITY, "b1": AFFINITY},
        id="existing pod must match every term",
    ),
    pytest.param(
        [(pod("w", "web"), "a1")],
        pod("in", "web", anti_required=[pod_term(WEB, HOSTNAME)]),
        {"a1": ANTI, "a2": "", "b1": ""},
        id="anti-affinity per host",
    ),
    pytest.param(
        [(pod("w", "web"), "a1")],
        pod("in", "web", anti_required=[pod_term(WEB, ZONE)]),
        {"a1": ANTI, "a2": ANTI, "b1": ""},
        id="anti-affinity per zone",
    ),
    pytest.param(
        [(pod("w", "web"), "a1")],
        pod("in", "web", anti_required=[pod_term(None, ZONE)]),
        {"a1": "", "a2": "", "b1": ""},
        id="nil selector selects no pod",
    ),
    pytest.param(
        [(pod("w", "web"), "a1")],
        pod("in", "web", anti_required=[pod_term({}, ZONE)]),
        {"a1": ANTI, "a2": ANTI, "b1": ""},
        id="empty selector selects every pod",
    ),
    pytest.param(
        [(pod("db", "db", anti_required=[pod_term(WEB, ZONE)]), "a1")],
        pod("in", "web"),
        {"a1": EXISTING, "a2": EXISTING, "b1": ""},
        id="existing pod's anti-affinity",
    ),
    pytest.param(
        [(pod("db", "db", anti_required=[pod_term(WEB, ZONE)]), "a1")],
        pod("in", "api"),
        {"a1": "", "a2": "", "b1": ""},
        id="existing anti-affinity not selecting",
    ),
    pytest.param(
        [(pod("db", "db", namespace="data", anti_required=[pod_term(WEB, ZONE)]), "a1")],
        pod("in", "web"),
        {"a1": "", "a2": "", "b1": ""},
        id="existing anti-affinity in its own namespace",
    ),
    pytest.param(
        [(pod("db", "db"), "a1")],
        pod("in", "web", required=[pod_term(DB, ZONE, namespaces=["data"])]),
        {"a1": AFFINITY, "a2": AFFINITY, "b1": AFFINITY},
        id="term namespaces exclude the pod",
    ),
    pytest.param(
        [(pod("db", "db", namespace="data"), "a1")],
        pod("in", "web", required=[pod_term(DB, ZONE, namespaces=["data"])]),
        {"a1": "", "a2": "", "b1": AFFINITY},
        id="term namespaces include the pod",
    ),
    pytest.param(
        [(pod("db", "db", namespace="data"), "a1")],
        pod("in", "web", required=[pod_term(DB, ZONE, namespaceSelector={})]),
        {"a1": "", "a2": "", "b1": AFFINITY},
        id="empty namespaceSelector selects all",
    ),
    pytest.param(
        [(pod("db", "db"), "a1")],
        pod("in", "web", required=[pod_term(DB, ZONE)], anti_required=[pod_term(DB, HOSTNAME)]),
        {"a1": ANTI, "a2": "", "b1": AFFINITY},
        id="affinity before anti-affinity",
    ),
]


@pytest.mark.parametrize(("placed", "incoming", "expected"), FILTER_CASES)
def test_affinity_filter(kernel: SchedulerKernel, placed: list[tuple[Object, str]], incoming: Object, expected: dict[str, str]) -> None:
    assert verdicts(build(kernel, NODES, placed), incoming) == expected


def test_affinity_filter_node_without_key(kernel: SchedulerKernel) -> None:
    scheduler = build(kernel, [A1, zoned_node("n0", None)], [(pod("db", "db"), "a1")])
    assert verdicts(scheduler, pod("in", "web", required=[pod_term(DB, ZONE)])) == {"a1": "", "n0": AFFINITY}


def test_affinity_filter_statuses(kernel: SchedulerKernel) -> None:
    placed = [(pod("db", "db", anti_required=[pod_term(WEB, HOSTNAME)]), "a1"), (pod("w", "web"), "a2")]
    scheduler = build(kernel, NODES, placed)
    result = scheduler.filter(pod("in", "web", required=[pod_term(WEB, ZONE)], anti_required=[pod_term(WEB, HOSTNAME)]))
    statuses = {verdict.node: (verdict.status, verdict.plugin) for verdict in result.rejected}
    assert statuses["a1"] == (Status.UNSCHEDULABLE, "InterPodAffinity")
    assert statuses["a2"] == (Status.UNSCHEDULABLE, "InterPodAffinity")
    assert statuses["b1"] == (Status.UNSCHEDULABLE_AND_UNRESOLVABLE, "InterPodAffinity")


def test_affinity_namespace_resolver(kernel: SchedulerKernel) -> None:
    labels = {"data": {"team": "storage"}, "default": {}}

    def resolve(namespace_selector: Mapping[str, Any]) -> list[str]:
        wanted = namespace_selector.get("matchLabels") or {}
        return [name for name, found in labels.items() if all(found.get(k) == v for k, v in wanted.items())]

    table = NodeTable(namespace_resolver=resolve)
    scheduler = build(kernel, NODES, [(pod("db", "db", namespace="data"), "b1")], table=table)
    incoming = pod("in", "web", required=[pod_term(DB, ZONE, namespaceSelector=selector(team="storage"))])
    assert verdicts(scheduler, incoming) == {"a1": AFFINITY, "a2": AFFINITY, "b1": ""}


def test_affinity_removed_pod_forgotten(kernel: SchedulerKernel) -> None:
    blocker = pod("db", "db", anti_required=[pod_term(WEB, ZONE)])
    scheduler = build(kernel, NODES, [(blocker, "a1")])
    scheduler.table.remove_pod(blocker)
    assert verdicts(scheduler, pod("in", "web")) == {"a1": "", "a2": "", "b1": ""}


def affinity_scores(
    kernel: SchedulerKernel, placed: Sequence[tuple[Object, str]], incoming: Object, profile: Profile | None = None
) -> dict[str, int]:
    result = build(kernel, NODES, placed, profile=profile).schedule(incoming)
    return {name: row[ScorePlugin.INTER_POD_AFFINITY] for name, row in result.scores.items()}


SCORE_CASES = [
    pytest.param(
        [(pod("db", "db"), "a1")], pod("in", "web", preferred=[(10, pod_term(DB, ZONE))]), {"a1": 100, "a2": 100, "b1": 0}, id="preferred affinity"
    ),
    pytest.param(
        [(pod("db", "db"), "a1")], pod("in", "web", anti_preferred=[(10, pod_term(DB, ZONE))]), {"a1": 0, "a2": 0, "b1": 100}, id="preferred anti-affinity"
    ),
    pytest.param(
        [(pod("db", "db"), "a1"), (pod("w", "web"), "b1")],
        # Zone a sums 30 and zone b 10; the minimum, 10, normalises to 0.
        pod("in", "web", preferred=[(30, pod_term(DB, ZONE)), (10, pod_term(WEB, ZONE))]),
        {"a1": 100, "a2": 100, "b1": 0},
        id="weights sum per domain",
    ),
    pytest.param(
        [(pod("db", "db", required=[pod_term(WEB, ZONE)]), "a1")], pod("in", "web"), {"a1": 100, "a2": 100, "b1": 0}, id="existing required affinity"
    ),
    pytest.param(
        [(pod("db", "db", preferred=[(5, pod_term(WEB, HOSTNAME))]), "a2")], pod("in", "web"), {"a1": 0, "a2": 100, "b1": 0}, id="existing preferred affinity"
    ),
    pytest.param(
        [(pod("db", "db", anti_preferred=[(5, pod_term(WEB, HOSTNAME))]), "a1")],
        pod("in", "web"),
        {"a1": 0, "a2": 100, "b1": 100},
        id="existing preferred anti-affinity",
    ),
    pytest.param([(pod("db", "db"), "a1")], pod("in", "web"), {"a1": 0, "a2": 0, "b1": 0}, id="no terms"),
]


@pytest.mark.parametrize(("placed", "incoming", "expected"), SCORE_CASES)
def test_affinity_score(kernel: SchedulerKernel, placed: list[tuple[Object, str]], incoming: Object, expected: dict[str, int]) -> None:
    assert affinity_scores(kernel, placed, incoming) == expected


def test_affinity_score_partial_range(kernel: SchedulerKernel) -> None:
    # a1 30, a2 30 + 10 = 40, b1 20: the range [20, 40] maps a1 to
    # int(100 * 10 / 20) = 50.
    placed = [(pod("db", "db"), "a1"), (pod("w", "web"), "a2"), (pod("api", "api"), "b1")]
    preferred = [(30, pod_term(DB, ZONE)), (10, pod_term(WEB, HOSTNAME)), (20, pod_term(selector(app="api"), ZONE))]
    assert affinity_scores(kernel, placed, pod("in", "web", preferred=preferred)) == {"a1": 50, "a2": 100, "b1": 0}


def test_affinity_score_hard_weight_zero(kernel: SchedulerKernel) -> None:
    placed = [(pod("db", "db", required=[pod_term(WEB, ZONE)]), "a1")]
    scores = affinity_scores(kernel, placed, pod("in", "web"), Profile(hard_pod_affinity_weight=0))
    assert scores == {"a1": 0, "a2": 0, "b1": 0}


def test_affinity_score_hard_weight_range(kernel: SchedulerKernel) -> None:
    with pytest.raises(ValueError, match="hard_pod_affinity_weight"):
        Profile(hard_pod_affinity_weight=101)


def test_native_rejects_owned_incoming_term() -> None:
    native = load_kernel("native")
    scheduler = build(native, NODES, [])
    compiled = scheduler.compile(pod("in", "web", required=[pod_term(WEB, ZONE)]))
    broken = dataclasses.replace(compiled, terms=dataclasses.replace(compiled.terms, owners=np.array([3], dtype=np.int64)))
    with pytest.raises(ValueError, match=r"PodArrays.terms.owners\[0\]: 3 is not a pod slot"):
        native.filter_nodes(scheduler.table.arrays(), broken)
