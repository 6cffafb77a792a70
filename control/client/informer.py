"""Informers: a local cache of one resource, kept current by list and watch, with event handlers.

The loop is client-go's reflector, in asyncio:

1. List, in pages of ``page_size`` with limit/continue, and replace the
   cache with the result.
2. Watch from the list's resourceVersion with bookmarks, updating the cache
   and the resourceVersion with every event.
3. When the stream ends or the connection breaks, watch again from the last
   resourceVersion seen, so nothing is missed and nothing is sent twice.
4. When the server returns 410 Gone (the resourceVersion was compacted away)
   or sends any other ERROR, list again.

Handlers run on a separate task, in event order, so a slow handler delays
later handlers but never the watch. The queue between them is unbounded, as
client-go's is. A handler's exception is logged and does not stop the
informer. Handlers receive the cached objects themselves and must not
mutate them.

A relist replaces the cache. Objects that disappeared produce
``on_delete(last_known, final_state_unknown=True)``, because the delete
happened while the informer was not watching (client-go wraps these in
DeletedFinalStateUnknown). Every object still present produces
``on_update(old, new)``, even when unchanged, as client-go does, and new
ones produce ``on_add``. A resync re-delivers ``on_update(obj, obj)`` for
every cached object, so controllers retry work that failed without an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from pykube_control.client.api import APIClient
from pykube_control.client.errors import APIConnectionError, APIError, Gone
from pykube_control.client.indexer import IndexFunc, Indexer, Object, object_key
from pykube_control.client.resource import ResourceLike, api_version_of
from pykube_control.client.watch import WatchFrameError

log = logging.getLogger("pykube.client")

PAGE_SIZE = 500
"""Objects per list page; client-go's list pager uses 500 as well."""
WATCH_TIMEOUT_RANGE = (300, 600)
"""Seconds. Each watch requests that the server end it after a random time in this range,
so the watches of many informers do not all reconnect at once after a server restart."""
BACKOFF_INITIAL = 0.8
"""Seconds before the first retry after a failed list or broken watch; doubles per failure."""
BACKOFF_MAX = 30.0
"""Seconds; the cap of that back-off."""

AddHandler = Callable[[Object], Awaitable[None]]
UpdateHandler = Callable[[Object, Object], Awaitable[None]]


class DeleteHandler(Protocol):
    """Called with the last known object; ``final_state_unknown`` is True when the delete was seen by a relist."""

    def __call__(self, obj: Object, final_state_unknown: bool) -> Awaitable[None]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Handlers:
    on_add: AddHandler | None = None
    on_update: UpdateHandler | None = None
    on_delete: DeleteHandler | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Notification:
    kind: str
    """"add", "update", "delete" or "synced" (the initial list's events end here)."""
    old: Object | None = None
    new: Object | None = None
    final_state_unknown: bool = False


