"""The scheduler under leader election on the kube-scheduler Lease."""

from __future__ import annotations

import asyncio
import contextlib

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.resource import LEASES, PODS
from pykube_control.scheduler.daemon import run_scheduler
from tests.scheduler_daemon.conftest import get_pod, make_pod, wait_until


async def test_leader_schedules(client: APIClient, nodes: FakeNodes) -> None:
    task = asyncio.create_task(run_scheduler(client, leader_elect=True, identity="scheduler-a"))
    try:
        await client.create(PODS, make_pod("led"))

        async def bound() -> bool:
            return bool((await get_pod(client, "led"))["spec"].get("nodeName"))

        await wait_until(bound, what="pod led bound by the leader")
        lease = await client.get(LEASES, "kube-scheduler", namespace="kube-system")
        assert lease["spec"]["holderIdentity"] == "scheduler-a"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
