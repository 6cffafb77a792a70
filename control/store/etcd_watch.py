"""A store watch over etcd's bidirectional Watch stream, resumed across member failures.

Each ``EtcdWatch`` opens its own Watch stream with one watcher on the
prefix's key range. The watcher sets ``prev_kv``, so DELETE events carry the
last value and UPDATE events the previous one. The stream sends etcd's
require-leader metadata, so a member that loses its leader closes the
stream instead of going silent.

Resuming: etcd sends the events of one revision in one response (the
``fragment`` option, which would split them, stays off), and the watch
buffers each response whole. So after every response it records the first
revision it has not received, and when the stream breaks (member killed,
leader lost, connection reset) it opens a new stream from that revision.
gRPC routes the new stream to a member whose connection is ready. No event
is lost or repeated, and events below the resume revision are dropped in
case a member sends them anyway. The watch gives up with
StoreUnavailableError when it cannot get a stream for the store's timeout.

A watch "from now" (``after_revision`` None) reads the current revision as
soon as it is created, and the store holds back its later calls until the
watcher exists, so a write that the caller makes after ``watch()`` returns
is delivered.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
from collections.abc import Callable
from typing import Any

import grpc

from pykube_control.store.errors import CompactedError, StoreError, StoreUnavailableError
from pykube_control.store.etcd_client import BACKOFF_INITIAL, BACKOFF_MAX, REQUIRE_LEADER_METADATA, EtcdClient
from pykube_control.store.etcd_keys import KeyCodec
from pykube_control.store.etcd_proto import kv_pb2, rpc_pb2
from pykube_control.store.interface import Event, EventType, Watch

logger = logging.getLogger("pykube.store.etcd")

_RESUMABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
"""Stream errors after which a new stream may succeed: a lost connection or
leader (UNAVAILABLE), and a reset HTTP/2 stream (INTERNAL, UNKNOWN)."""


class EtcdWatch(Watch):
    """Events under one prefix from etcd, in revision order; see the module docstring."""

    def __init__(
        self,
        client: EtcdClient,
        codec: KeyCodec,
        prefix: str,
        *,
        after_revision: int | None,
        on_close: Callable[[EtcdWatch], None],
    ) -> None:
        self._client = client
        self._codec = codec
        self._prefix = prefix
        self._range = codec.encode_range(prefix)
        self._on_close = on_close
        self._buffer: collections.deque[Event] = collections.deque()
        self._stream: Any = None
        self._closed = False
        self._failing_since: float | None = None
        # First revision not yet received; None until the "from now" read returns.
        self._next_revision = None if after_revision is None else after_revision + 1
        # The stream opens right away, and the store's later calls wait until
        # etcd has created the watcher. So a write made after watch() returns
        # finds the watcher caught up, and etcd pushes its event at once. etcd
        # replays events older than a new watcher from a background loop,
        # which added tens of milliseconds per watch in bench_store.py.
        self._opening: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(self._start())
        self._opening.add_done_callback(_retrieve_exception)
        client.add_barrier(self._opening)

    async def __anext__(self) -> Event:
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            try:
                if self._opening is not None:
                    opening, self._opening = self._opening, None
                    await opening
                    continue
                await self._receive()
            except asyncio.CancelledError:
                if self._closed:
                    raise StopAsyncIteration from None
                raise
        return self._buffer.popleft()

    async def close(self) -> None:
        """End the iteration and cancel the stream; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._drop_stream()
        if self._opening is not None:
            self._opening.cancel()
        self._on_close(self)
        logger.debug("etcd watch closed prefix=%r next_revision=%s", self._prefix, self._next_revision)

    async def _start(self) -> None:
        """Resolve the start revision of a watch "from now" and open the first stream."""
        if self._next_revision is None:
            self._next_revision = await self._client.current_revision(ignore_barriers=True) + 1
        await self._open()

    async def _receive(self) -> None:
        """Read one response into the buffer, reopening the stream if it broke."""
        if self._stream is None:
            await self._open()
            if self._stream is None:
                return
        try:
            response = await self._stream.read()
        except grpc.aio.AioRpcError as error:
            await self._handle_break(error.code(), error.details() or "")
            return
        if response is grpc.aio.EOF:
            await self._handle_break(None, "stream ended by the server")
            return
        self._handle_response(response)

    async def _open(self) -> None:
        """Open a stream from ``_next_revision`` and wait for etcd to confirm the watcher.

        Leaves ``_stream`` None after a resumable failure (the caller tries
        again) and raises once the failures have lasted the store's timeout.
        """
        assert self._next_revision is not None
        loop = asyncio.get_running_loop()
        if self._failing_since is None:
            self._failing_since = loop.time()
        remaining = self._failing_since + self._client.timeout - loop.time()
        if remaining <= 0:
            raise self._unavailable("no member accepted the watch")
        key, range_end = self._range
        create = rpc_pb2.WatchCreateRequest(
            key=key, range_end=range_end, start_revision=self._next_revision, prev_kv=True
        )
        stream = self._client.watch_stub.Watch(metadata=REQUIRE_LEADER_METADATA, wait_for_ready=True)
        self._stream = stream
        try:
            await asyncio.wait_for(stream.write(rpc_pb2.WatchRequest(create_request=create)), remaining)
            response = await asyncio.wait_for(stream.read(), remaining)
        except asyncio.TimeoutError:
            self._drop_stream()
            raise self._unavailable("no member accepted the watch") from None
        except grpc.aio.AioRpcError as error:
            await self._handle_break(error.code(), error.details() or "")
            return
        if response is grpc.aio.EOF:
            await self._handle_break(None, "stream ended before the watch was created")
            return
        if not response.created:
            raise StoreError(f"etcd watch on {self._prefix!r} sent {response!r} before confirming the watcher")
        self._failing_since = None
        logger.debug(
            "etcd watch created prefix=%r start_revision=%d member_id=%d",
            self._prefix, self._next_revision, response.header.member_id,
        )
        self._handle_response(response)

    def _handle_response(self, response: Any) -> None:
        assert self._next_revision is not None
        if response.canceled:
            self._handle_cancel(response)
            return
        for raw_event in response.events:
            event = self._event(raw_event)
            if event.revision < self._next_revision:
                continue
            self._buffer.append(event)
        if response.events:
            self._next_revision = max(self._next_revision, int(response.events[-1].kv.mod_revision) + 1)

    def _handle_cancel(self, response: Any) -> None:
        assert self._next_revision is not None
        requested = self._next_revision
        if response.compact_revision > 0:
            self._closed = True
            self._drop_stream()
            logger.info(
                "etcd watch start compacted prefix=%r start_revision=%d compact_revision=%d",
                self._prefix, requested, response.compact_revision,
            )
            raise CompactedError(requested, int(response.compact_revision))
        # etcd cancels the watcher with a reason such as "etcdserver: no
        # leader" when the member gives up on it; another member may serve it.
        logger.warning(
            "etcd watch canceled by the server, reopening prefix=%r next_revision=%d reason=%r",
            self._prefix, requested, response.cancel_reason,
        )
        self._drop_stream()

    async def _handle_break(self, code: grpc.StatusCode | None, details: str) -> None:
        """Drop a broken stream and pause before the next open, or raise if it cannot be resumed."""
        self._drop_stream()
        if self._closed:
            raise StopAsyncIteration
        if code is not None and code not in _RESUMABLE_CODES:
            raise StoreError(f"etcd watch on {self._prefix!r} failed: {code.name}: {details}")
        loop = asyncio.get_running_loop()
        if self._failing_since is None:
            self._failing_since = loop.time()
            pause = 0.0
        else:
            # Back off exponentially by the time spent failing, capped.
            failing_for = loop.time() - self._failing_since
            pause = min(BACKOFF_MAX, max(BACKOFF_INITIAL, failing_for)) * random.uniform(0.5, 1.0)
        logger.warning(
            "etcd watch stream broke, resuming prefix=%r next_revision=%s code=%s error=%r pause_s=%.3f",
            self._prefix, self._next_revision, code.name if code is not None else "EOF", details, pause,
        )
        if pause > 0:
            await asyncio.sleep(pause)

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None

    def _unavailable(self, reason: str) -> StoreUnavailableError:
        self._closed = True
        self._drop_stream()
        return StoreUnavailableError(
            f"etcd watch on {self._prefix!r} from revision {self._next_revision} failed: {reason} "
            f"within {self._client.timeout}s at {', '.join(self._client.endpoints)}; "
            "check that the members are running and have a leader, then watch again"
        )

    def _event(self, raw: Any) -> Event:
        """Convert an ``mvccpb.Event`` to a store Event."""
        kv = raw.kv
        has_prev = raw.HasField("prev_kv")
        prev = raw.prev_kv
        key = self._codec.decode(kv.key)
        revision = int(kv.mod_revision)
        if raw.type == kv_pb2.Event.DELETE:
            # The tombstone carries only the key and the delete's revision.
            # NOTE: if the previous version was compacted away before the
            # watch read it, the DELETE event has an empty value and
            # create_revision 0, because etcd returns no prev_kv then.
            return Event(
                type=EventType.DELETE,
                key=key,
                value=bytes(prev.value) if has_prev else b"",
                revision=revision,
                create_revision=int(prev.create_revision) if has_prev else 0,
                prev_value=bytes(prev.value) if has_prev else None,
            )
        created = kv.version == 1
        return Event(
            type=EventType.CREATE if created else EventType.UPDATE,
            key=key,
            value=bytes(kv.value),
            revision=revision,
            create_revision=int(kv.create_revision),
            prev_value=bytes(prev.value) if has_prev and not created else None,
        )


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    # The watch reads the result when iterated; this keeps asyncio from
    # logging "exception was never retrieved" for a watch that never is.
    if not task.cancelled():
        task.exception()
