"""Store benchmarks: put, get, list of 10,000 objects and watch delivery.

Every benchmark runs once on the SQLite store and once on a single-member
etcd started on loopback, in the same process and run, so their ratio is
meaningful on a shared machine. Both stores make every write durable before
acknowledging it: SQLite fsyncs its WAL on each commit (synchronous=FULL)
and etcd fsyncs its WAL per raft batch (its default).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import pytest

from pykube_control.store.interface import Store

VALUE = b'{"kind":"Pod","metadata":{"name":"x"}}' + b" " * 984
"""A 1 KiB value, about the size of a small Pod object in JSON."""

PUT_BATCH = 50
GET_BATCH = 200
LIST_SIZE = 10_000
WATCH_EVENTS = 200
CONCURRENT_PUTS = 200

_names = itertools.count()


def run(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    return loop.run_until_complete(coro)


@pytest.mark.benchmark(group="store put")
def bench_put_sequential(benchmark: Any, store: Store, loop: asyncio.AbstractEventLoop) -> None:
    prefix = f"/bench/put/{uuid.uuid4().hex[:8]}/"

    async def puts() -> None:
        for _ in range(PUT_BATCH):
            await store.create(f"{prefix}{next(_names)}", VALUE)

    benchmark.extra_info["ops"] = PUT_BATCH
    benchmark.pedantic(lambda: run(loop, puts()), rounds=10, warmup_rounds=1)


@pytest.mark.benchmark(group="store put concurrent")
def bench_put_concurrent(benchmark: Any, store: Store, loop: asyncio.AbstractEventLoop) -> None:
    prefix = f"/bench/cput/{uuid.uuid4().hex[:8]}/"

    async def puts() -> None:
        await asyncio.gather(*(store.create(f"{prefix}{next(_names)}", VALUE) for _ in range(CONCURRENT_PUTS)))

    benchmark.extra_info["ops"] = CONCURRENT_PUTS
    benchmark.pedantic(lambda: run(loop, puts()), rounds=10, warmup_rounds=1)


@pytest.mark.benchmark(group="store get")
def bench_get(benchmark: Any, store: Store, loop: asyncio.AbstractEventLoop) -> None:
    key = f"/bench/get/{uuid.uuid4().hex[:8]}"
    run(loop, store.create(key, VALUE))

    async def gets() -> None:
        for _ in range(GET_BATCH):
            await store.get(key)

    benchmark.extra_info["ops"] = GET_BATCH
    benchmark.pedantic(lambda: run(loop, gets()), rounds=10, warmup_rounds=1)


@pytest.mark.benchmark(group="store list 10k")
def bench_list_10k(benchmark: Any, store: Store, loop: asyncio.AbstractEventLoop) -> None:
    prefix = f"/bench/list/{uuid.uuid4().hex[:8]}/"

    async def fill() -> None:
        for start in range(0, LIST_SIZE, 500):
            await asyncio.gather(*(store.create(f"{prefix}{i:05}", VALUE) for i in range(start, start + 500)))

    run(loop, fill())

    async def list_all() -> int:
        result = await store.list(prefix)
        return len(result.items)

    benchmark.extra_info["ops"] = 1
    count = benchmark.pedantic(lambda: run(loop, list_all()), rounds=10, warmup_rounds=1)
    assert count == LIST_SIZE


@pytest.mark.benchmark(group="store watch delivery")
def bench_watch_delivery(benchmark: Any, store: Store, loop: asyncio.AbstractEventLoop) -> None:
    """Concurrent writes until one watcher has received every event."""
    prefix = f"/bench/watch/{uuid.uuid4().hex[:8]}/"

    async def write_and_receive() -> None:
        watch = store.watch(prefix)
        try:
            await asyncio.gather(*(store.create(f"{prefix}{next(_names)}", VALUE) for _ in range(WATCH_EVENTS)))
            for _ in range(WATCH_EVENTS):
                await asyncio.wait_for(watch.__anext__(), 30)
        finally:
            await watch.close()

    benchmark.extra_info["ops"] = WATCH_EVENTS
    benchmark.pedantic(lambda: run(loop, write_and_receive()), rounds=10, warmup_rounds=1)
