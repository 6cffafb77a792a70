"""The bound on bind requests in flight: later binds wait in their own tasks and still land."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.resource import PODS
from pykube_control.scheduler.daemon import SchedulerDaemon
from pykube_control.scheduler.queue import SchedulingQueue
from tests.scheduler_daemon.conftest import get_pod, make_pod, wait_until


@pytest.mark.parametrize("slots", [pytest.param(0, id="zero"), pytest.param(-1, id="negative")])
async def test_bind_slots_invalid(client: APIClient, slots: int) -> None:
    with pytest.raises(ValueError, match="max_binds_in_flight"):
        SchedulerDaemon(client, max_binds_in_flight=slots)


async def test_one_bind_slot_binds_all(client: APIClient, nodes: FakeNodes) -> None:
    names = [f"web-{index}" for index in range(30)]
    await asyncio.gather(*(client.create(PODS, make_pod(name)) for name in names))
    queue = SchedulingQueue(initial_backoff=0.2, max_backoff=1.0)
    daemon = SchedulerDaemon(client, queue=queue, max_binds_in_flight=1)
    task = asyncio.create_task(daemon.run())
    try:

        async def all_bound() -> bool:
            pods = [await get_pod(client, name) for name in names]
            return all(pod["spec"].get("nodeName") for pod in pods)

        await wait_until(all_bound, what="30 pods bound through one bind slot")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert sum(daemon.attempts.values()) == len(names)
