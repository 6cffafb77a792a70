"""The store contract as tests, run against every backend.

A backend's test module subclasses StoreConformance and provides two
fixtures: ``store`` (a connected Store) and ``prefix`` (a fresh key prefix
such as "/t/<uuid>/" that no other test uses). Tests must not assume an
empty store or absolute revision numbers, because the etcd classes share
one server between tests; they only compare revisions with each other.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from pykube_control.store.errors import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    InvalidContinueError,
    InvalidKeyError,
    KeyExistsError,
    KeyNotFoundError,
)
from pykube_control.store.interface import Event, EventType, Store, Watch

WATCH_TIMEOUT = 10.0
"""Seconds a test waits for one watch event before failing; generous because
the three-member etcd cluster may be electing a leader."""


async def next_event(watch: Watch) -> Event:
    return await asyncio.wait_for(watch.__anext__(), WATCH_TIMEOUT)


async def next_events(watch: Watch, count: int) -> list[Event]:
    return [await next_event(watch) for _ in range(count)]


INVALID_KEYS = [
    pytest.param("", id="empty"),
    pytest.param("relative/key", id="no leading slash"),
    pytest.param("/a//b", id="empty segment"),
    pytest.param("/a/b/", id="trailing slash"),
    pytest.param("/a/../b", id="dot-dot segment"),
    pytest.param("/a/./b", id="dot segment"),
    pytest.param("/a/\x00b", id="NUL byte"),
    pytest.param("/a/\nb", id="newline"),
    pytest.param("/" + "x" * 1100, id="too long"),
    pytest.param("/", id="root only"),
]


class StoreConformance:
    # --- create and get -------------------------------------------------

    async def test_create_get_roundtrip(self, store: Store, prefix: str) -> None:
        created = await store.create(prefix + "a", b'{"x":1}')
        got = await store.get(prefix + "a")
        assert got == created
        assert got.value == b'{"x":1}'
        assert got.create_revision == got.mod_revision

    async def test_create_existing_rejected(self, store: Store, prefix: str) -> None:
        first = await store.create(prefix + "a", b"1")
        with pytest.raises(KeyExistsError):
            await store.create(prefix + "a", b"2")
        assert (await store.get(prefix + "a")) == first

    async def test_get_missing(self, store: Store, prefix: str) -> None:
        with pytest.raises(KeyNotFoundError) as info:
            await store.get(prefix + "missing")
        assert info.value.key == prefix + "missing"

    async def test_revision_grows_by_one_per_write(self, store: Store, prefix: str) -> None:
        start = await store.current_revision()
        a = await store.create(prefix + "a", b"1")
        b = await store.create(prefix + "b", b"1")
        a2 = await store.update(prefix + "a", b"2", expected_revision=a.mod_revision)
        deleted = await store.delete(prefix + "b")
        assert a.mod_revision == start + 1
        assert b.mod_revision == start + 2
        assert a2.mod_revision == start + 3
        assert deleted.revision == start + 4
        assert await store.current_revision() == start + 4

    async def test_empty_and_binary_values(self, store: Store, prefix: str) -> None:
        await store.create(prefix + "empty", b"")
        await store.create(prefix + "binary", bytes(range(256)))
        assert (await store.get(prefix + "empty")).value == b""
        assert (await store.get(prefix + "binary")).value == bytes(range(256))

    async def test_large_value(self, store: Store, prefix: str) -> None:
        value = b"v" * (1024 * 1024)
        await store.create(prefix + "big", value)
        assert (await store.get(prefix + "big")).value == value

    async def test_unicode_key(self, store: Store, prefix: str) -> None:
        key = prefix + "na\u00efve-\u540d\u524d"
        await store.create(key, b"1")
        assert (await store.get(key)).key == key
        listed = await store.list(prefix)
        assert [kv.key for kv in listed.items] == [key]

    # --- update -----------------------------------------------------------

    async def test_update_with_current_revision(self, store: Store, prefix: str) -> None:
        created = await store.create(prefix + "a", b"1")
        updated = await store.update(prefix + "a", b"2", expected_revision=created.mod_revision)
        assert updated.value == b"2"
        assert updated.create_revision == created.create_revision
        assert updated.mod_revision > created.mod_revision
        assert (await store.get(prefix + "a")) == updated

    async def test_update_stale_revision_conflicts(self, store: Store, prefix: str) -> None:
        created = await store.create(prefix + "a", b"1")
        updated = await store.update(prefix + "a", b"2", expected_revision=created.mod_revision)
        with pytest.raises(ConflictError) as info:
            await store.update(prefix + "a", b"3", expected_revision=created.mod_revision)
        assert info.value.current == updated
        assert (await store.get(prefix + "a")).value == b"2"

    async def test_update_missing(self, store: Store, prefix: str) -> None:
        with pytest.raises(KeyNotFoundError):
            await store.update(prefix + "missing", b"1", expected_revision=1)

    async def test_concurrent_updates_one_wins(self, store: Store, prefix: str) -> None:
        created = await store.create(prefix + "a", b"0")
        results = await asyncio.gather(
            *(store.update(prefix + "a", str(i).encode(), expected_revision=created.mod_revision) for i in range(8)),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, ConflictError)]
        assert len(winners) == 1
        assert len(losers) == 7
        assert (await store.get(prefix + "a")) == winners[0]

    async def test_concurrent_creates_get_distinct_revisions(self, store: Store, prefix: str) -> None:
        created = await asyncio.gather(*(store.create(f"{prefix}k{i:03}", b"x") for i in range(50)))
        revisions = sorted(kv.mod_revision for kv in created)
        assert len(set(revisions)) == 50
        assert revisions[-1] - revisions[0] == 49

    # --- delete -----------------------------------------------------------

    async def test_delete_returns_last_version(self, store: Store, prefix: str) -> None:
        created = await store.create(prefix + "a", b"1")
        deleted = await store.delete(prefix + "a")
        assert deleted.prev == created
        assert deleted.revision > created.mod_revision
        with pytest.raises(KeyNotFoundError):
            await store.get(prefix + "a")

    async def test_delete_missing(self, store: Store, prefix: str) -> None:
        with pytest.raises(KeyNotFoundError):
            await store.delete(prefix + "missing")

    async def test_delete_with_stale_revision_conflicts(self, store: Store, prefix: str) -> None:
        created = await store.create(prefix + "a", b"1")
        updated = await store.update(prefix + "a", b"2", expected_revision=created.mod_revision)
        with pytest.raises(ConflictError) as info:
            await store.delete(prefix + "a", expected_revision=created.mod_revision)
        assert info.value.current == updated
        deleted = await store.delete(prefix + "a", expected_revision=updated.mod_revision)
        assert deleted.prev == updated

    async def test_recreate_after_delete(self, store: Store, prefix: str) -> None:
        await store.create(prefix + "a", b"1")
        deleted = await store.delete(prefix + "a")
        again = await store.create(prefix + "a", b"2")
        assert again.create_revision > deleted.revision
        assert again.value == b"2"

    # --- list -------------------------------------------------------------

    async def test_list_in_key_order_within_prefix(self, store: Store, prefix: str) -> None:
        for name in ["c", "a", "b/x", "b"]:
            await store.create(prefix + "in/" + name, name.encode())
        await store.create(prefix + "inside", b"outside the prefix")
        await store.create(prefix + "i", b"outside the prefix")
        result = await store.list(prefix + "in/")
        assert [kv.key for kv in result.items] == [prefix + "in/" + n for n in ["a", "b", "b/x", "c"]]
        assert result.continue_token is None
        assert result.remaining == 0
        assert result.revision == await store.current_revision()

    async def test_list_empty_prefix(self, store: Store, prefix: str) -> None:
        result = await store.list(prefix)
        assert result.items == []
        assert result.continue_token is None

    async def test_list_pages_with_continue(self, store: Store, prefix: str) -> None:
        keys = [f"{prefix}k{i:02}" for i in range(10)]
        for key in keys:
            await store.create(key, b"v")
        seen: list[str] = []
        page = await store.list(prefix, limit=4)
        assert page.remaining == 6
        revisions = {page.revision}
        seen += [kv.key for kv in page.items]
        while page.continue_token is not None:
            page = await store.list(prefix, limit=4, continue_token=page.continue_token)
            revisions.add(page.revision)
            seen += [kv.key for kv in page.items]
        assert seen == keys
        assert len(revisions) == 1

    async def test_continue_reads_same_snapshot(self, store: Store, prefix: str) -> None:
        for i in range(6):
            await store.create(f"{prefix}k{i}", b"old")
        first = await store.list(prefix, limit=3)
        assert first.continue_token is not None
        kv5 = await store.get(prefix + "k5")
        await store.update(prefix + "k5", b"new", expected_revision=kv5.mod_revision)
        await store.delete(prefix + "k4")
        await store.create(prefix + "k9", b"new")
        second = await store.list(prefix, limit=10, continue_token=first.continue_token)
        assert [kv.key for kv in second.items] == [f"{prefix}k{i}" for i in (3, 4, 5)]
        assert [kv.value for kv in second.items] == [b"old"] * 3
        assert second.revision == first.revision
        assert second.continue_token is None

    async def test_list_at_revision(self, store: Store, prefix: str) -> None:
        a = await store.create(prefix + "a", b"1")
        await store.create(prefix + "b", b"1")
        snapshot = await store.current_revision()
        await store.update(prefix + "a", b"2", expected_revision=a.mod_revision)
        await store.delete(prefix + "b")
        await store.create(prefix + "c", b"1")
        old = await store.list(prefix, revision=snapshot)
        assert [(kv.key, kv.value) for kv in old.items] == [(prefix + "a", b"1"), (prefix + "b", b"1")]
        assert old.revision == snapshot
        new = await store.list(prefix)
        assert [(kv.key, kv.value) for kv in new.items] == [(prefix + "a", b"2"), (prefix + "c", b"1")]

    async def test_get_at_revision(self, store: Store, prefix: str) -> None:
        a = await store.create(prefix + "a", b"1")
        await store.update(prefix + "a", b"2", expected_revision=a.mod_revision)
        assert (await store.get(prefix + "a", revision=a.mod_revision)) == a
        with pytest.raises(KeyNotFoundError):
            await store.get(prefix + "a", revision=a.mod_revision - 1)

    async def test_list_future_revision_rejected(self, store: Store, prefix: str) -> None:
        current = await store.current_revision()
        with pytest.raises(FutureRevisionError):
            await store.list(prefix, revision=current + 1000)

    @pytest.mark.parametrize(
        "token",
        [
            pytest.param("not-base64!", id="garbage"),
            pytest.param("eyJ2Ijo5OX0", id="unknown version"),
        ],
    )
    async def test_invalid_continue_token(self, store: Store, prefix: str, token: str) -> None:
        with pytest.raises(InvalidContinueError):
            await store.list(prefix, continue_token=token)

    async def test_continue_token_for_other_prefix(self, store: Store, prefix: str) -> None:
        for i in range(3):
            await store.create(f"{prefix}a/{i}", b"v")
        page = await store.list(prefix + "a/", limit=1)
        assert page.continue_token is not None
        with pytest.raises(InvalidContinueError):
            await store.list(prefix + "b/", continue_token=page.continue_token)

    # --- invalid keys -------------------------------------------------------

    @pytest.mark.parametrize("key", INVALID_KEYS)
    async def test_invalid_key_rejected(self, store: Store, prefix: str, key: str) -> None:
        before = await store.current_revision()
        with pytest.raises(InvalidKeyError):
            await store.create(key, b"v")
        with pytest.raises(InvalidKeyError):
            await store.get(key)
        with pytest.raises(InvalidKeyError):
            await store.update(key, b"v", expected_revision=1)
        with pytest.raises(InvalidKeyError):
            await store.delete(key)
        assert await store.current_revision() == before

    async def test_invalid_prefix_rejected(self, store: Store, prefix: str) -> None:
        with pytest.raises(InvalidKeyError):
            await store.list("no-slash")
        with pytest.raises(InvalidKeyError):
            store.watch("a//b/")

    # --- watch --------------------------------------------------------------

    async def test_watch_delivers_writes_in_order(self, store: Store, prefix: str) -> None:
        watch = store.watch(prefix)
        try:
            created = await store.create(prefix + "a", b"1")
            updated = await store.update(prefix + "a", b"2", expected_revision=created.mod_revision)
            deleted = await store.delete(prefix + "a")
            events = await next_events(watch, 3)
        finally:
            await watch.close()
        assert [e.type for e in events] == [EventType.CREATE, EventType.UPDATE, EventType.DELETE]
        assert [e.revision for e in events] == [created.mod_revision, updated.mod_revision, deleted.revision]
        assert [e.value for e in events] == [b"1", b"2", b"2"]
        assert [e.prev_value for e in events] == [None, b"1", b"2"]
        assert {e.create_revision for e in events} == {created.create_revision}
        assert {e.key for e in events} == {prefix + "a"}

    async def test_watch_only_prefix(self, store: Store, prefix: str) -> None:
        watch = store.watch(prefix + "in/")
        try:
            await store.create(prefix + "inside", b"no")
            await store.create(prefix + "other/a", b"no")
            inside = await store.create(prefix + "in/a", b"yes")
            event = await next_event(watch)
        finally:
            await watch.close()
        assert event.key == inside.key
        assert event.revision == inside.mod_revision

    async def test_watch_replays_from_revision(self, store: Store, prefix: str) -> None:
        start = await store.current_revision()
        written = [await store.create(f"{prefix}k{i}", str(i).encode()) for i in range(5)]
        watch = store.watch(prefix, after_revision=written[1].mod_revision)
        try:
            replayed = await next_events(watch, 3)
            live = await store.create(prefix + "live", b"x")
            after = await next_event(watch)
        finally:
            await watch.close()
        assert start < written[1].mod_revision
        assert [e.revision for e in replayed] == [kv.mod_revision for kv in written[2:]]
        assert after.revision == live.mod_revision

    async def test_watch_from_current_skips_history(self, store: Store, prefix: str) -> None:
        await store.create(prefix + "old", b"1")
        watch = store.watch(prefix)
        try:
            new = await store.create(prefix + "new", b"1")
            event = await next_event(watch)
        finally:
            await watch.close()
        assert event.key == new.key

    async def test_watch_many_watchers_same_events(self, store: Store, prefix: str) -> None:
        watches = [store.watch(prefix) for _ in range(5)]
        try:
            written = [await store.create(f"{prefix}k{i}", b"v") for i in range(20)]
            received = [await next_events(w, 20) for w in watches]
        finally:
            for w in watches:
                await w.close()
        expected = [kv.mod_revision for kv in written]
        for events in received:
            assert [e.revision for e in events] == expected

    async def test_watch_burst_of_concurrent_writes(self, store: Store, prefix: str) -> None:
        watch = store.watch(prefix)
        try:
            written = await asyncio.gather(*(store.create(f"{prefix}k{i:03}", b"v") for i in range(100)))
            events = await next_events(watch, 100)
        finally:
            await watch.close()
        revisions = [e.revision for e in events]
        assert revisions == sorted(revisions)
        assert sorted(revisions) == sorted(kv.mod_revision for kv in written)

    async def test_watch_close_ends_iteration(self, store: Store, prefix: str) -> None:
        watch = store.watch(prefix)
        await watch.close()
        await watch.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(watch.__anext__(), WATCH_TIMEOUT)

    async def test_watch_close_wakes_waiting_reader(self, store: Store, prefix: str) -> None:
        watch = store.watch(prefix)
        reader = asyncio.ensure_future(watch.__anext__())
        await asyncio.sleep(0.1)
        await watch.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(reader, WATCH_TIMEOUT)

    # --- compaction -----------------------------------------------------------

    async def test_compaction(self, store: Store, prefix: str) -> None:
        a = await store.create(prefix + "a", b"1")
        a2 = await store.update(prefix + "a", b"2", expected_revision=a.mod_revision)
        b = await store.create(prefix + "b", b"1")
        await store.delete(prefix + "b")
        c = await store.create(prefix + "c", b"1")
        await store.compact(c.mod_revision)

        with pytest.raises(CompactedError) as info:
            await store.list(prefix, revision=a2.mod_revision)
        assert info.value.requested == a2.mod_revision
        with pytest.raises(CompactedError):
            await store.get(prefix + "a", revision=b.mod_revision)

        at_compaction = await store.list(prefix, revision=c.mod_revision)
        assert [(kv.key, kv.value) for kv in at_compaction.items] == [(prefix + "a", b"2"), (prefix + "c", b"1")]
        assert (await store.get(prefix + "a")) == a2

    async def test_watch_from_compacted_revision(self, store: Store, prefix: str) -> None:
        a = await store.create(prefix + "a", b"1")
        for i in range(3):
            await store.create(f"{prefix}k{i}", b"v")
        current = await store.current_revision()
        await store.compact(current)
        watch = store.watch(prefix, after_revision=a.mod_revision - 1)
        try:
            with pytest.raises(CompactedError):
                await next_event(watch)
        finally:
            await watch.close()

    async def test_watch_from_compaction_point(self, store: Store, prefix: str) -> None:
        await store.create(prefix + "a", b"1")
        current = await store.current_revision()
        await store.compact(current)
        watch = store.watch(prefix, after_revision=current)
        try:
            new = await store.create(prefix + "b", b"1")
            event = await next_event(watch)
        finally:
            await watch.close()
        assert event.revision == new.mod_revision

    async def test_compact_twice_rejected(self, store: Store, prefix: str) -> None:
        await store.create(prefix + "a", b"1")
        current = await store.current_revision()
        await store.compact(current)
        with pytest.raises(CompactedError):
            await store.compact(current)

    async def test_compact_future_rejected(self, store: Store, prefix: str) -> None:
        current = await store.current_revision()
        with pytest.raises(FutureRevisionError):
            await store.compact(current + 1000)

    async def test_update_prev_value_survives_compaction(self, store: Store, prefix: str) -> None:
        a = await store.create(prefix + "a", b"1")
        await store.compact(a.mod_revision)
        watch = store.watch(prefix, after_revision=a.mod_revision)
        try:
            await store.update(prefix + "a", b"2", expected_revision=a.mod_revision)
            event = await next_event(watch)
        finally:
            await watch.close()
        assert event.prev_value == b"1"


def unique_prefix() -> str:
    return f"/t/{uuid.uuid4().hex[:12]}/"
