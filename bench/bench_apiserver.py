"""API server benchmarks: request throughput, paced-write latency and watch fan-out over HTTP.

The API server runs as its own process (`pykube apiserver --insecure` on
127.0.0.1), so client and server do not share a GIL, and the client is
aiohttp on one uvloop loop. The client, the server and etcd share the
machine's cores, so every figure includes the client's own work. With
1,000 watchers the client used about a third of the CPU time per event
(CPU times from /proc, on the machine named above).
The variant of the throughput benchmarks is the server's store: SQLite in
its data directory, or a single-member etcd on loopback.

- create, get, list: ConfigMaps over a pool of 32 connections with 32
  requests in flight. Each round sends a fixed number of requests, and the
  table shows the time per request. "list 100" lists a namespace that contains
  100 ConfigMaps, without a resourceVersion, as kubectl does.
- create at 500/s: creates sent on a timer at 500 requests/s for 10 s,
  open-loop (the timer does not wait for replies). Each latency counts from
  the moment the timer scheduled the request, so a server that falls behind
  shows it. The table row is the whole run divided by its 5,000 requests,
  which stays at 2 ms (500/s) while the server keeps up. The last column
  shows p50, p99 and maximum latency (target: p99 under 50 ms).
- watch fan-out: N watchers (100 or 1,000) each hold a watch on one
  namespace's ConfigMaps, then one write creates a ConfigMap. The time runs
  from just before the write until the last watcher has parsed the event,
  and the table shows its median over 15 rounds. The last column shows the
  medians over the rounds of the median and of the last watcher. "pykube (HTTP)" is N streaming HTTP GETs
  (`?watch=1&resourceVersion=<rv>`) against the SQLite-backed server, and
  the write is an HTTP POST. "etcd (gRPC)" is etcd's own watch for
  comparison: N Watch streams of the project's etcd store on one gRPC
  channel and one put. The target for pykube is the last of 1,000 HTTP
  watchers within 25 ms.

Set PYKUBE_BENCH_PROFILE_DIR to run each server under cProfile (see
bench/apiserver_process.py).
"""

from __future__ import annotations

import asyncio
import itertools
import resource
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from bench.apiserver_process import ApiserverProcess, start_apiserver_process
from pykube_control.store.interface import Store, Watch
from tests.store.etcd_server import EtcdCluster

CONCURRENCY = 32
"""Requests in flight, and connections in the pool, of the throughput benchmarks."""

CREATE_REQUESTS = 400
GET_REQUESTS = 1000
LIST_REQUESTS = 200
LIST_SIZE = 100
"""Requests per round, sized so a round takes about a second or less."""

PACED_RATE = 500
"""Creates per second of the paced benchmark."""

PACED_SECONDS = 10
PACED_DEADLINE = 60.0
"""Seconds the paced run waits for its last reply before it fails."""

WATCH_OPEN_BATCH = 100
"""Watch requests opened at once. The server's listen backlog is 1,024, and
batches keep the connection attempts well below it."""

WATCH_ROUNDS = 15

OPEN_FILE_LIMIT = 4096
"""Soft RLIMIT_NOFILE the fan-out benchmarks need: one socket per watcher
(1,000 at most) in the client, and as many in the watch server, which
inherits the limit when it starts, plus a margin."""
WATCH_TIMEOUT = 30.0
"""Seconds a fan-out round waits for every watcher before it fails."""

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

_names = itertools.count()


def run(loop: asyncio.AbstractEventLoop, coro: Awaitable[Any]) -> Any:
    return loop.run_until_complete(coro)


