"""Preemption: a real API server, hollow nodes and the scheduler daemon, plus the victim search on a NodeTable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pykube_core.scheduler import NodeTable, Scheduler
from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.errors import NotFound
from pykube_control.client.resource import EVENTS, POD_DISRUPTION_BUDGETS, PODS
from pykube_control.scheduler.daemon import SchedulerDaemon
from pykube_control.scheduler.nominator import Nominator
from pykube_control.scheduler.preemption import Candidate, Preemptor, candidate_rank, split_by_budget
from pykube_control.scheduler.queue import SchedulingQueue
from tests.scheduler_daemon.conftest import (
    TEST_INITIAL_BACKOFF,
    TEST_MAX_BACKOFF,
    condition,
    create_priority_class,
    get_pod,
    make_pod,
    wait_until,
)

Object = dict[str, Any]
NODE_A = "small-0"
NODE_B = "small-1"


@pytest.fixture
async def small_nodes(client: APIClient) -> AsyncIterator[FakeNodes]:
    """Two hollow nodes with 2 cpu each: small-0 and small-1."""
    fake = FakeNodes(client, 2, prefix="small-", cpu="2", lease_interval=1.0)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def classes(client: APIClient) -> None:
    await create_priority_class(client, "low", 100)
    await create_priority_class(client, "mid", 500)
    await create_priority_class(client, "high", 1000)
    await create_priority_class(client, "high-never", 1000, preemptionPolicy="Never")


@contextlib.asynccontextmanager
async def scheduling(client: APIClient) -> AsyncIterator[SchedulerDaemon]:
    queue = SchedulingQueue(initial_backoff=TEST_INITIAL_BACKOFF, max_backoff=TEST_MAX_BACKOFF)
    daemon = SchedulerDaemon(client, queue=queue)
    task = asyncio.create_task(daemon.run())
    try:
        yield daemon
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run_bound(client: APIClient, name: str, node: str, priority_class: str, labels: dict[str, str] | None = None) -> None:
    """Create a pod bound to ``node`` (1 cpu) and wait until the hollow node reports it Running."""
    pod = make_pod(name, cpu="1", priority_class_name=priority_class)
    pod["spec"]["nodeName"] = node
    if labels:
        pod["metadata"]["labels"] = labels
    await client.create(PODS, pod)

    async def started() -> bool:
        return (await get_pod(client, name)).get("status", {}).get("phase") == "Running"

    await wait_until(started, what=f"pod {name} Running")


async def exists(client: APIClient, name: str) -> bool:
    try:
        await client.get(PODS, name, namespace="default")
    except NotFound:
        return False
    return True


async def node_of(client: APIClient, name: str) -> str | None:
    return (await get_pod(client, name)).get("spec", {}).get("nodeName")


async def scheduled_message(client: APIClient, name: str) -> str | None:
    scheduled = condition(await get_pod(client, name), "PodScheduled")
    return None if scheduled is None or scheduled.get("status") != "False" else str(scheduled.get("message"))


async def fill_both_nodes(client: APIClient) -> None:
    await run_bound(client, "low-a", NODE_A, "low")
    await run_bound(client, "mid-a", NODE_A, "mid")
    await run_bound(client, "mid-b1", NODE_B, "mid")
    await run_bound(client, "mid-b2", NODE_B, "mid")


async def test_preempts_lowest_priority_pod(client: APIClient, small_nodes: FakeNodes, classes: None) -> None:
    await fill_both_nodes(client)

    async with scheduling(client):
        await client.create(PODS, make_pod("urgent", cpu="1", priority_class_name="high"))

        async def bound() -> bool:
            return await node_of(client, "urgent") is not None

        await wait_until(bound, what="pod urgent bound")

    assert await node_of(client, "urgent") == NODE_A
    assert not await exists(client, "low-a")
    for survivor in ("mid-a", "mid-b1", "mid-b2"):
        assert await exists(client, survivor), survivor
    urgent = await get_pod(client, "urgent")
    assert urgent["status"].get("nominatedNodeName") == NODE_A


async def test_preempted_event_recorded(client: APIClient, small_nodes: FakeNodes, classes: None) -> None:
    await fill_both_nodes(client)

    async with scheduling(client):
        urgent = await client.create(PODS, make_pod("urgent", cpu="1", priority_class_name="high"))

        async def recorded() -> bool:
            events = (await client.list(EVENTS, namespace="default")).get("items") or []
            return any(event.get("reason") == "Preempted" for event in events)

        await wait_until(recorded, what="a Preempted event")

    events = (await client.list(EVENTS, namespace="default")).get("items") or []
    event = next(event for event in events if event.get("reason") == "Preempted")
    assert event["involvedObject"]["name"] == "low-a"
    assert event["type"] == "Normal"
    assert event["message"] == f"Preempted by pod {urgent['metadata']['uid']} on node {NODE_A}"


async def test_preemptor_waits_for_victim(client: APIClient, small_nodes: FakeNodes, classes: None) -> None:
    await fill_both_nodes(client)
    # The finalizer keeps the deleted victim in the store, so its condition can be read.
    await client.patch(PODS, "low-a", {"metadata": {"finalizers": ["pykube.test/hold"]}}, namespace="default")

    async with scheduling(client):
        await client.create(PODS, make_pod("urgent", cpu="1", priority_class_name="high"))

        async def nominated() -> bool:
            return (await get_pod(client, "urgent")).get("status", {}).get("nominatedNodeName") == NODE_A

        await wait_until(nominated, what="pod urgent nominated on node A")

        async def victim_marked() -> bool:
            return condition(await get_pod(client, "low-a"), "DisruptionTarget") is not None

        await wait_until(victim_marked, what="DisruptionTarget on pod low-a")
        victim = await get_pod(client, "low-a")
        waiting_node = await node_of(client, "urgent")
        await client.patch(PODS, "low-a", {"metadata": {"finalizers": None}}, namespace="default")

        async def bound() -> bool:
            return await node_of(client, "urgent") is not None

        await wait_until(bound, what="pod urgent bound after its victim is gone")

    target = condition(victim, "DisruptionTarget")
    assert target is not None
    assert target["reason"] == "PreemptionByScheduler"
    assert target["message"] == "default-scheduler: preempting to accommodate a higher priority pod"
    assert victim["metadata"].get("deletionTimestamp")
    assert waiting_node is None
    assert await node_of(client, "urgent") == NODE_A


async def test_budget_steers_node_choice(client: APIClient, small_nodes: FakeNodes, classes: None) -> None:
    await run_bound(client, "guarded-1", NODE_A, "low", {"app": "guarded"})
    await run_bound(client, "guarded-2", NODE_A, "low", {"app": "guarded"})
    await run_bound(client, "free-1", NODE_B, "mid", {"app": "free"})
    await run_bound(client, "free-2", NODE_B, "mid", {"app": "free"})
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "guarded", "namespace": "default"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}},
    }
    created = await client.create(POD_DISRUPTION_BUDGETS, budget)
    created["status"] = {
        "observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 2, "desiredHealthy": 2, "expectedPods": 2,
    }  # fmt: skip
    await client.update_status(POD_DISRUPTION_BUDGETS, created)

    async with scheduling(client):
        await client.create(PODS, make_pod("urgent", cpu="2", priority_class_name="high"))

        async def bound() -> bool:
            return await node_of(client, "urgent") is not None

        await wait_until(bound, what="pod urgent bound")

    # Node A's victims have the lower priority, but evicting them would break the budget.
    assert await node_of(client, "urgent") == NODE_B
    assert await exists(client, "guarded-1")
    assert await exists(client, "guarded-2")
    assert not await exists(client, "free-1")
    assert not await exists(client, "free-2")


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        pytest.param(
            make_pod("waiting", cpu="1", priority_class_name="high-never"),
            "0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
            id="never",
        ),
        pytest.param(
            make_pod("waiting", cpu="1", priority_class_name="low"),
            "0/2 nodes are available: 2 Insufficient cpu. "
            "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
            id="no lower priority",
        ),
        pytest.param(
            make_pod("waiting", cpu="1", priority_class_name="high", node_selector={"disk": "nvme"}),
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
            id="not helpful",
        ),
        pytest.param(
            make_pod("waiting", cpu="3", priority_class_name="high"),
            "0/2 nodes are available: 2 Insufficient cpu. "
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
            id="larger than allocatable",
        ),
    ],
)
async def test_failed_preemption_message(
    client: APIClient, small_nodes: FakeNodes, classes: None, pod: Object, expected: str
) -> None:
    await fill_both_nodes(client)

    async with scheduling(client) as daemon:
        await client.create(PODS, pod)

        async def reported() -> bool:
            return await scheduled_message(client, "waiting") is not None

        await wait_until(reported, what="PodScheduled=False on pod waiting")

    assert await scheduled_message(client, "waiting") == expected
    assert daemon.post_filter.preemptions == 0
    for survivor in ("low-a", "mid-a", "mid-b1", "mid-b2"):
        assert await exists(client, survivor), survivor


# --- the victim search on a NodeTable, without a server --------------------------------------


def node(name: str, cpu: str = "2") -> Object:
    return {"metadata": {"name": name, "labels": {}}, "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}


def table_pod(name: str, priority: int, cpu: str = "1", node_name: str | None = None, **metadata: Any) -> Object:
    spec: Object = {
        "priority": priority,
        "containers": [{"name": "app", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}],
    }
    if node_name is not None:
        spec["nodeName"] = node_name
    return {"metadata": {"name": name, "namespace": "default", **metadata}, "spec": spec, "status": {}}


class Cluster:
    """A NodeTable with bound pods, and the pods_on view the Preemptor reads."""

    def __init__(self, *nodes: Object) -> None:
        self.table = NodeTable()
        for item in nodes:
            self.table.add_node(item)
        self.scheduler = Scheduler(self.table)
        self.bound: dict[str, list[Object]] = {}

    def bind(self, pod: Object) -> None:
        self.table.add_pod(pod)
        self.bound.setdefault(pod["spec"]["nodeName"], []).append(pod)

    def pods_on(self, name: str) -> list[Object]:
        return self.bound.get(name, [])

    def preempt(self, pod: Object, budgets: list[Object] | None = None) -> Candidate | None:
        filtered = self.scheduler.filter(pod)
        return Preemptor(self.scheduler, self.pods_on).preempt(pod, filtered, budgets or []).candidate


def names(candidate: Candidate | None) -> list[str]:
    assert candidate is not None
    return sorted(victim["metadata"]["name"] for victim in candidate.victims)


def test_search_spares_higher_priority() -> None:
    cluster = Cluster(node("a"))
    cluster.bind(table_pod("low", 10, node_name="a"))
    cluster.bind(table_pod("mid", 50, node_name="a"))

    candidate = cluster.preempt(table_pod("urgent", 100))

    assert names(candidate) == ["low"]


def test_search_restores_table() -> None:
    cluster = Cluster(node("a"), node("b"))
    cluster.bind(table_pod("low", 10, node_name="a"))
    cluster.bind(table_pod("mid", 50, node_name="b", cpu="2"))
    before = {name: cluster.table.requested(name) for name in ("a", "b")}

    cluster.preempt(table_pod("urgent", 100, cpu="2"))

    assert {name: cluster.table.requested(name) for name in ("a", "b")} == before


def test_search_prefers_fewer_victims() -> None:
    cluster = Cluster(node("a"), node("b"))
    cluster.bind(table_pod("a-1", 10, node_name="a"))
    cluster.bind(table_pod("a-2", 10, node_name="a"))
    cluster.bind(table_pod("b-1", 10, node_name="b", cpu="2"))

    candidate = cluster.preempt(table_pod("urgent", 100, cpu="2"))

    assert candidate is not None
    assert candidate.node == "b"


def test_search_prefers_later_start() -> None:
    cluster = Cluster(node("a"), node("b"))
    cluster.bind({**table_pod("old", 10, cpu="2", node_name="a"), "status": {"startTime": "2026-01-01T00:00:00Z"}})
    cluster.bind({**table_pod("new", 10, cpu="2", node_name="b"), "status": {"startTime": "2026-06-01T00:00:00Z"}})

    candidate = cluster.preempt(table_pod("urgent", 100, cpu="2"))

    assert candidate is not None
    assert candidate.node == "b"


def test_budget_violations_counted_in_order() -> None:
    pods = [table_pod(f"web-{i}", 10, labels={"app": "web"}) for i in range(3)]
    budget = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 1, "disruptedPods": {"web-2": "2026-01-01T00:00:00Z"}},
    }

    violating, other = split_by_budget(pods, [budget])

    assert [pod["metadata"]["name"] for pod in violating] == ["web-1"]
    assert [pod["metadata"]["name"] for pod in other] == ["web-0", "web-2"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(Candidate("a", (table_pod("x", 500),), 0), Candidate("b", (table_pod("y", 10),), 1), id="violations"),
        pytest.param(Candidate("a", (table_pod("x", 10),), 0), Candidate("b", (table_pod("y", 20),), 0), id="highest priority"),
        pytest.param(
            Candidate("a", (table_pod("x", 10), table_pod("y", 10)), 0),
            Candidate("b", (table_pod("z", 10), table_pod("w", 10), table_pod("v", 10)), 0),
            id="priority sum",
        ),
    ],
)
def test_candidate_rank_order(first: Candidate, second: Candidate) -> None:
    assert candidate_rank(first) < candidate_rank(second)


def test_nominated_pod_reserves_room() -> None:
    cluster = Cluster(node("a"))
    nominator = Nominator()
    nominator.nominate(table_pod("urgent", 100, cpu="2"), "a", ())

    reserved_for_low = nominator.reserve(cluster.table, table_pod("low", 10))
    requested_during = cluster.table.requested("a")["cpu"]
    nominator.release(cluster.table, reserved_for_low)
    reserved_for_higher = nominator.reserve(cluster.table, table_pod("top", 1000))

    assert requested_during == 2000
    assert cluster.table.requested("a")["cpu"] == 0
    assert reserved_for_higher == []


def test_nomination_displaces_lower() -> None:
    nominator = Nominator()
    nominator.nominate(table_pod("mid", 50), "a", ())

    displaced = nominator.nominate(table_pod("urgent", 100), "a", ())

    assert [pod["metadata"]["name"] for pod in displaced] == ["mid"]
    assert "default/mid" not in nominator
