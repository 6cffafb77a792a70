"""nodeSelector and taints, respected end to end."""

from __future__ import annotations

import asyncio

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.resource import NODES, PODS
from pykube_control.scheduler.daemon import SchedulerDaemon
from tests.scheduler_daemon.conftest import condition, get_pod, make_pod, wait_until

NO_SCHEDULE = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}


async def bound_node(client: APIClient, name: str) -> str:
    return str((await get_pod(client, name))["spec"].get("nodeName") or "")


async def wait_bound(client: APIClient, names: list[str]) -> None:
    async def all_bound() -> bool:
        return all([await bound_node(client, name) for name in names])

    await wait_until(all_bound, what=f"{len(names)} pods bound")


async def test_node_selector_placement(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    names = [f"ssd-{i}" for i in range(12)]
    await asyncio.gather(*(client.create(PODS, make_pod(n, node_selector={"disk": "ssd"})) for n in names))
    await wait_bound(client, names)
    ssd_nodes = {name for name, index in nodes.indexes.items() if index % 2 == 0}
    for name in names:
        assert await bound_node(client, name) in ssd_nodes


async def test_node_selector_no_match(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    await client.create(PODS, make_pod("nvme", node_selector={"disk": "nvme"}))

    async def reported() -> bool:
        return condition(await get_pod(client, "nvme"), "PodScheduled") is not None

    await wait_until(reported, what="PodScheduled on pod nvme")
    scheduled = condition(await get_pod(client, "nvme"), "PodScheduled")
    assert scheduled is not None
    assert scheduled["message"] == (
        "0/20 nodes are available: 20 node(s) didn't match Pod's node affinity/selector."
        " preemption: 0/20 nodes are available: 20 Preemption is not helpful for scheduling."
    )


async def test_taints_respected(client: APIClient, scheduler: SchedulerDaemon) -> None:
    tainted = FakeNodes(client, 3, prefix="db-node-", taints=[NO_SCHEDULE], first_index=200)
    await tainted.start()
    try:
        names = [f"plain-{i}" for i in range(10)]
        db = [f"db-{i}" for i in range(3)]
        await asyncio.gather(*(client.create(PODS, make_pod(n)) for n in names))
        toleration = [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]
        selector = {"kubernetes.io/hostname": "db-node-200"}
        await asyncio.gather(
            *(client.create(PODS, make_pod(n, tolerations=toleration, node_selector=selector)) for n in db)
        )
        await wait_bound(client, names + db)
        for name in names:
            assert not (await bound_node(client, name)).startswith("db-node-")
        for name in db:
            assert await bound_node(client, name) == "db-node-200"
    finally:
        await tainted.stop()


async def test_taint_added_later(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    for name in nodes.names:
        await client.patch(NODES, name, {"spec": {"taints": [NO_SCHEDULE]}})
    await client.create(PODS, make_pod("blocked"))

    async def reported() -> bool:
        return condition(await get_pod(client, "blocked"), "PodScheduled") is not None

    await wait_until(reported, what="PodScheduled on pod blocked")
    scheduled = condition(await get_pod(client, "blocked"), "PodScheduled")
    assert scheduled is not None
    assert scheduled["message"] == (
        "0/20 nodes are available: 20 node(s) had untolerated taint(s)."
        " preemption: 0/20 nodes are available: 20 Preemption is not helpful for scheduling."
    )
    await client.patch(NODES, nodes.names[0], {"spec": {"taints": None}})
    await wait_bound(client, ["blocked"])
    assert await bound_node(client, "blocked") == nodes.names[0]