def configmap(name: str) -> bytes:
    """Return the JSON of a small ConfigMap (about 200 bytes with metadata)."""
    return orjson.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"key": "value " * 8}}
    )


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ascending ``sorted_values``."""
    index = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def apiserver(backend: str, request: pytest.FixtureRequest) -> Iterator[ApiserverProcess]:
    endpoints = None
    if backend == "etcd":
        cluster: EtcdCluster = request.getfixturevalue("etcd_server")
        endpoints = cluster.endpoints
    server = start_apiserver_process(endpoints)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def watch_apiserver() -> Iterator[ApiserverProcess]:
    """Start a SQLite-backed server of its own, so fan-out rounds see no other traffic."""
    server = start_apiserver_process()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def session(loop: asyncio.AbstractEventLoop) -> Iterator[aiohttp.ClientSession]:
    async def open_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY))

    client = run(loop, open_session())
    try:
        yield client
    finally:
        run(loop, client.close())


# --- HTTP helpers ---------------------------------------------------------------------------


async def check_reply(reply: aiohttp.ClientResponse, expected: int) -> bytes:
    body = await reply.read()
    if reply.status != expected:
        raise RuntimeError(
            f"{reply.method} {reply.url} returned {reply.status}, expected {expected}: {body[:300]!r}"
        )
    return body


async def create_configmap(session: aiohttp.ClientSession, base_url: str, namespace: str, name: str) -> None:
    url = f"{base_url}/api/v1/namespaces/{namespace}/configmaps"
    async with session.post(url, data=configmap(name), headers=JSON_HEADERS) as reply:
        await check_reply(reply, 201)


async def create_namespace(session: aiohttp.ClientSession, base_url: str, prefix: str) -> str:
    """Create a namespace named ``prefix`` plus a unique suffix and return its name."""
    name = f"{prefix}-{next(_names)}"
    body = orjson.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    async with session.post(f"{base_url}/api/v1/namespaces", data=body, headers=JSON_HEADERS) as reply:
        await check_reply(reply, 201)
    return name


async def run_bounded(count: int, send: Callable[[int], Awaitable[None]]) -> None:
    """Call ``send(i)`` for i in range(count) with ``CONCURRENCY`` calls in flight."""
    indexes = iter(range(count))

    async def worker() -> None:
        for index in indexes:
            await send(index)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


# --- request throughput ---------------------------------------------------------------------


@pytest.mark.benchmark(group="http create configmap")
def bench_create(
    benchmark: Any, apiserver: ApiserverProcess, session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop
) -> None:
    namespace = run(loop, create_namespace(session, apiserver.url, "bench-create"))

    async def send(_: int) -> None:
        await create_configmap(session, apiserver.url, namespace, f"cm-{next(_names)}")

    benchmark.extra_info["ops"] = CREATE_REQUESTS
    benchmark.pedantic(lambda: run(loop, run_bounded(CREATE_REQUESTS, send)), rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group="http get configmap")
def bench_get(
    benchmark: Any, apiserver: ApiserverProcess, session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop
) -> None:
    namespace = run(loop, create_namespace(session, apiserver.url, "bench-get"))
    run(loop, create_configmap(session, apiserver.url, namespace, "target"))
    url = f"{apiserver.url}/api/v1/namespaces/{namespace}/configmaps/target"

    async def send(_: int) -> None:
        async with session.get(url, headers=JSON_HEADERS) as reply:
            await check_reply(reply, 200)

    benchmark.extra_info["ops"] = GET_REQUESTS
    benchmark.pedantic(lambda: run(loop, run_bounded(GET_REQUESTS, send)), rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group="http list 100 configmaps")
def bench_list_100(
    benchmark: Any, apiserver: ApiserverProcess, session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop
) -> None:
    namespace = run(loop, create_namespace(session, apiserver.url, "bench-list"))

    async def fill(index: int) -> None:
        await create_configmap(session, apiserver.url, namespace, f"cm-{index:03}")

    run(loop, run_bounded(LIST_SIZE, fill))
    url = f"{apiserver.url}/api/v1/namespaces/{namespace}/configmaps"
    sizes: list[int] = []

    async def send(_: int) -> None:
        async with session.get(url, headers=JSON_HEADERS) as reply:
            sizes.append(len(orjson.loads(await check_reply(reply, 200))["items"]))

    benchmark.extra_info["ops"] = LIST_REQUESTS
    benchmark.pedantic(lambda: run(loop, run_bounded(LIST_REQUESTS, send)), rounds=5, warmup_rounds=1)
    assert set(sizes) == {LIST_SIZE}


# --- latency at a fixed rate ----------------------------------------------------------------


async def paced_creates(session: aiohttp.ClientSession, base_url: str, namespace: str) -> list[float]:
    """Send ``PACED_RATE`` creates per second for ``PACED_SECONDS`` and return the sorted latencies in seconds."""
    interval = 1.0 / PACED_RATE
    total = PACED_RATE * PACED_SECONDS
    latencies: list[float] = []

    # Latencies use time.perf_counter because uvloop's loop.time() advances in millisecond steps.
    async def send(index: int, scheduled: float) -> None:
        await create_configmap(session, base_url, namespace, f"paced-{next(_names)}-{index}")
        latencies.append(time.perf_counter() - scheduled)

    start = time.perf_counter() + interval
    tasks: list[asyncio.Task[None]] = []
    for index in range(total):
        scheduled = start + index * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(index, scheduled)))
    await asyncio.wait_for(asyncio.gather(*tasks), PACED_DEADLINE)
    return sorted(latencies)


@pytest.mark.benchmark(group="http create at 500/s")
def bench_create_paced(
    benchmark: Any,
    apiserver: ApiserverProcess,
    loop: asyncio.AbstractEventLoop,
    backend: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def measure() -> list[float]:
        # Open-loop load needs more connections than 32 when replies slow
        # down, or requests would wait for a connection inside the client.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as paced_session:
            namespace = await create_namespace(paced_session, apiserver.url, "bench-paced")
            return await paced_creates(paced_session, apiserver.url, namespace)

    latencies: list[list[float]] = []
    benchmark.extra_info["ops"] = PACED_RATE * PACED_SECONDS
    benchmark.pedantic(lambda: latencies.append(run(loop, measure())), rounds=1, iterations=1)
    figures = {
        "p50_ms": percentile(latencies[0], 0.50) * 1e3,
        "p99_ms": percentile(latencies[0], 0.99) * 1e3,
        "max_ms": latencies[0][-1] * 1e3,
    }
    # NOTE: bench/run.py renders only round times, so these figures reach
    # the JSON report and the terminal but not docs/benchmarks.md.
    benchmark.extra_info.update({key: round(value, 2) for key, value in figures.items()})
    with capsys.disabled():
        print(
            f"\ncreate at {PACED_RATE}/s for {PACED_SECONDS} s, {backend}: p50 {figures['p50_ms']:.1f} ms, "
            f"p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.1f} ms"
        )


# --- watch fan-out --------------------------------------------------------------------------


def raise_open_file_limit(needed: int) -> None:
    """Raise the soft RLIMIT_NOFILE to ``needed`` (capped at the hard limit) if it is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class FanOut:
    """N open watches and the write that sends each of them one event."""

    def __init__(
        self,
        receivers: list[Callable[[], Awaitable[str]]],
        write: Callable[[str], Awaitable[None]],
    ) -> None:
        self.receivers = receivers
        """One per watcher: waits for the next event and returns the name of its object."""
        self.write = write

    async def arm(self) -> tuple[str, list[asyncio.Task[tuple[str, float]]]]:
        """Start one task per watcher that waits for its next event; return the name to write and the tasks."""

        async def receive(receiver: Callable[[], Awaitable[str]]) -> tuple[str, float]:
            received = await receiver()
            return received, time.perf_counter()

        tasks = [asyncio.create_task(receive(receiver)) for receiver in self.receivers]
        # One pass of the loop lets every task start waiting for its stream.
        await asyncio.sleep(0)
        return f"fan-{next(_names)}", tasks

    async def fire(self, name: str, tasks: list[asyncio.Task[tuple[str, float]]]) -> list[float]:
        """Write object ``name`` and return each watcher's delay in seconds, ascending."""
        start = time.perf_counter()
        await self.write(name)
        results = await asyncio.wait_for(asyncio.gather(*tasks), WATCH_TIMEOUT)
        wrong = [received for received, _ in results if received != name]
        if wrong:
            raise RuntimeError(f"{len(wrong)} watchers received {wrong[0]!r} instead of {name!r}")
        return sorted(arrival - start for _, arrival in results)