class Informer:
    """A cache of ``resource`` objects matching the selectors, with handlers; see the module docstring."""

    def __init__(
        self,
        client: APIClient,
        resource: ResourceLike,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        page_size: int = PAGE_SIZE,
        watch_timeout_range: tuple[int, int] = WATCH_TIMEOUT_RANGE,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        if resync_period is not None and resync_period <= 0:
            raise ValueError(f"resync_period must be > 0 seconds or None, got {resync_period}")
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.store = Indexer(indexers)
        self.resource_version: str | None = None
        """The last resourceVersion seen from a list, event or bookmark."""
        self._page_size = page_size
        self._watch_timeout_range = watch_timeout_range
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._handlers: list[Handlers] = []
        self._notifications: asyncio.Queue[_Notification] = asyncio.Queue()
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._name = f"{resource.plural}.{resource.group}" if resource.group else resource.plural

    def add_handlers(
        self,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> None:
        """Register handlers; add them before ``start`` to see the initial objects."""
        self._handlers.append(Handlers(on_add, on_update, on_delete))

    @property
    def has_synced(self) -> bool:
        """True once the first list is cached and its on_add handlers have run."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait until ``has_synced``; return False when ``timeout`` seconds pass first."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def start(self) -> asyncio.Task[None]:
        """Start the informer's task in the running loop; raise RuntimeError when already started."""
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"informer for {self._name} is already running")
        self._task = asyncio.create_task(self.run(), name=f"informer-{self._name}")
        return self._task

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def run(self) -> None:
        """List and watch until cancelled."""
        log.info("informer started resource=%s namespace=%s", self._name, self.namespace or "*")
        dispatcher = asyncio.create_task(self._dispatch(), name=f"informer-handlers-{self._name}")
        resync = asyncio.create_task(self._resync()) if self.resync_period else None
        try:
            failures = 0
            while True:
                try:
                    version = await self._list()
                    failures = 0
                    await self._watch(version)
                except (APIError, APIConnectionError, WatchFrameError) as error:
                    delay = self._backoff(failures)
                    failures += 1
                    log.warning("informer list failed resource=%s retry_in=%.2f error=%s", self._name, delay, error)
                    await asyncio.sleep(delay)
        finally:
            for task in (dispatcher, resync):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            log.info("informer stopped resource=%s", self._name)

    # --- list and watch ----------------------------------------------------------------------

    async def _list(self) -> str:
        """List every page, replace the cache, and return the list's resourceVersion."""
        items: list[Object] = []
        version = ""
        pages = self.client.list_pages(
            self.resource, namespace=self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector, limit=self._page_size,
        )  # fmt: skip
        async for page in pages:
            items.extend(page.get("items") or [])
            version = str((page.get("metadata") or {}).get("resourceVersion") or "")
        for item in items:
            # List items may omit kind and apiVersion; handlers get whole objects either way.
            item.setdefault("kind", self.resource.kind)
            item.setdefault("apiVersion", api_version_of(self.resource))
        self._replace(items)
        self.resource_version = version
        log.info("informer listed resource=%s objects=%d resource_version=%s", self._name, len(items), version)
        if not self._synced.is_set():
            self._notifications.put_nowait(_Notification("synced"))
        return version

    async def _watch(self, version: str) -> None:
        """Watch from ``version``, resuming after broken streams; return when a relist is needed."""
        failures = 0
        while True:
            try:
                events = self.client.watch(
                    self.resource, namespace=self.namespace, label_selector=self.label_selector,
                    field_selector=self.field_selector, resource_version=version,
                    allow_bookmarks=True, timeout_seconds=random.randint(*self._watch_timeout_range),
                )  # fmt: skip
                async for event_type, obj in events:
                    version = self._apply(event_type, obj) or version
                    self.resource_version = version
                    failures = 0
            except Gone as error:
                log.info("informer watch expired, relisting resource=%s resource_version=%s error=%s",
                         self._name, version, error.message)  # fmt: skip
                return
            except (APIError, WatchFrameError) as error:
                log.warning("informer watch failed, relisting resource=%s error=%s", self._name, error)
                return
            except APIConnectionError as error:
                delay = self._backoff(failures)
                failures += 1
                log.warning("informer watch broke resource=%s resource_version=%s retry_in=%.2f error=%s",
                            self._name, version, delay, error)  # fmt: skip
                await asyncio.sleep(delay)

    def _backoff(self, failures: int) -> float:
        delay = min(self._backoff_max, self._backoff_initial * 2.0**failures)
        return delay * random.uniform(1.0, 1.2)

    # --- cache updates -----------------------------------------------------------------------

    def _apply(self, event_type: str, obj: Object) -> str | None:
        """Apply one watch event to the cache, queue its notification, and return its resourceVersion."""
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if event_type == "BOOKMARK":
            return str(version) if version else None
        key = object_key(obj)
        if event_type in ("ADDED", "MODIFIED"):
            old = self.store.put(key, obj)
            kind = "add" if old is None else "update"
            self._notifications.put_nowait(_Notification(kind, old, obj))
        elif event_type == "DELETED":
            self.store.remove(key)
            self._notifications.put_nowait(_Notification("delete", None, obj))
        return str(version) if version else None

    def _replace(self, items: list[Object]) -> None:
        listed = {object_key(obj): obj for obj in items}
        for key in self.store.keys():
            if key not in listed:
                last_known = self.store.get(key)
                self._notifications.put_nowait(_Notification("delete", None, last_known, final_state_unknown=True))
        for key, obj in listed.items():
            old = self.store.get(key)
            self._notifications.put_nowait(_Notification("add" if old is None else "update", old, obj))
        self.store.replace(listed.items())

    async def _resync(self) -> None:
        assert self.resync_period is not None
        while True:
            await asyncio.sleep(self.resync_period)
            if not self.has_synced:
                continue
            for obj in self.store.list():
                self._notifications.put_nowait(_Notification("update", obj, obj))

    # --- handlers ----------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            notification = await self._notifications.get()
            if notification.kind == "synced":
                self._synced.set()
                log.info("informer synced resource=%s objects=%d", self._name, len(self.store))
                continue
            for handlers in list(self._handlers):
                await self._call(handlers, notification)

    async def _call(self, handlers: Handlers, notification: _Notification) -> None:
        new = notification.new
        assert new is not None
        try:
            if notification.kind == "add" and handlers.on_add is not None:
                await handlers.on_add(new)
            elif notification.kind == "update" and handlers.on_update is not None:
                assert notification.old is not None
                await handlers.on_update(notification.old, new)
            elif notification.kind == "delete" and handlers.on_delete is not None:
                await handlers.on_delete(new, notification.final_state_unknown)
        except Exception:
            log.exception("informer handler failed resource=%s event=%s key=%s",
                          self._name, notification.kind, object_key(new))  # fmt: skip
