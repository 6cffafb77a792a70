"""Work queue: de-duplication, exclusive processing, delays and back-off on a fake clock, workers."""

from __future__ import annotations

import asyncio

import pytest

from pykube_control.client.clock import FakeClock
from pykube_control.client.ratelimit import (
    BucketRateLimiter,
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    default_rate_limiter,
)
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import QueueShutDown, WorkQueue


def queue_with(clock: FakeClock) -> WorkQueue[str]:
    return WorkQueue("test", clock=clock)


async def test_add_deduplicates() -> None:
    queue = queue_with(FakeClock())
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"


async def test_readd_while_processing() -> None:
    queue = queue_with(FakeClock())
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert len(queue) == 0, "a key being processed must not be handed to a second worker"
    queue.done(key)
    assert len(queue) == 1
    assert await queue.get() == "a"


async def test_exclusive_between_workers() -> None:
    queue = queue_with(FakeClock())
    queue.add("a")
    first = await queue.get()
    queue.add("a")
    second_worker = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not second_worker.done()
    queue.done(first)
    assert await asyncio.wait_for(second_worker, 1) == "a"


async def test_get_waits_for_add() -> None:
    queue = queue_with(FakeClock())
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("later")
    assert await asyncio.wait_for(waiting, 1) == "later"


async def test_done_unknown_key() -> None:
    queue = queue_with(FakeClock())
    with pytest.raises(ValueError, match="not being processed"):
        queue.done("never")


async def test_add_after_waits_for_clock() -> None:
    clock = FakeClock()
    queue = queue_with(clock)
    queue.add_after("a", 5.0)
    clock.advance(4.999)
    assert len(queue) == 0
    clock.advance(0.001)
    assert len(queue) == 1


async def test_add_after_earliest_wins() -> None:
    clock = FakeClock()
    queue = queue_with(clock)
    queue.add_after("a", 10.0)
    queue.add_after("a", 2.0)
    queue.add_after("a", 5.0)
    clock.advance(2.0)
    assert len(queue) == 1
    assert queue.waiting == 0


async def test_rate_limited_backoff_doubles() -> None:
    clock = FakeClock()
    queue = queue_with(clock)
    delays = []
    for _ in range(4):
        queue.add_rate_limited("a")
        before = clock.now()
        while len(queue) == 0:
            clock.advance(0.001)
        delays.append(round(clock.now() - before, 3))
        queue.done(await queue.get())
    assert delays == [0.005, 0.010, 0.020, 0.040]
    assert queue.num_requeues("a") == 4


async def test_forget_resets_backoff() -> None:
    clock = FakeClock()
    queue = queue_with(clock)
    queue.add_rate_limited("a")
    queue.add_rate_limited("a")
    queue.forget("a")
    assert queue.num_requeues("a") == 0


def test_exponential_cap() -> None:
    limiter: ItemExponentialRateLimiter[str] = ItemExponentialRateLimiter()
    delays = [limiter.when("a") for _ in range(30)]
    assert delays[0] == 0.005
    assert delays[-1] == 1000.0
    assert max(delays) == 1000.0


def test_exponential_keys_independent() -> None:
    limiter: ItemExponentialRateLimiter[str] = ItemExponentialRateLimiter()
    limiter.when("a")
    limiter.when("a")
    assert limiter.when("b") == 0.005


def test_bucket_burst_then_rate() -> None:
    clock = FakeClock()
    limiter: BucketRateLimiter[str] = BucketRateLimiter(clock, rate=10.0, burst=3)
    delays = [limiter.when(str(index)) for index in range(5)]
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3] == pytest.approx(0.1)
    assert delays[4] == pytest.approx(0.2)
    clock.advance(10.0)
    assert limiter.when("x") == 0.0


def test_default_limiter_takes_max() -> None:
    clock = FakeClock()
    limiter: MaxOfRateLimiter[str] = default_rate_limiter(clock)
    for index in range(100):
        assert limiter.when(f"key-{index}") == 0.005
    assert limiter.when("one-more") == pytest.approx(0.1)


async def test_shutdown_wakes_getters() -> None:
    queue = queue_with(FakeClock())
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shutdown()
    with pytest.raises(QueueShutDown):
        await asyncio.wait_for(waiting, 1)


async def test_shutdown_hands_out_queued() -> None:
    clock = FakeClock()
    queue = queue_with(clock)
    queue.add("queued")
    queue.add_after("delayed", 1.0)
    queue.shutdown()
    queue.add("ignored")
    clock.advance(2.0)
    assert await queue.get() == "queued"
    with pytest.raises(QueueShutDown):
        await queue.get()


async def test_shutdown_with_drain_waits() -> None:
    queue = queue_with(FakeClock())
    queue.add("a")
    key = await queue.get()
    draining = asyncio.create_task(queue.shutdown_with_drain())
    await asyncio.sleep(0)
    assert not draining.done()
    queue.done(key)
    await asyncio.wait_for(draining, 1)


async def test_metrics_count_adds() -> None:
    from prometheus_client import REGISTRY

    queue: WorkQueue[str] = WorkQueue("metrics-test", clock=FakeClock())
    before = REGISTRY.get_sample_value("workqueue_adds_total", {"name": "metrics-test"}) or 0.0
    queue.add("a")
    queue.add("a")
    queue.add("b")
    after = REGISTRY.get_sample_value("workqueue_adds_total", {"name": "metrics-test"})
    depth = REGISTRY.get_sample_value("workqueue_depth", {"name": "metrics-test"})
    assert after == before + 2
    assert depth == 2


async def test_workers_retry_failures() -> None:
    clock = FakeClock()
    queue = queue_with(clock)
    attempts: dict[str, int] = {}
    succeeded = asyncio.Event()

    async def handler(key: str) -> None:
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] < 3:
            raise RuntimeError(f"attempt {attempts[key]} failed")
        succeeded.set()

    workers = asyncio.create_task(run_workers(queue, 2, handler))
    queue.add("flaky")
    while not succeeded.is_set():
        await asyncio.sleep(0)
        clock.advance(0.001)
    queue.shutdown()
    await asyncio.wait_for(workers, 1)
    assert attempts == {"flaky": 3}
    assert queue.num_requeues("flaky") == 0


async def test_workers_drop_after_max_retries(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    queue = queue_with(clock)
    calls = 0

    async def handler(key: str) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("always fails")

    workers = asyncio.create_task(run_workers(queue, 1, handler, max_retries=2))
    queue.add("hopeless")
    for _ in range(2000):
        await asyncio.sleep(0)
        clock.advance(0.001)
    queue.shutdown()
    await asyncio.wait_for(workers, 1)
    assert calls == 3
    assert "work dropped after retries" in caplog.text


async def test_workers_never_share_key() -> None:
    queue = queue_with(FakeClock())
    active: set[str] = set()
    overlaps = 0
    handled = 0

    async def handler(key: str) -> None:
        nonlocal overlaps, handled
        if key in active:
            overlaps += 1
        active.add(key)
        await asyncio.sleep(0.001)
        active.discard(key)
        handled += 1

    workers = asyncio.create_task(run_workers(queue, 4, handler))
    for _ in range(50):
        for key in ("a", "b"):
            queue.add(key)
        await asyncio.sleep(0.0005)
    await queue.shutdown_with_drain()
    await asyncio.wait_for(workers, 5)
    assert overlaps == 0
    assert handled >= 2
