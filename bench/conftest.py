"""Shared fixtures of the benchmarks: an event loop and stores on both backends.

pytest-benchmark times synchronous callables, so each benchmark drives its
coroutine with ``loop.run_until_complete`` on one uvloop loop per module.
Each round runs a batch of operations and records the batch size in
``extra_info["ops"]``; bench/run.py divides by it to report per-operation
figures.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator

import pytest
import uvloop

from pykube_control.store.interface import Store
from pykube_control.store.sqlite import SQLiteStore
from tests.store.etcd_server import EtcdCluster, start_etcd


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = uvloop.new_event_loop()
    yield event_loop
    event_loop.close()


@pytest.fixture(scope="module")
def etcd_server() -> Iterator[EtcdCluster]:
    cluster = start_etcd(1)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module", params=["sqlite", "etcd"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def store(
    backend: str, loop: asyncio.AbstractEventLoop, request: pytest.FixtureRequest
) -> Iterator[Store]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="pykube-bench-") as folder:
            sqlite_store = loop.run_until_complete(SQLiteStore.open(f"{folder}/state.db"))
            try:
                yield sqlite_store
            finally:
                loop.run_until_complete(sqlite_store.close())
        return
    from pykube_control.store.etcd import EtcdStore

    cluster: EtcdCluster = request.getfixturevalue("etcd_server")

    async def connect() -> EtcdStore:
        return EtcdStore(cluster.endpoints)

    etcd_store = loop.run_until_complete(connect())
    try:
        yield etcd_store
    finally:
        loop.run_until_complete(etcd_store.close())