async def open_http_fan_out(
    session: aiohttp.ClientSession, base_url: str, watchers: int
) -> tuple[FanOut, list[aiohttp.ClientResponse]]:
    """Open ``watchers`` HTTP watches on a new namespace's ConfigMaps."""
    namespace = await create_namespace(session, base_url, "bench-watch")
    collection = f"{base_url}/api/v1/namespaces/{namespace}/configmaps"
    async with session.get(collection, headers=JSON_HEADERS) as reply:
        revision = orjson.loads(await check_reply(reply, 200))["metadata"]["resourceVersion"]
    url = f"{collection}?watch=1&resourceVersion={revision}&timeoutSeconds=3600"
    no_timeout = aiohttp.ClientTimeout(total=None, sock_read=None)

    async def open_one() -> aiohttp.ClientResponse:
        reply = await session.get(url, timeout=no_timeout)
        if reply.status != 200:
            body = await reply.read()
            raise RuntimeError(f"watch {url} returned {reply.status}: {body[:300]!r}")
        return reply

    replies: list[aiohttp.ClientResponse] = []
    for start in range(0, watchers, WATCH_OPEN_BATCH):
        batch = min(WATCH_OPEN_BATCH, watchers - start)
        replies += await asyncio.gather(*(open_one() for _ in range(batch)))

    # The server registers a watch before it sends the response headers, so
    # every watch has started once its headers are here.
    def receiver(reply: aiohttp.ClientResponse) -> Callable[[], Awaitable[str]]:
        async def next_name() -> str:
            event = orjson.loads(await reply.content.readline())
            return str(event["object"]["metadata"]["name"])

        return next_name

    async def write(name: str) -> None:
        await create_configmap(session, base_url, namespace, name)

    return FanOut([receiver(reply) for reply in replies], write), replies


