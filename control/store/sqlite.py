"""The SQLite store backend, pykube's default.

One database file in the data directory contains the whole revision log (see
sqlite_schema). Writes go through one writer thread with group commit
(sqlite_writer); reads run on a small pool of threads, each with its own
connection, inside a read transaction, so a list sees one snapshot while
writes go on. Watchers follow a cursor: recent events come from an in-memory
ring that every commit appends to, older ones from the log table
(sqlite_watch).

Only one process may open a store file at a time. The store takes an
exclusive flock on ``<file>.lock``, which the kernel releases if the process
dies, so a crashed API server never leaves a stale lock behind.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pykube_control.store import sqlite_schema as sql
from pykube_control.store.continuation import Continuation, decode_continue, encode_continue
from pykube_control.store.errors import (
    CompactedError,
    FutureRevisionError,
    InvalidContinueError,
    KeyNotFoundError,
    StoreUnavailableError,
)
from pykube_control.store.interface import (
    DeleteResult,
    Event,
    KeyValue,
    ListResult,
    Store,
    Watch,
    validate_key,
)
from pykube_control.store.sqlite_writer import Commit, OpKind, Result, Writer, WriteOp

log = logging.getLogger("pykube.store")

READER_THREADS = 2
"""Threads serving reads. SQLite releases the GIL while it works, so two
threads keep both cores busy on this kind of 2-core machine without
contending for the WAL index."""

RING_SIZE = 50_000
"""Recent events kept in memory for watchers (about 50,000 × the mean value
size). A watcher further behind than this reads the log table instead."""

WATCH_BATCH = 1000
"""Most events one watcher reads from the log table in one query."""

T = TypeVar("T")


class SQLiteStore(Store):
    """Store on one SQLite file; open it with ``await SQLiteStore.open(path)``."""

    def __init__(self, path: str, lock_fd: int, conn: sqlite3.Connection) -> None:
        self.path = path
        self._lock_fd = lock_fd
        self._loop = asyncio.get_running_loop()
        self._revision = sql.read_current_revision(conn)
        self._compact_revision = sql.read_compact_revision(conn)
        self._writer = Writer(conn, self._revision, self._compact_revision, self._deliver_threadsafe)
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="pykube-store-reader")
        self._recent: collections.deque[Event] = collections.deque(maxlen=RING_SIZE)
        self._commit_waiters: list[asyncio.Future[None]] = []
        self._closed = False

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> SQLiteStore:
        """Open or create the store at ``path``, creating its folder if needed.

        Raise StoreUnavailableError if another process has the store open.
        """
        path = os.path.abspath(os.fspath(path))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        lock_fd = _lock(path)
        try:
            conn = sql.connect(path, readonly=False)
            sql.create_schema(conn)
        except BaseException:
            os.close(lock_fd)
            raise
        store = cls(path, lock_fd, conn)
        store._writer.start()
        log.info("store opened backend=sqlite path=%s revision=%d", path, store._revision)
        return store

    # --- writes -------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        result = await self._write("create", validate_key(key), value, None)
        assert isinstance(result, KeyValue)
        return result

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        result = await self._write("update", validate_key(key), value, expected_revision)
        assert isinstance(result, KeyValue)
        return result

    async def delete(self, key: str, *, expected_revision: int | None = None) -> DeleteResult:
        result = await self._write("delete", validate_key(key), b"", expected_revision)
        assert isinstance(result, DeleteResult)
        return result

    async def compact(self, revision: int) -> None:
        await self._write("compact", "/", b"", revision)

    async def _write(self, kind: OpKind, key: str, value: bytes, expected: int | None) -> Result:
        self._check_open()
        if not isinstance(value, bytes):
            raise TypeError(f"store value for {key!r} must be bytes, not {type(value).__name__}")
        future: asyncio.Future[Result] = self._loop.create_future()
        self._writer.submit(WriteOp(kind, key, value, expected, future))
        return await future

    def _deliver_threadsafe(self, commit: Commit) -> None:
        self._loop.call_soon_threadsafe(self._deliver, commit)

    def _deliver(self, commit: Commit) -> None:
        """Publish a committed batch on the event loop, in commit order."""
        self._recent.extend(commit.events)
        self._revision = commit.revision
        self._compact_revision = commit.compact_revision
        for future, answer in commit.answers:
            if future.cancelled():
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)
        waiters, self._commit_waiters = self._commit_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # --- reads --------------------------------------------------------------

    async def get(self, key: str, *, revision: int | None = None) -> KeyValue:
        validate_key(key)
        return await self._read(_get, key, revision)

    async def list(
        self,
        prefix: str,
        *,
        limit: int = 0,
        continue_token: str | None = None,
        revision: int | None = None,
    ) -> ListResult:
        validate_key(prefix, prefix=True)
        if limit < 0:
            raise ValueError(f"list limit must be 0 (no limit) or positive, not {limit}")
        start = prefix
        if continue_token is not None:
            cont = decode_continue(continue_token, prefix)
            if revision is not None and revision != cont.revision:
                raise InvalidContinueError(
                    f"token reads revision {cont.revision} but revision {revision} was requested"
                )
            revision = cont.revision
            start = sql.key_after(cont.last_key)
        return await self._read(_list, prefix, start, limit, revision)

    async def current_revision(self) -> int:
        self._check_open()
        return self._revision

    def watch(self, prefix: str, *, after_revision: int | None = None) -> Watch:
        from pykube_control.store.sqlite_watch import SQLiteWatch

        validate_key(prefix, prefix=True)
        self._check_open()
        start = self._revision if after_revision is None else after_revision
        return SQLiteWatch(self, prefix, start)

    async def _read(self, fn: Callable[..., T], *args: object) -> T:
        self._check_open()
        return await self._loop.run_in_executor(self._readers, self._in_snapshot, fn, args)

    def _in_snapshot(self, fn: Callable[..., T], args: tuple[object, ...]) -> T:
        """Run ``fn(conn, *args)`` on this thread's connection in one read transaction."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sql.connect(self.path, readonly=True)
            self._local.conn = conn
            self._reader_conns.append(conn)
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            conn.execute("COMMIT")

    # --- used by SQLiteWatch ------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compact_revision(self) -> int:
        return self._compact_revision

    def recent_events_after(self, revision: int) -> builtins.list[Event] | None:
        """Return the ring's events after ``revision``, or None if the ring no longer reaches back that far."""
        if not self._recent:
            return [] if revision >= self._revision else None
        first = self._recent[0].revision
        if revision + 1 < first:
            return None
        offset = revision + 1 - first
        return [self._recent[i] for i in range(offset, len(self._recent))]

    async def read_events(self, prefix: str, after: int, until: int) -> tuple[builtins.list[Event], int]:
        """Read logged events in (after, until] under prefix; return them and the revision read up to."""
        return await self._read(_events, prefix, after, until)

    def commit_waiter(self) -> asyncio.Future[None]:
        """Return a future that completes at the next commit."""
        future: asyncio.Future[None] = self._loop.create_future()
        self._commit_waiters.append(future)
        return future

    # --- lifecycle ----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailableError(f"store {self.path} is closed")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Readers close first: their connections are read-only, so only the
        # writer's, closed last, can checkpoint the WAL and remove it.
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()
        await asyncio.to_thread(self._writer.stop)
        for waiter in self._commit_waiters:
            if not waiter.done():
                waiter.set_result(None)
        os.close(self._lock_fd)
        log.info("store closed backend=sqlite path=%s revision=%d", self.path, self._revision)


