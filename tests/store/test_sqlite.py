"""The conformance suite and SQLite-specific behaviour of the SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pykube_control.store.errors import StoreUnavailableError
from pykube_control.store.sqlite import SQLiteStore
from tests.store.conformance import StoreConformance, unique_prefix


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = await SQLiteStore.open(tmp_path / "state.db")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


class TestSQLite(StoreConformance):
    pass


async def test_reopen_keeps_data_and_revision(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "state.db")
    kv = await store.create("/a/b", b"1")
    deleted = await store.delete("/a/b")
    await store.close()

    again = await SQLiteStore.open(tmp_path / "state.db")
    try:
        assert await again.current_revision() == deleted.revision
        created = await again.create("/a/b", b"2")
        assert created.mod_revision == deleted.revision + 1
        assert (await again.get("/a/b", revision=kv.mod_revision)).value == b"1"
    finally:
        await again.close()


async def test_second_open_rejected(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "state.db")
    try:
        with pytest.raises(StoreUnavailableError, match="in use by another process"):
            await SQLiteStore.open(tmp_path / "state.db")
    finally:
        await store.close()


async def test_closed_store_rejects_calls(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "state.db")
    await store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        await store.get("/a")


async def test_watch_catches_up_past_ring(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "state.db")
    try:
        written = [await store.create(f"/r/k{i:04}", b"v") for i in range(30)]
        store._recent.clear()  # as if the ring had moved past these events
        watch = store.watch("/r/", after_revision=written[4].mod_revision)
        events = [await watch.__anext__() for _ in range(25)]
        await watch.close()
    finally:
        await store.close()
    assert [e.revision for e in events] == [kv.mod_revision for kv in written[5:]]