async def open_etcd_fan_out(store: Store, watchers: int) -> tuple[FanOut, list[Watch]]:
    """Open ``watchers`` watches (one Watch stream each) on an etcd store's prefix."""
    prefix = f"/bench/fan-out/{next(_names)}/"
    watches = [store.watch(prefix) for _ in range(watchers)]
    # The store holds back its calls until every new watcher exists in etcd.
    await store.current_revision()

    def receiver(watch: Watch) -> Callable[[], Awaitable[str]]:
        async def next_name() -> str:
            event = await watch.__anext__()
            return str(event.key.rpartition("/")[2])

        return next_name

    async def write(name: str) -> None:
        await store.create(prefix + name, configmap(name))

    return FanOut([receiver(watch) for watch in watches], write), watches


async def close_all(watches: list[Watch]) -> None:
    await asyncio.gather(*(watch.close() for watch in watches))


def measure_fan_out(
    benchmark: Any, loop: asyncio.AbstractEventLoop, fan_out: FanOut, label: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rounds: list[list[float]] = []
    benchmark.extra_info["ops"] = 1

    # Arming runs outside the timed part, because creating 1,000 tasks takes
    # milliseconds that belong to neither the server nor the fan-out.
    def arm() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return run(loop, fan_out.arm()), {}

    def fire(name: str, tasks: list[asyncio.Task[tuple[str, float]]]) -> None:
        rounds.append(run(loop, fan_out.fire(name, tasks)))

    benchmark.pedantic(fire, setup=arm, rounds=WATCH_ROUNDS, warmup_rounds=1)
    # The warm-up round runs the same function, so skip its entry.
    measured = rounds[1:]
    median_watcher = statistics.median(statistics.median(delays) for delays in measured) * 1e3
    last_watcher = statistics.median(delays[-1] for delays in measured) * 1e3
    benchmark.extra_info["median_watcher_ms"] = round(median_watcher, 2)
    benchmark.extra_info["last_watcher_ms"] = round(last_watcher, 2)
    with capsys.disabled():
        print(
            f"\nwatch fan-out {label}, {len(fan_out.receivers)} watchers: median watcher {median_watcher:.1f} ms, "
            f"last watcher {last_watcher:.1f} ms (medians of {len(measured)} rounds)"
        )


def run_fan_out_benchmark(
    benchmark: Any, target: str, watchers: int, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    loop: asyncio.AbstractEventLoop = request.getfixturevalue("loop")
    benchmark.group = f"watch fan-out {watchers:,}"
    raise_open_file_limit(OPEN_FILE_LIMIT)
    if target == "etcd (gRPC)":
        from pykube_control.store.etcd import EtcdStore

        cluster: EtcdCluster = request.getfixturevalue("etcd_server")

        async def connect() -> EtcdStore:
            return EtcdStore(cluster.endpoints)

        store = run(loop, connect())
        try:
            fan_out, watches = run(loop, open_etcd_fan_out(store, watchers))
            measure_fan_out(benchmark, loop, fan_out, target, capsys)
            run(loop, close_all(watches))
        finally:
            run(loop, store.close())
        return

    server: ApiserverProcess = request.getfixturevalue("watch_apiserver")

    async def open_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    watch_session = run(loop, open_session())
    try:
        fan_out, replies = run(loop, open_http_fan_out(watch_session, server.url, watchers))
        measure_fan_out(benchmark, loop, fan_out, target, capsys)
        for reply in replies:
            reply.close()
    finally:
        run(loop, watch_session.close())


WATCH_TARGETS = pytest.mark.parametrize("target", ["pykube (HTTP)", "etcd (gRPC)"])


@WATCH_TARGETS
def bench_watch_fan_out_100(
    benchmark: Any, target: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    run_fan_out_benchmark(benchmark, target, 100, request, capsys)


@WATCH_TARGETS
def bench_watch_fan_out_1000(
    benchmark: Any, target: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    run_fan_out_benchmark(benchmark, target, 1000, request, capsys)
