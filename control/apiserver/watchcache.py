"""The watch cache: one store watch per resource, fanned out to API watchers.

For each resource the cache lists the store once, then follows one store
watch on the resource's prefix. It keeps the current objects (for initial
events and ``resourceVersion=0`` lists) and a window of recent events, and
serializes each event once. Every API watch request becomes a Subscriber
registered in the resource's WatchHub (pykube_core.watch_hub), which keeps
a bounded queue per subscriber. Publishing visits only the subscribers the
event can concern, appends to their queues and never waits, so a slow
client cannot slow the others. A subscriber whose queue overflows is closed
with an error event and resumes from its last revision, as client-go's
reflector does.

A watch that starts before the window (after a restart, say) reads the
store's own history through a private store watch instead, so it resumes
exactly, or gets 410 Gone if the store has compacted that far.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import orjson

from pykube_core.watch_hub import ObjectState, WatcherId, WatchEventType, WatchHub

from pykube_control.apiserver import storage
from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.selection import Filter, field_names, object_fields, object_labels
from pykube_control.apiserver.status import status_body
from pykube_control.store.errors import CompactedError, StoreError
from pykube_control.store.interface import Event, EventType, Store

log = logging.getLogger("pykube.apiserver.watchcache")

WINDOW_EVENTS = 10_000
"""Recent events kept per resource. A watcher can resume from any revision in
the window without touching the store; 10,000 events of 2-4 KiB is 20-40 MiB
at most per busy resource."""

SUBSCRIBER_BUFFER = 1000
"""Frames a subscriber may have waiting before it is closed as too slow."""

RESTART_DELAY = 1.0
"""Seconds between attempts to restart a failed store watch."""

Object = dict[str, Any]

_TYPES = {EventType.CREATE: "ADDED", EventType.UPDATE: "MODIFIED", EventType.DELETE: "DELETED"}


@dataclasses.dataclass(slots=True)
class CacheEvent:
    revision: int
    type: str
    obj: Object
    prev: Object | None
    raw: bytes
    """JSON of ``obj``, serialized once for every watcher."""

    def frame(self, event_type: str) -> bytes:
        return b'{"type":"' + event_type.encode() + b'","object":' + self.raw + b"}\n"


class _PublishedEvent:
    """A CacheEvent in the hub, with its frames built once per event type.

    The hub drops it when the last subscriber queue that contains it is drained.
    """

    __slots__ = ("event", "_frames")

    def __init__(self, event: CacheEvent) -> None:
        self.event = event
        self._frames: dict[str, bytes] = {}

    def frame(self, event_type: str) -> bytes:
        frame = self._frames.get(event_type)
        if frame is None:
            frame = self._frames[event_type] = self.event.frame(event_type)
        return frame


def frame_for(event_type: str, obj: Object) -> bytes:
    return b'{"type":"' + event_type.encode() + b'","object":' + orjson.dumps(obj) + b"}\n"


def event_type_for(event: CacheEvent, selection: Filter) -> str | None:
    """Return the event type delivered to a watcher with ``selection``, or None.

    An update that moves an object into the selection is ADDED for that
    watcher, and one that moves it out is DELETED, as in Kubernetes.
    """
    if selection.everything:
        return event.type
    now = selection.matches(event.obj)
    if event.type != "MODIFIED":
        return event.type if now else None
    before = event.prev is not None and selection.matches(event.prev)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    if before:
        return "DELETED"
    return None


class Subscriber:
    """One API watch: its selection, a bounded frame buffer and a wake-up."""

    def __init__(self, selection: Filter, after_revision: int, buffer_size: int = SUBSCRIBER_BUFFER) -> None:
        self.selection = selection
        self._revision = after_revision
        self.frames: collections.deque[bytes] = collections.deque()
        self.buffer_size = buffer_size
        self.wakeup = asyncio.Event()
        self.closed = False
        self.error: Object | None = None
        self._hub: WatchHub[_PublishedEvent] | None = None
        self.watcher_id: WatcherId | None = None
        """Id in the cache's hub once registered there; None when fed by offer()."""
        self.sink: Callable[[bytes], bool] | None = None
        """Writes frames straight to the client's connection; returns False when
        it cannot take them now (connection closing or its buffer full)."""

    @property
    def revision(self) -> int:
        """Revision of the last event queued (or the start revision).

        A subscriber in the hub with nothing queued there has seen every
        event the hub published since it registered, so it is at the hub's
        last revision.
        """
        hub, watcher_id = self._hub, self.watcher_id
        if hub is None or watcher_id is None or self.closed or hub.last_slot is None:
            return self._revision
        if hub.pending(watcher_id) or hub.overflowed(watcher_id):
            return self._revision
        return max(self._revision, hub.last_slot)

    @revision.setter
    def revision(self, revision: int) -> None:
        self._revision = revision

    def attach(self, hub: WatchHub[_PublishedEvent], watcher_id: WatcherId) -> None:
        """Take further events from ``hub``'s queue ``watcher_id`` instead of offer()."""
        self._hub = hub
        self.watcher_id = watcher_id

    def detach(self) -> None:
        if self._hub is not None and self.watcher_id is not None:
            self._hub.remove_watcher(self.watcher_id)
        self._hub = None

    def offer(self, event: CacheEvent) -> None:
        if self.closed or event.revision <= self.revision:
            return
        self.revision = event.revision
        event_type = event_type_for(event, self.selection)
        if event_type is None:
            return
        if len(self.frames) >= self.buffer_size:
            self._fail_too_slow(self.revision)
            return
        self.frames.append(event.frame(event_type))
        self.wakeup.set()

    def _drain_hub(self) -> None:
        """Move the frames queued in the hub to ``frames``, or fail if the queue overflowed."""
        if self._hub is None or self.watcher_id is None or self.closed:
            return
        revision = self.revision
        drained = self._hub.drain(self.watcher_id)
        for published, event_type in drained.deliveries():
            self.frames.append(published.frame(event_type.name))
            revision = published.event.revision
        self._revision = max(self._revision, revision)
        if drained.overflow_slot is not None:
            self._fail_too_slow(drained.overflow_slot)

    def _fail_too_slow(self, revision: int) -> None:
        """Close the watch because the event at ``revision`` found the buffer full."""
        self.fail(
            429,
            "TooManyRequests",
            f"watch closed because it fell more than {self.buffer_size} events behind; "
            f"resume from resourceVersion {revision - 1}",
        )

    def push(self, frame: bytes) -> None:
        self._drain_hub()
        self.frames.append(frame)
        self.wakeup.set()

    def fail(self, code: int, reason: str, message: str) -> None:
        self.frames.clear()
        self.error = status_body(code, reason, message)
        self.closed = True
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()

    def take(self) -> list[bytes]:
        self._drain_hub()
        frames = list(self.frames)
        self.frames.clear()
        self.wakeup.clear()
        return frames

    def deliver(self) -> None:
        """Send the queued frames through the sink, or wake the stream task to send them.

        Writing from the fan-out loop saves a task switch per watcher and
        event, which dominates with thousands of watchers. The stream task
        still handles errors, bookmarks, timeouts and a client too slow for
        the sink.
        """
        if self.sink is None or self.closed:
            self.wakeup.set()
            return
        frames = self.take()
        if self.closed:
            self.wakeup.set()
            return
        if frames and not self.sink(b"".join(frames)):
            self.frames.extendleft(reversed(frames))
            self.wakeup.set()


