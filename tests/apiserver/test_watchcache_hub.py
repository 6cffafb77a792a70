"""WatchCache fanning pod events out through its WatchHub, over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from pykube_control.apiserver import storage
from pykube_control.apiserver.resources import ResourceType, by_plural
from pykube_control.apiserver.selection import parse_filter
from pykube_control.apiserver.watchcache import Subscriber, WatchCache
from pykube_control.store.sqlite import SQLiteStore

Object = dict[str, Any]


def pods_type() -> ResourceType:
    resource = by_plural("", "v1", "pods")
    assert resource is not None
    return resource


PODS_TYPE = pods_type()


def pod(name: str, node: str = "", labels: dict[str, str] | None = None, phase: str = "Pending") -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "busybox"}]},
        "status": {"phase": phase},
    }


class PodWriter:
    """Writes pods straight to the store and waits until the cache applied each write."""

    def __init__(self, store: SQLiteStore, cache: WatchCache) -> None:
        self.store = store
        self.cache = cache
        self.revisions: dict[str, int] = {}

    def key(self, name: str) -> str:
        return storage.object_key(PODS_TYPE, "default", name)

    async def put(self, obj: Object) -> int:
        name = obj["metadata"]["name"]
        if name in self.revisions:
            kv = await self.store.update(self.key(name), storage.encode(obj), expected_revision=self.revisions[name])
        else:
            kv = await self.store.create(self.key(name), storage.encode(obj))
        self.revisions[name] = kv.mod_revision
        assert await self.cache.wait_for_revision(kv.mod_revision, 5)
        return kv.mod_revision

    async def delete(self, name: str) -> int:
        result = await self.store.delete(self.key(name))
        revision = result.revision
        assert await self.cache.wait_for_revision(revision, 5)
        return revision


@pytest.fixture
async def cache(tmp_path: Path) -> AsyncIterator[WatchCache]:
    store = await SQLiteStore.open(tmp_path / "state.db")
    watch_cache = WatchCache(store, PODS_TYPE)
    await watch_cache.start()
    try:
        yield watch_cache
    finally:
        await watch_cache.stop()
        await store.close()


@pytest.fixture
def writer(cache: WatchCache) -> PodWriter:
    assert isinstance(cache.store, SQLiteStore)
    return PodWriter(cache.store, cache)


def subscribe(cache: WatchCache, label_selector: str = "", field_selector: str = "") -> Subscriber:
    selection = parse_filter(PODS_TYPE, None, label_selector, field_selector)
    subscriber = cache.subscribe(selection, cache.revision, initial_events=False)
    assert subscriber is not None
    return subscriber


def events(subscriber: Subscriber) -> list[tuple[str, str]]:
    decoded = [orjson.loads(frame) for frame in subscriber.take()]
    return [(event["type"], event["object"]["metadata"]["name"]) for event in decoded]


async def test_node_watch_follows_binding(cache: WatchCache, writer: PodWriter) -> None:
    mine = subscribe(cache, field_selector="spec.nodeName=n1")
    other = subscribe(cache, field_selector="spec.nodeName=n2")

    await writer.put(pod("web"))
    await writer.put(pod("web", node="n1"))
    await writer.put(pod("web", node="n1", phase="Running"))
    await writer.delete("web")

    assert events(mine) == [("ADDED", "web"), ("MODIFIED", "web"), ("DELETED", "web")]
    assert events(other) == []


async def test_label_watch_transitions(cache: WatchCache, writer: PodWriter) -> None:
    subscriber = subscribe(cache, label_selector="app=web")

    await writer.put(pod("p", labels={"app": "db"}))
    await writer.put(pod("p", labels={"app": "web"}))
    await writer.put(pod("p", labels={"app": "web"}, phase="Running"))
    await writer.put(pod("p", labels={"app": "cache"}))

    assert events(subscriber) == [("ADDED", "p"), ("MODIFIED", "p"), ("DELETED", "p")]


async def test_wakeup_only_matching(cache: WatchCache, writer: PodWriter) -> None:
    matching = subscribe(cache, label_selector="app=web")
    other = subscribe(cache, label_selector="app=db")

    await writer.put(pod("p", labels={"app": "web"}))

    assert matching.wakeup.is_set()
    assert not other.wakeup.is_set()


async def test_idle_watch_revision_follows_cache(cache: WatchCache, writer: PodWriter) -> None:
    subscriber = subscribe(cache, label_selector="app=web")

    revision = await writer.put(pod("p", labels={"app": "db"}))

    assert subscriber.revision == revision
    assert events(subscriber) == []


async def test_pending_watch_revision_waits(cache: WatchCache, writer: PodWriter) -> None:
    subscriber = subscribe(cache)
    start = subscriber.revision

    await writer.put(pod("a"))
    last = await writer.put(pod("b"))
    revision_while_pending = subscriber.revision
    taken = events(subscriber)

    assert revision_while_pending == start
    assert taken == [("ADDED", "a"), ("ADDED", "b")]
    assert subscriber.revision == last


async def test_slow_watch_closed(cache: WatchCache, writer: PodWriter) -> None:
    # subscribe() always uses SUBSCRIBER_BUFFER, so register a small buffer directly.
    slow = Subscriber(parse_filter(PODS_TYPE, None, "", ""), cache.revision, buffer_size=2)
    cache._register(slow)
    fast = subscribe(cache)

    revisions = [await writer.put(pod(f"p{index}")) for index in range(3)]
    frames = slow.take()

    assert frames == []
    assert slow.closed
    assert slow.error is not None
    assert slow.error["code"] == 429
    assert f"resume from resourceVersion {revisions[2] - 1}" in slow.error["message"]
    assert len(events(fast)) == 3


async def test_unsubscribe_leaves_hub(cache: WatchCache, writer: PodWriter) -> None:
    subscriber = subscribe(cache)
    await writer.put(pod("p"))

    cache.unsubscribe(subscriber)

    assert len(cache.hub) == 0
    assert cache.hub.retained_payloads == 0
