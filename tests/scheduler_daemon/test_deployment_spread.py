"""A Deployment's replicas spread evenly over zones and nodes, as the system default constraints give."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

import pytest

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.resource import DEPLOYMENTS, PODS
from pykube_control.controllers.manager import run_controllers
from pykube_control.scheduler.daemon import SchedulerDaemon
from tests.scheduler_daemon.conftest import wait_until

ZONE = "topology.kubernetes.io/zone"
ZONES = ("zone-a", "zone-b", "zone-c")
NODE_COUNT = 300
REPLICAS = 60


@pytest.fixture
async def zoned_nodes(client: APIClient) -> AsyncIterator[FakeNodes]:
    """NODE_COUNT hollow nodes, one third per zone, round robin by index."""
    fake = FakeNodes(client, NODE_COUNT, labels=lambda index: {ZONE: ZONES[index % 3]}, lease_interval=5.0)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def cluster(client: APIClient, zoned_nodes: FakeNodes) -> AsyncIterator[SchedulerDaemon]:
    """The scheduler daemon plus the Deployment and ReplicaSet controllers."""
    daemon = SchedulerDaemon(client)
    tasks = [
        asyncio.create_task(daemon.run()),
        asyncio.create_task(run_controllers(client, ["deployment", "replicaset"])),
    ]
    try:
        yield daemon
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def deployment(name: str, replicas: int) -> dict[str, object]:
    labels = {"app": name}
    container = {"name": "web", "image": "busybox", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


async def bound_nodes(client: APIClient) -> list[str]:
    listed = await client.list(PODS, namespace="default", label_selector="app=web")
    return [node for pod in listed["items"] if (node := (pod.get("spec") or {}).get("nodeName"))]


async def test_deployment_spreads_evenly(client: APIClient, cluster: SchedulerDaemon) -> None:
    await client.create(DEPLOYMENTS, deployment("web", REPLICAS), namespace="default")

    async def all_bound() -> bool:
        return len(await bound_nodes(client)) == REPLICAS

    await wait_until(all_bound, timeout=30.0, what=f"{REPLICAS} bound replicas")
    nodes = await bound_nodes(client)
    per_node = collections.Counter(nodes)
    zone_of = {f"fake-node-{index}": ZONES[index % 3] for index in range(NODE_COUNT)}
    per_zone = collections.Counter(zone_of[node] for node in nodes)
    assert max(per_node.values()) == 1, per_node.most_common(3)
    assert set(per_zone) == set(ZONES), per_zone
    assert max(per_zone.values()) - min(per_zone.values()) <= 1, per_zone