def _lock(path: str) -> int:
    lock_path = path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreUnavailableError(
            f"store {path} is in use by another process (pid {holder}); stop it or choose another data directory"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


# --- read functions, run on a reader thread inside one read transaction ------


def _check_revision(conn: sqlite3.Connection, revision: int) -> None:
    compacted = sql.read_compact_revision(conn)
    if revision < compacted:
        raise CompactedError(revision, compacted)
    current = sql.read_current_revision(conn)
    if revision > current:
        raise FutureRevisionError(revision, current)


def _get(conn: sqlite3.Connection, key: str, revision: int | None) -> KeyValue:
    if revision is None:
        row = conn.execute(sql.SELECT_LATEST, (key,)).fetchone()
        if row is None:
            raise KeyNotFoundError(key)
        return KeyValue(key=row[0], value=row[1], create_revision=row[2], mod_revision=row[3])
    _check_revision(conn, revision)
    row = conn.execute(sql.SELECT_AT_REVISION, (key, revision)).fetchone()
    if row is None or row[4] == sql.TYPE_DELETE:
        raise KeyNotFoundError(key, revision)
    return KeyValue(key=row[0], value=row[1], create_revision=row[2], mod_revision=row[3])


def _list(conn: sqlite3.Connection, prefix: str, start: str, limit: int, revision: int | None) -> ListResult:
    end = sql.prefix_end(prefix)
    current = sql.read_current_revision(conn)
    if revision is None:
        revision = current
    else:
        _check_revision(conn, revision)
    # SQLite reads LIMIT -1 as no limit. One extra row shows whether more follow.
    fetch = limit + 1 if limit else -1
    if revision == current:
        rows = conn.execute(sql.LIST_LATEST, (start, end, fetch)).fetchall()
    else:
        rows = conn.execute(sql.LIST_AT_REVISION, (start, end, revision, fetch)).fetchall()
    more = bool(limit) and len(rows) > limit
    if more:
        rows = rows[:limit]
    items = [KeyValue(key=r[0], value=r[1], create_revision=r[2], mod_revision=r[3]) for r in rows]
    token = None
    remaining = 0
    if more:
        last = items[-1].key
        token = encode_continue(Continuation(revision=revision, prefix=prefix, last_key=last))
        after = sql.key_after(last)
        if revision == current:
            remaining = conn.execute(sql.COUNT_LATEST, (after, end)).fetchone()[0]
        else:
            remaining = conn.execute(sql.COUNT_AT_REVISION, (after, end, revision)).fetchone()[0]
    return ListResult(items=items, revision=revision, continue_token=token, remaining=remaining)


def _events(conn: sqlite3.Connection, prefix: str, after: int, until: int) -> tuple[list[Event], int]:
    from pykube_control.store.interface import EventType

    compacted = sql.read_compact_revision(conn)
    if after + 1 < compacted:
        raise CompactedError(after + 1, compacted)
    rows = conn.execute(sql.SELECT_EVENTS, (after, until, prefix, sql.prefix_end(prefix), WATCH_BATCH)).fetchall()
    events = []
    for rev, key, kind, create_rev, value, prev_value in rows:
        if kind == sql.TYPE_CREATE:
            events.append(Event(EventType.CREATE, key, value, rev, create_rev, None))
        elif kind == sql.TYPE_UPDATE:
            events.append(Event(EventType.UPDATE, key, value, rev, create_rev, prev_value))
        else:
            last = prev_value if prev_value is not None else b""
            events.append(Event(EventType.DELETE, key, last, rev, create_rev, prev_value))
    reached = events[-1].revision if len(rows) == WATCH_BATCH else until
    return events, reached
