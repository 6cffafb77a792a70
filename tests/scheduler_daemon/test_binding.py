"""Pods created through the API server get bound by the scheduler and reported Running by hollow nodes."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.resource import EVENTS, PODS
from pykube_control.scheduler.daemon import SchedulerDaemon
from tests.scheduler_daemon.conftest import condition, get_pod, make_pod, wait_until


async def list_pods(client: APIClient) -> list[dict[str, Any]]:
    return list((await client.list(PODS, namespace="default")).get("items") or [])


async def test_batch_bound_and_running(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    await asyncio.gather(*(client.create(PODS, make_pod(f"web-{i}")) for i in range(60)))

    async def all_running() -> bool:
        pods = await list_pods(client)
        return len(pods) == 60 and all((p.get("status") or {}).get("phase") == "Running" for p in pods)

    await wait_until(all_running, what="60 pods Running")
    pods = await list_pods(client)
    placed = collections.Counter(p["spec"]["nodeName"] for p in pods)
    assert set(placed) <= set(nodes.names)
    # LeastAllocated spreads 60 small pods over 20 equal nodes.
    assert max(placed.values()) <= 4
    pod_ips = [p["status"]["podIP"] for p in pods]
    assert len(set(pod_ips)) == 60


async def test_running_status_fields(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    await client.create(PODS, make_pod("single"))

    async def running() -> bool:
        return bool((await get_pod(client, "single")).get("status", {}).get("phase") == "Running")

    await wait_until(running, what="pod Running")
    pod = await get_pod(client, "single")
    for kind in ("Ready", "ContainersReady", "PodScheduled"):
        found = condition(pod, kind)
        assert found is not None, kind
        assert found["status"] == "True", kind
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    assert pod["status"]["podIP"].startswith("10.")
    assert pod["status"]["startTime"]


async def test_other_scheduler_ignored(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    await client.create(PODS, make_pod("foreign", scheduler_name="my-scheduler"))
    await client.create(PODS, make_pod("ours"))

    async def ours_bound() -> bool:
        return bool((await get_pod(client, "ours"))["spec"].get("nodeName"))

    await wait_until(ours_bound, what="pod ours bound")
    foreign = await get_pod(client, "foreign")
    assert "nodeName" not in foreign["spec"]
    assert condition(foreign, "PodScheduled") is None
    assert scheduler.attempts["default/foreign"] == 0


async def test_prebound_pod_untouched(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    prebound = make_pod("prebound")
    prebound["spec"]["nodeName"] = "fake-node-7"
    await client.create(PODS, prebound)
    await client.create(PODS, make_pod("after"))

    async def both_running() -> bool:
        pods = [await get_pod(client, name) for name in ("prebound", "after")]
        return all(p.get("status", {}).get("phase") == "Running" for p in pods)

    await wait_until(both_running, what="pods prebound and after Running")
    assert (await get_pod(client, "prebound"))["spec"]["nodeName"] == "fake-node-7"
    assert scheduler.attempts["default/prebound"] == 0
    assert scheduler.cache.table.pod_count("fake-node-7") >= 1


async def test_bound_pod_gets_scheduled_event(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    await client.create(PODS, make_pod("evented"))

    async def scheduled_events() -> list[dict[str, Any]]:
        events = (await client.list(EVENTS, namespace="default")).get("items") or []
        return [e for e in events if e["involvedObject"]["name"] == "evented" and e["reason"] == "Scheduled"]

    async def recorded() -> bool:
        return bool(await scheduled_events())

    await wait_until(recorded, what="a Scheduled event")
    event = (await scheduled_events())[0]
    node = (await get_pod(client, "evented"))["spec"]["nodeName"]
    assert event["type"] == "Normal"
    assert event["message"] == f"Successfully assigned default/evented to {node}"
