"""SchedulingQueue on its own: order, back-off and the unschedulable pool."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pykube_control.scheduler.queue import SchedulingQueue

SHORT = 0.05
"""Seconds of the back-off in these tests."""


def pending(name: str, priority: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "busybox"}]}
    if priority is not None:
        spec["priority"] = priority
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        pytest.param(0, 0.0, id="never failed"),
        pytest.param(1, 1.0, id="first failure"),
        pytest.param(3, 4.0, id="doubled twice"),
        pytest.param(4, 8.0, id="doubled three times"),
        pytest.param(5, 10.0, id="capped"),
        pytest.param(40, 10.0, id="capped far out"),
    ],
)
def test_backoff_seconds(attempts: int, expected: float) -> None:
    assert SchedulingQueue().backoff_seconds(attempts) == expected


async def test_pop_priority_then_arrival() -> None:
    queue = SchedulingQueue()
    for name, priority in [("low", None), ("high", 100), ("mid-1", 10), ("mid-2", 10)]:
        queue.add(pending(name, priority))
    popped = [(await queue.pop()).key for _ in range(4)]
    assert popped == ["default/high", "default/mid-1", "default/mid-2", "default/low"]


async def test_pop_waits_for_add() -> None:
    queue = SchedulingQueue()
    waiter = asyncio.create_task(queue.pop())
    await asyncio.sleep(0)
    assert not waiter.done()
    queue.add(pending("late"))
    entry = await asyncio.wait_for(waiter, 1.0)
    assert entry.key == "default/late"


async def test_unschedulable_parked() -> None:
    queue = SchedulingQueue(initial_backoff=SHORT, max_backoff=SHORT)
    queue.add(pending("big"))
    queue.requeue_unschedulable(await queue.pop())
    await asyncio.sleep(3 * SHORT)
    assert queue.location("default/big") == "unschedulable"


async def test_unschedulable_moved_by_event() -> None:
    queue = SchedulingQueue(initial_backoff=SHORT, max_backoff=SHORT)
    queue.add(pending("big"))
    queue.requeue_unschedulable(await queue.pop())
    queue.move_all_to_active("NodeAdd")
    entry = await asyncio.wait_for(queue.pop(), 1.0)
    assert entry.key == "default/big"
    assert entry.attempts == 1


async def test_unschedulable_flushed_after_timeout() -> None:
    queue = SchedulingQueue(initial_backoff=SHORT, max_backoff=SHORT, unschedulable_timeout=SHORT)
    queue.add(pending("big"))
    queue.requeue_unschedulable(await queue.pop())
    entry = await asyncio.wait_for(queue.pop(), 1.0)
    assert entry.key == "default/big"


async def test_event_during_cycle_backs_off() -> None:
    queue = SchedulingQueue(initial_backoff=SHORT, max_backoff=SHORT)
    queue.add(pending("big"))
    entry = await queue.pop()
    queue.move_all_to_active("NodeAdd")
    queue.requeue_unschedulable(entry)
    assert queue.location("default/big") == "backoff"


async def test_backoff_then_active() -> None:
    queue = SchedulingQueue(initial_backoff=SHORT, max_backoff=SHORT)
    queue.add(pending("flaky"))
    queue.requeue_backoff(await queue.pop())
    assert queue.location("default/flaky") == "backoff"
    entry = await asyncio.wait_for(queue.pop(), 1.0)
    assert entry.key == "default/flaky"


async def test_deleted_in_flight_dropped() -> None:
    queue = SchedulingQueue(initial_backoff=SHORT, max_backoff=SHORT)
    queue.add(pending("gone"))
    entry = await queue.pop()
    queue.delete("default/gone")
    queue.requeue_backoff(entry)
    assert queue.location("default/gone") is None
    assert len(queue) == 0


async def test_update_moves_unschedulable() -> None:
    queue = SchedulingQueue(initial_backoff=SHORT, max_backoff=SHORT)
    queue.add(pending("big"))
    queue.requeue_unschedulable(await queue.pop())
    smaller = pending("big")
    smaller["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "1"}}
    queue.add(smaller)
    entry = await asyncio.wait_for(queue.pop(), 1.0)
    assert entry.pod is smaller


async def test_status_update_keeps_parked() -> None:
    queue = SchedulingQueue(initial_backoff=SHORT, max_backoff=SHORT)
    queue.add(pending("big"))
    queue.requeue_unschedulable(await queue.pop())
    reported = pending("big")
    reported["status"] = {"conditions": [{"type": "PodScheduled", "status": "False"}]}
    queue.add(reported)
    assert queue.location("default/big") == "unschedulable"
