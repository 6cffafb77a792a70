"""Pods that no node fits: their condition and event, no busy retries, and scheduling once room appears."""

from __future__ import annotations

import asyncio

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.resource import EVENTS, PODS
from pykube_control.scheduler.daemon import SchedulerDaemon
from tests.scheduler_daemon.conftest import condition, create_priority_class, get_pod, make_pod, wait_until

# A pod larger than any node's allocatable cannot fit even on an empty node, so preemption cannot help.
TOO_BIG_MESSAGE = (
    "0/20 nodes are available: 20 Insufficient cpu."
    " preemption: 0/20 nodes are available: 20 Preemption is not helpful for scheduling."
)
QUIET_SECONDS = 3.0
"""How long an unschedulable pod is watched for retries while nothing in the cluster changes."""


async def unschedulable_message(client: APIClient, name: str) -> str | None:
    scheduled = condition(await get_pod(client, name), "PodScheduled")
    if scheduled is None or scheduled.get("reason") != "Unschedulable":
        return None
    return str(scheduled.get("message"))


async def test_too_big_condition(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    await client.create(PODS, make_pod("huge", cpu="64"))

    async def reported() -> bool:
        return await unschedulable_message(client, "huge") is not None

    await wait_until(reported, what="PodScheduled=False on pod huge")
    scheduled = condition(await get_pod(client, "huge"), "PodScheduled")
    assert scheduled is not None
    assert scheduled["status"] == "False"
    assert scheduled["reason"] == "Unschedulable"
    assert scheduled["message"] == TOO_BIG_MESSAGE


async def test_too_big_event(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    await client.create(PODS, make_pod("huge", cpu="64"))

    async def event_recorded() -> bool:
        events = (await client.list(EVENTS, namespace="default")).get("items") or []
        return any(e.get("reason") == "FailedScheduling" for e in events)

    await wait_until(event_recorded, what="a FailedScheduling event")
    events = (await client.list(EVENTS, namespace="default")).get("items") or []
    event = next(e for e in events if e.get("reason") == "FailedScheduling")
    assert event["type"] == "Warning"
    assert event["message"] == TOO_BIG_MESSAGE
    assert event["involvedObject"]["name"] == "huge"
    assert event["source"]["component"] == "default-scheduler"


async def test_too_big_not_retried_busily(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    await client.create(PODS, make_pod("huge", cpu="64"))

    async def reported() -> bool:
        return await unschedulable_message(client, "huge") is not None

    await wait_until(reported, what="PodScheduled=False on pod huge")
    before = scheduler.attempts["default/huge"]
    await asyncio.sleep(QUIET_SECONDS)
    assert scheduler.attempts["default/huge"] - before <= 1
    assert scheduler.queue.location("default/huge") == "unschedulable"


async def test_too_big_blocks_nothing(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    # The big pod has the higher priority, so it is always tried first.
    await create_priority_class(client, "high", 1000)
    await client.create(PODS, make_pod("huge", cpu="64", priority_class_name="high"))
    await asyncio.gather(*(client.create(PODS, make_pod(f"small-{i}")) for i in range(10)))

    async def smalls_running() -> bool:
        pods = [await get_pod(client, f"small-{i}") for i in range(10)]
        return all(p.get("status", {}).get("phase") == "Running" for p in pods)

    await wait_until(smalls_running, what="10 small pods Running")
    assert "nodeName" not in (await get_pod(client, "huge"))["spec"]


async def test_too_big_fits_new_node(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    await client.create(PODS, make_pod("huge", cpu="64"))

    async def reported() -> bool:
        return await unschedulable_message(client, "huge") is not None

    await wait_until(reported, what="PodScheduled=False on pod huge")
    big = FakeNodes(client, 1, prefix="big-node-", cpu="96", memory="256Gi", first_index=100)
    await big.start()
    try:

        async def running() -> bool:
            return bool((await get_pod(client, "huge")).get("status", {}).get("phase") == "Running")

        await wait_until(running, what="pod huge Running on the big node")
        assert (await get_pod(client, "huge"))["spec"]["nodeName"] == "big-node-100"
    finally:
        await big.stop()


async def test_freed_room_after_delete(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    # 20 pods of 3 cpu fill every 4-cpu node; the 21st waits until one is deleted.
    await asyncio.gather(*(client.create(PODS, make_pod(f"fat-{i}", cpu="3")) for i in range(21)))

    async def one_waiting() -> bool:
        messages = [await unschedulable_message(client, f"fat-{i}") for i in range(21)]
        return sum(m is not None for m in messages) == 1

    await wait_until(one_waiting, what="one of 21 pods unschedulable")
    messages = [await unschedulable_message(client, f"fat-{i}") for i in range(21)]
    waiting = next(i for i, m in enumerate(messages) if m is not None)
    assert messages[waiting] == (
        "0/20 nodes are available: 20 Insufficient cpu."
        " preemption: 0/20 nodes are available: 20 No preemption victims found for incoming pod."
    )
    victim = (waiting + 1) % 21
    await client.delete(PODS, f"fat-{victim}", namespace="default")

    async def waiting_bound() -> bool:
        return bool((await get_pod(client, f"fat-{waiting}"))["spec"].get("nodeName"))

    await wait_until(waiting_bound, what="the waiting pod bound after a delete")
