"""The single writer thread of the SQLite store, with group commit.

All writes go through one thread and one connection, so revisions are
assigned in commit order with no locking beyond SQLite's own. The thread
takes every write that is waiting, applies them in one transaction and
commits once: under load many writes share one fsync (group commit), while
a lone write still commits at once. A write that fails its own check (the key
exists, a stale revision) fails with that error and takes no revision.
If SQLite itself fails, the whole transaction rolls back and every write in
it fails, so no write is ever half applied.

Compaction runs on the same thread, between batches, in chunks that each
commit on their own, so no single transaction grows with the history.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Literal

from pykube_control.store import sqlite_schema as sql
from pykube_control.store.errors import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    StoreError,
    StoreUnavailableError,
)
from pykube_control.store.interface import DeleteResult, Event, EventType, KeyValue

log = logging.getLogger("pykube.store")

MAX_BATCH = 512
"""Most writes committed in one transaction. Bounds the latency that the
last write of a burst waits for the ones before it (about 5 µs of SQLite
work each), while a burst of this size shares one fsync."""

COMPACT_CHUNK = 5000
"""Revisions deleted per compaction transaction, which keeps each
transaction and its WAL growth small.

NOTE: the chunks run back to back on the writer thread, so writes queued
during a compaction wait for all of it. Interleaving queued batches
between chunks would bound that wait."""

OpKind = Literal["create", "update", "delete", "compact"]
Result = KeyValue | DeleteResult | None


@dataclasses.dataclass(slots=True)
class WriteOp:
    kind: OpKind
    key: str
    value: bytes
    expected_revision: int | None
    future: asyncio.Future[Result]


@dataclasses.dataclass(slots=True)
class Commit:
    """The outcome of one committed batch, handed back to the event loop."""

    answers: list[tuple[asyncio.Future[Result], Result | BaseException]]
    events: list[Event]
    revision: int
    compact_revision: int


class Writer:
    """Owns the write connection; see the module docstring."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        revision: int,
        compact_revision: int,
        deliver: Callable[[Commit], None],
    ) -> None:
        self._conn = conn
        self._revision = revision
        self._compact_revision = compact_revision
        self._deliver = deliver
        self._queue: queue.SimpleQueue[WriteOp | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="pykube-store-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, op: WriteOp) -> None:
        self._queue.put(op)

    def stop(self) -> None:
        """Finish the queued writes, then end the thread; blocks until it has."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        log.debug("store writer started revision=%d", self._revision)
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            stopping = False
            while len(batch) < MAX_BATCH:
                try:
                    op = self._queue.get_nowait()
                except queue.Empty:
                    break
                if op is None:
                    stopping = True
                    break
                batch.append(op)
            self._process(batch)
            if stopping:
                break
        self._conn.close()
        log.debug("store writer stopped revision=%d", self._revision)

    def _process(self, batch: list[WriteOp]) -> None:
        writes: list[WriteOp] = []
        for op in batch:
            if op.kind == "compact":
                self._commit_writes(writes)
                writes = []
                self._compact(op)
            else:
                writes.append(op)
        self._commit_writes(writes)

    def _commit_writes(self, ops: list[WriteOp]) -> None:
        if not ops:
            return
        start_revision = self._revision
        answers: list[tuple[asyncio.Future[Result], Result | BaseException]] = []
        events: list[Event] = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                try:
                    result, event = self._apply(op)
                except StoreError as exc:
                    answers.append((op.future, exc))
                    continue
                answers.append((op.future, result))
                events.append(event)
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            self._revision = start_revision
            log.error("store write failed, batch rolled back writes=%d error=%s", len(ops), exc)
            failure = StoreUnavailableError(f"SQLite write failed: {exc}")
            answers = [(op.future, failure) for op in ops]
            events = []
        self._deliver(Commit(answers, events, self._revision, self._compact_revision))

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction was open

    def _apply(self, op: WriteOp) -> tuple[Result, Event]:
        current = self._conn.execute(sql.SELECT_LATEST, (op.key,)).fetchone()
        if op.kind == "create":
            if current is not None:
                raise KeyExistsError(op.key)
            return self._create(op)
        if current is None:
            raise KeyNotFoundError(op.key)
        existing = KeyValue(key=current[0], value=current[1], create_revision=current[2], mod_revision=current[3])
        if op.expected_revision is not None and existing.mod_revision != op.expected_revision:
            raise ConflictError(op.key, op.expected_revision, existing)
        if op.kind == "update":
            return self._update(op, existing)
        return self._delete(op, existing)

    def _create(self, op: WriteOp) -> tuple[Result, Event]:
        rev = self._revision + 1
        self._conn.execute(
            "INSERT INTO log (rev, key, type, create_rev, prev_rev, value) VALUES (?, ?, ?, ?, NULL, ?)",
            (rev, op.key, sql.TYPE_CREATE, rev, op.value),
        )
        self._conn.execute("INSERT INTO kv (key, mod_rev, create_rev) VALUES (?, ?, ?)", (op.key, rev, rev))
        self._revision = rev
        kv = KeyValue(key=op.key, value=op.value, create_revision=rev, mod_revision=rev)
        return kv, Event(EventType.CREATE, op.key, op.value, rev, rev, None)

    def _update(self, op: WriteOp, existing: KeyValue) -> tuple[Result, Event]:
        rev = self._revision + 1
        self._conn.execute(
            "INSERT INTO log (rev, key, type, create_rev, prev_rev, value) VALUES (?, ?, ?, ?, ?, ?)",
            (rev, op.key, sql.TYPE_UPDATE, existing.create_revision, existing.mod_revision, op.value),
        )
        self._conn.execute("UPDATE kv SET mod_rev = ? WHERE key = ?", (rev, op.key))
        self._revision = rev
        kv = KeyValue(key=op.key, value=op.value, create_revision=existing.create_revision, mod_revision=rev)
        return kv, Event(EventType.UPDATE, op.key, op.value, rev, existing.create_revision, existing.value)

    def _delete(self, op: WriteOp, existing: KeyValue) -> tuple[Result, Event]:
        rev = self._revision + 1
        self._conn.execute(
            "INSERT INTO log (rev, key, type, create_rev, prev_rev, value) VALUES (?, ?, ?, ?, ?, x'')",
            (rev, op.key, sql.TYPE_DELETE, existing.create_revision, existing.mod_revision),
        )
        self._conn.execute("DELETE FROM kv WHERE key = ?", (op.key,))
        self._revision = rev
        event = Event(EventType.DELETE, op.key, existing.value, rev, existing.create_revision, existing.value)
        return DeleteResult(prev=existing, revision=rev), event

    def _compact(self, op: WriteOp) -> None:
        target = op.expected_revision
        assert target is not None
        answer: Result | BaseException = None
        if target <= self._compact_revision:
            answer = CompactedError(target, self._compact_revision)
        elif target > self._revision:
            answer = FutureRevisionError(target, self._revision)
        else:
            answer = self._compact_to(target)
        self._deliver(Commit([(op.future, answer)], [], self._revision, self._compact_revision))

    def _compact_to(self, target: int) -> Result | BaseException:
        previous = self._compact_revision
        try:
            # Move the compaction point first: from this commit on, readers
            # reject revisions below it, so they never see half-deleted history.
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("UPDATE meta SET value = ? WHERE name = 'compact_rev'", (target,))
            self._conn.execute("COMMIT")
            self._compact_revision = target
            deleted = 0
            for low in range(previous, target, COMPACT_CHUNK):
                high = min(low + COMPACT_CHUNK, target)
                self._conn.execute("BEGIN IMMEDIATE")
                deleted += self._conn.execute(sql.COMPACT_RANGE, (low, high, target)).rowcount
                self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            log.error("store compaction failed revision=%d error=%s", target, exc)
            return StoreUnavailableError(f"SQLite compaction to revision {target} failed: {exc}")
        log.info("store compacted revision=%d rows_deleted=%d", target, deleted)
        return None
