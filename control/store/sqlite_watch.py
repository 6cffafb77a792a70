"""Watches on the SQLite store.

A watch is a cursor over the revision log: the revision of the last event
it has delivered. It never holds a queue that a writer must fill, so a slow
or abandoned watcher costs the writers nothing. When the consumer asks for
the next event, the watch reads what it has not seen yet, from the store's
in-memory ring of recent events when the ring reaches back to its cursor and
from the log table when it does not, then waits for the next commit if there
was nothing new.
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING

from pykube_control.store.errors import CompactedError
from pykube_control.store.interface import Event, Watch
from pykube_control.store.sqlite_schema import prefix_end

if TYPE_CHECKING:
    from pykube_control.store.sqlite import SQLiteStore


class SQLiteWatch(Watch):
    def __init__(self, store: SQLiteStore, prefix: str, after_revision: int) -> None:
        self._store = store
        self._prefix = prefix
        self._end = prefix_end(prefix)
        self._cursor = after_revision
        self._buffer: collections.deque[Event] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._started = False
        self._closed = False

    async def __anext__(self) -> Event:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._buffer:
                return self._buffer.popleft()
            if not self._started:
                self._started = True
                compacted = self._store.compact_revision
                if self._cursor + 1 < compacted:
                    raise CompactedError(self._cursor + 1, compacted)
            if self._cursor < self._store.revision:
                await self._fill()
                continue
            self._waiter = self._store.commit_waiter()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def _fill(self) -> None:
        until = self._store.revision
        recent = self._store.recent_events_after(self._cursor)
        if recent is not None:
            self._buffer.extend(e for e in recent if self._prefix <= e.key < self._end)
            self._cursor = until
            return
        events, reached = await self._store.read_events(self._prefix, self._cursor, until)
        if self._closed:
            return
        self._buffer.extend(events)
        self._cursor = reached

    async def close(self) -> None:
        self._closed = True
        self._buffer.clear()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