class WatchCache:
    """The cache of one resource; see the module docstring."""

    def __init__(self, store: Store, resource: ResourceType, *, window: int = WINDOW_EVENTS) -> None:
        self.store = store
        self.resource = resource
        self.prefix = storage.list_prefix(resource, None)
        self.objects: dict[str, tuple[Object, bytes]] = {}
        self.events: collections.deque[CacheEvent] = collections.deque(maxlen=window)
        self.revision = 0
        """Revision up to which the cache has applied the store's events."""
        self.start_revision = 0
        """Revision of the list the cache was built from; the window starts after it."""
        self.subscribers: set[Subscriber] = set()
        names = field_names(resource)
        self.hub: WatchHub[_PublishedEvent] = WatchHub(
            names, index_field="spec.nodeName" if "spec.nodeName" in names else None
        )
        self._hub_subscribers: dict[WatcherId, Subscriber] = {}
        self._to_deliver: set[WatcherId] = set()
        """Watchers woken since the last flush; see _apply."""
        self._flush_scheduled = False
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._revision_waiters: list[tuple[int, asyncio.Future[None]]] = []

    async def start(self) -> None:
        await self._load()
        self._task = asyncio.create_task(self._follow(), name=f"watchcache-{self.resource.qualified}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for subscriber in list(self.subscribers):
            subscriber.close()

    async def _load(self) -> None:
        objects: dict[str, tuple[Object, bytes]] = {}
        result = await self.store.list(self.prefix)
        while True:
            for kv in result.items:
                obj = storage.decode_kv(kv)
                objects[kv.key] = (obj, orjson.dumps(obj))
            if result.continue_token is None:
                break
            result = await self.store.list(self.prefix, continue_token=result.continue_token)
        self.objects = objects
        self.revision = self.start_revision = result.revision
        self.events.clear()
        self.ready.set()
        log.debug("watch cache loaded resource=%s objects=%d revision=%d", self.resource.qualified, len(objects), self.revision)

    async def _follow(self) -> None:
        while True:
            try:
                watch = self.store.watch(self.prefix, after_revision=self.revision)
                try:
                    async for event in watch:
                        self._apply(event)
                finally:
                    await watch.close()
            except asyncio.CancelledError:
                raise
            except CompactedError:
                log.warning("watch cache fell behind compaction, reloading resource=%s", self.resource.qualified)
                await self._reload()
            except StoreError as exc:
                log.warning("watch cache store watch failed resource=%s error=%s", self.resource.qualified, exc)
                await asyncio.sleep(RESTART_DELAY)

    async def _reload(self) -> None:
        for subscriber in list(self.subscribers):
            subscriber.fail(410, "Expired", "the watch cache was reloaded; list again")
        await self._load()

    def _apply(self, event: Event) -> None:
        obj = storage.decode(event.value, event.revision)
        prev = None
        if event.type == EventType.UPDATE and event.prev_value is not None:
            # The cache applies every event in revision order, so its copy is
            # the version before this event and spares decoding prev_value.
            # Only selectors read prev, and they never read resourceVersion.
            previous = self.objects.get(event.key)
            prev = previous[0] if previous is not None else storage.decode(event.prev_value, event.revision)
        raw = orjson.dumps(obj)
        if event.type == EventType.DELETE:
            self.objects.pop(event.key, None)
        else:
            self.objects[event.key] = (obj, raw)
        cached = CacheEvent(event.revision, _TYPES[event.type], obj, prev, raw)
        self.events.append(cached)
        self.revision = event.revision
        if self._hub_subscribers:
            # NOTE: the hub matches an update whose previous version was
            # compacted as unchanged, so a filtered watcher gets MODIFIED where
            # event_type_for (window replay, store history) gives ADDED.
            woken = self.hub.publish(
                event.revision,
                _PublishedEvent(cached),
                WatchEventType[cached.type],
                self._object_state(obj),
                None if prev is None else self._object_state(prev),
            )
            # The store hands over a commit's events without yielding, so
            # delivering after the last of them writes each watcher's frames
            # of one commit with one send instead of one send per event.
            self._to_deliver.update(woken.tolist())
            if self._to_deliver and not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush_deliveries)
        self._wake_revision_waiters()

    def _flush_deliveries(self) -> None:
        self._flush_scheduled = False
        woken, self._to_deliver = self._to_deliver, set()
        for watcher_id in woken:
            subscriber = self._hub_subscribers.get(watcher_id)
            if subscriber is not None:
                subscriber.deliver()

    def _object_state(self, obj: Object) -> ObjectState:
        namespace = obj.get("metadata", {}).get("namespace")
        return ObjectState(
            namespace if isinstance(namespace, str) else "",
            object_labels(obj),
            object_fields(self.resource, obj),
        )

    # --- waiting for a revision ---------------------------------------------

    def _wake_revision_waiters(self) -> None:
        if not self._revision_waiters:
            return
        remaining = []
        for revision, future in self._revision_waiters:
            if self.revision >= revision:
                if not future.done():
                    future.set_result(None)
            else:
                remaining.append((revision, future))
        self._revision_waiters = remaining

    async def wait_for_revision(self, revision: int, timeout: float) -> bool:
        """Wait until the cache has applied ``revision``; return False on timeout."""
        if self.revision >= revision:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._revision_waiters.append((revision, future))
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False

    # --- serving ---------------------------------------------------------------

    def snapshot(self, selection: Filter) -> tuple[list[Object], int]:
        """Return the cached objects that ``selection`` matches, in key order, and the cache revision."""
        items = [obj for key, (obj, _) in sorted(self.objects.items()) if selection.matches(obj)]
        return items, self.revision

    def subscribe(
        self, selection: Filter, after_revision: int | None, *, initial_events: bool
    ) -> Subscriber | None:
        """Register a watcher; return None if ``after_revision`` is older than the window.

        With ``initial_events`` the subscriber first gets an ADDED event for
        every matching object as of the cache revision, then what follows.
        """
        if initial_events or after_revision is None:
            subscriber = Subscriber(selection, self.revision)
            for key in sorted(self.objects):
                obj, raw = self.objects[key]
                if selection.matches(obj):
                    subscriber.push(b'{"type":"ADDED","object":' + raw + b"}\n")
            self._register(subscriber)
            return subscriber
        if after_revision < self.start_revision:
            return None
        subscriber = Subscriber(selection, after_revision)
        for event in self.events:
            subscriber.offer(event)
        self._register(subscriber)
        return subscriber

    def _register(self, subscriber: Subscriber) -> None:
        """Feed ``subscriber`` every event after the cache revision through the hub."""
        selection = subscriber.selection
        watcher_id = self.hub.add_watcher(
            namespace=selection.namespace,
            labels=selection.labels,
            fields=selection.fields,
            capacity=subscriber.buffer_size,
        )
        subscriber.attach(self.hub, watcher_id)
        self._hub_subscribers[watcher_id] = subscriber
        self.subscribers.add(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if subscriber.watcher_id is not None:
            self._hub_subscribers.pop(subscriber.watcher_id, None)
        subscriber.detach()

    def bookmark_frame(self, revision: int) -> bytes:
        obj = {
            "kind": self.resource.kind,
            "apiVersion": self.resource.group_version,
            "metadata": {"resourceVersion": str(revision)},
        }
        return frame_for("BOOKMARK", obj)


async def follow_store_history(
    store: Store, resource: ResourceType, subscriber: Subscriber, after_revision: int
) -> None:
    """Feed ``subscriber`` from the store's own history (for watches older than the window)."""
    watch = store.watch(storage.list_prefix(resource, None), after_revision=after_revision)
    try:
        async for event in watch:
            if subscriber.closed:
                return
            obj = storage.decode(event.value, event.revision)
            prev = None
            if event.type == EventType.UPDATE and event.prev_value is not None:
                prev = storage.decode(event.prev_value, event.revision)
            subscriber.offer(CacheEvent(event.revision, _TYPES[event.type], obj, prev, orjson.dumps(obj)))
    except CompactedError as exc:
        subscriber.fail(410, "Expired", f"too old resource version: {after_revision} ({exc.compacted})")
    finally:
        await watch.close()
