"""The gRPC connection to etcd: one channel, deadlines, retries and error mapping.

One channel covers every endpoint, with gRPC's ``round_robin`` load
balancing ("ipv4:127.0.0.1:2379,127.0.0.1:22379"). gRPC keeps a connection
per member, reconnects in the background and only picks members whose
connection is ready, so failover after a member dies needs no bookkeeping
here, and the load of reads and watches spreads over the members. Every
member serves linearizable reads, so any member may serve any call.
One channel per endpoint with our own failover would duplicate that work.

Every call has one deadline (the store's ``timeout``). Calls wait for a
ready connection (``wait_for_ready``) instead of failing while all members
are unreachable, and a failed attempt is retried with exponential back-off
until the deadline, within these rules:

- Reads retry on every UNAVAILABLE error: a lost connection and etcd's
  "leader changed", "no leader" and "request timed out" all use that code.
- Writes retry only on errors that prove etcd did not apply the write:
  "no leader" (rejected before the proposal) and "too many requests".
  Any other failure after the request may have reached etcd (a reset
  connection, a timed-out proposal) raises StoreUnavailableError saying the
  outcome is unknown. Retrying it blindly could apply an update twice or
  report KeyExistsError for the caller's own create. etcd's Go client
  follows the same rule for its mutating calls.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from pykube_control.store.errors import (
    CompactedError,
    FutureRevisionError,
    StoreError,
    StoreUnavailableError,
)
from pykube_control.store.etcd_proto import rpc_pb2, rpc_pb2_grpc

logger = logging.getLogger("pykube.store.etcd")

BACKOFF_INITIAL = 0.05
"""Seconds before the first retry. An etcd leader election takes about one
to two election timeouts (1 s each by default, an estimate), so starting
small and doubling finds the new leader quickly without flooding the
members."""

BACKOFF_MAX = 1.0
"""Upper bound in seconds of the pause between two retries."""

RECONNECT_BACKOFF_MS = (100, 2000)
"""gRPC's min and max pause in milliseconds between reconnect attempts to a
member. gRPC's own default maximum is 120 s, which would keep a restarted
member out of rotation for minutes."""

KEEPALIVE_TIME_MS = 10_000
"""Interval in milliseconds of HTTP/2 pings on an otherwise quiet
connection, so a watch on a member that vanished without closing its TCP
connection fails and reconnects. etcd rejects pings more frequent than its
--grpc-keepalive-min-time, 5 s by default."""

KEEPALIVE_TIMEOUT_MS = 5_000
"""Milliseconds to wait for a ping reply before the connection counts as dead."""

PROBE_KEY = b"\0pykube-probe"
"""A key outside the "/"-rooted keyspace of every store. Reading it returns
the current revision in the header, and a watch on it from revision 1
receives no events, only the compaction notice."""

COMPACTION_PROBE_WAIT = 1.0
"""Seconds to wait for etcd's compaction notice before concluding that
revision 1 is still in the history. etcd sends the notice from the
background loop that catches up new watchers, which on loopback took a
small fraction of this (tests/store/test_etcd.py, compaction tests)."""

_SAFE_WRITE_RETRY_MESSAGES = ("etcdserver: no leader", "etcdserver: too many requests")
_COMPACTED_MESSAGE = "required revision has been compacted"
_FUTURE_REVISION_MESSAGE = "is a future revision"
_TOO_LARGE_MESSAGE = "etcdserver: request is too large"
_GRPC_TOO_LARGE_MESSAGE = "received message larger than max"

REQUIRE_LEADER_METADATA = (("hasleader", "true"),)
"""Request metadata that makes etcd fail a call or watch stream with
"no leader" on a member that lost its leader, instead of serving stale data
or holding a watch open that receives nothing."""


def channel_target(endpoints: Sequence[str]) -> str:
    """Return the gRPC target for ``endpoints`` ("host:port", optionally with http://).

    IPv4 or IPv6 addresses become one static ``ipv4:``/``ipv6:`` list. A
    single host name becomes a ``dns:`` target, which gRPC resolves to all
    its addresses.
    """
    if isinstance(endpoints, str) or not endpoints:
        raise ValueError(f"endpoints must be a non-empty list of host:port strings, got {endpoints!r}")
    parsed = [_parse_endpoint(endpoint) for endpoint in endpoints]
    families = {family for family, _, _ in parsed}
    if families == {"ipv4"}:
        return "ipv4:" + ",".join(f"{host}:{port}" for _, host, port in parsed)
    if families == {"ipv6"}:
        return "ipv6:" + ",".join(f"[{host}]:{port}" for _, host, port in parsed)
    if families == {"dns"} and len(parsed) == 1:
        _, host, port = parsed[0]
        return f"dns:///{host}:{port}"
    raise ValueError(
        f"endpoints {list(endpoints)!r} mix host names and address families; "
        "give either one host name or only IPv4 or only IPv6 addresses"
    )


def _parse_endpoint(endpoint: str) -> tuple[str, str, int]:
    """Return (family, host, port) of one endpoint; family is ipv4, ipv6 or dns."""
    address = endpoint
    if address.startswith("https://"):
        # TODO: TLS and client certificates (grpc.ssl_channel_credentials).
        raise ValueError(f"endpoint {endpoint!r}: TLS is not supported yet; use a plain http:// endpoint")
    address = address.removeprefix("http://").rstrip("/")
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"endpoint {endpoint!r} must be host:port, for example 127.0.0.1:2379")
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise ValueError(f"endpoint {endpoint!r} has no host")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "dns", host, int(port_text)
    return f"ipv{ip.version}", str(ip), int(port_text)


def is_retryable(error: grpc.aio.AioRpcError, *, write: bool) -> bool:
    """Return whether a failed call may be sent again (see the module docstring)."""
    # NOTE: a write is retried only when etcd provably did not apply it.
    # Every other failed write raises StoreUnavailableError, unknown outcome.
    code = error.code()
    details = error.details() or ""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return "etcdserver: too many requests" in details
    if code != grpc.StatusCode.UNAVAILABLE:
        return False
    if not write:
        return True
    return any(message in details for message in _SAFE_WRITE_RETRY_MESSAGES)


class EtcdClient:
    """A gRPC channel to an etcd cluster with the store's deadline and retry rules."""

    def __init__(self, endpoints: Sequence[str], *, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.target = channel_target(endpoints)
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.closed = False
        self._channel: grpc.aio.Channel | None = None
        self._kv: Any = None
        self._watch: Any = None
        self._barriers: set[asyncio.Future[Any]] = set()

    def _ensure_channel(self) -> grpc.aio.Channel:
        # Created on first use, because a grpc.aio channel binds to the event
        # loop that is running when it is made.
        if self.closed:
            raise self.closed_error()
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=self._channel_options())
            self._kv = rpc_pb2_grpc.KVStub(self._channel)
            self._watch = rpc_pb2_grpc.WatchStub(self._channel)
            logger.info("etcd channel opened target=%s timeout=%s", self.target, self.timeout)
        return self._channel

    def closed_error(self, *, during: str | None = None) -> StoreUnavailableError:
        when = f"was closed during {during}" if during else "is closed"
        return StoreUnavailableError(f"etcd store for {', '.join(self.endpoints)} {when}; create a new one")

    @staticmethod
    def _channel_options() -> list[tuple[str, Any]]:
        return [
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.min_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
            ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[0]),
            ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS[1]),
            ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
            ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
            # Keep pinging while a watch is idle; by default gRPC stops after
            # two pings without data.
            ("grpc.http2.max_pings_without_data", 0),
            # etcd caps requests at 1.5 MiB by default but a Range or a watch
            # batch can be far larger than gRPC's 4 MiB receive limit.
            ("grpc.max_receive_message_length", -1),
        ]

    @property
    def kv(self) -> Any:
        """The ``etcdserverpb.KV`` stub."""
        self._ensure_channel()
        return self._kv

    @property
    def watch_stub(self) -> Any:
        """The ``etcdserverpb.Watch`` stub."""
        self._ensure_channel()
        return self._watch

    def add_barrier(self, future: asyncio.Future[Any]) -> None:
        """Hold back calls made from now on until ``future`` is done.

        A new watch uses this so that its watcher exists in etcd before any
        later write of the same store reaches etcd, so the watch cannot miss
        that write. A failed future releases the calls all the same.
        """
        self._barriers.add(future)
        future.add_done_callback(self._barriers.discard)

    async def call(
        self,
        method: Callable[..., Awaitable[Any]],
        request: Any,
        *,
        what: str,
        write: bool,
        revision: int | None = None,
        ignore_barriers: bool = False,
    ) -> Any:
        """Send one unary request with the store's deadline and retry rules.

        ``what`` names the operation in errors and logs ("get /registry/x").
        ``revision`` is the revision the request reads at or compacts to, for
        CompactedError and FutureRevisionError. ``ignore_barriers`` lets
        the barrier's own request through.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        if self._barriers and not ignore_barriers:
            await asyncio.wait(list(self._barriers), timeout=self.timeout)
        self._ensure_channel()
        backoff = BACKOFF_INITIAL
        attempt = 1
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._timed_out(what, write)
            try:
                return await method(request, timeout=remaining, wait_for_ready=True, metadata=REQUIRE_LEADER_METADATA)
            except asyncio.CancelledError:
                # Closing the channel cancels the calls on it; only a
                # cancellation of the caller's own task propagates as such.
                task = asyncio.current_task()
                if self.closed and task is not None and task.cancelling() == 0:
                    raise self.closed_error(during=what) from None
                raise
            except grpc.aio.AioRpcError as error:
                if self.closed:
                    raise self.closed_error(during=what) from None
                if not is_retryable(error, write=write):
                    raise await self.map_error(error, what=what, write=write, revision=revision) from None
                pause = min(backoff * random.uniform(0.5, 1.0), deadline - loop.time())
                logger.info(
                    "etcd call failed, retrying operation=%r attempt=%d code=%s error=%r pause_s=%.3f",
                    what, attempt, error.code().name, error.details(), max(pause, 0.0),
                )
                if pause > 0:
                    await asyncio.sleep(pause)
                backoff = min(backoff * 2, BACKOFF_MAX)
                attempt += 1

    def _timed_out(self, what: str, write: bool) -> StoreUnavailableError:
        outcome = " The write may or may not have been applied; read the key to find out." if write else ""
        return StoreUnavailableError(
            f"etcd at {', '.join(self.endpoints)} did not complete {what} within {self.timeout}s; "
            f"check that the members are running and have a leader.{outcome}"
        )

    async def map_error(
        self, error: grpc.aio.AioRpcError, *, what: str, write: bool, revision: int | None = None
    ) -> StoreError:
        """Return the store error for a call that failed for good."""
        code = error.code()
        details = error.details() or ""
        if code == grpc.StatusCode.OUT_OF_RANGE and _COMPACTED_MESSAGE in details:
            return CompactedError(revision if revision is not None else 0, await self.compaction_point())
        if code == grpc.StatusCode.OUT_OF_RANGE and _FUTURE_REVISION_MESSAGE in details:
            return FutureRevisionError(revision if revision is not None else 0, await self.current_revision())
        if _TOO_LARGE_MESSAGE in details or _GRPC_TOO_LARGE_MESSAGE in details:
            return StoreError(
                f"etcd rejected {what}: the request is larger than the server accepts ({details}); "
                "etcd limits a request to its --max-request-bytes, 1.5 MiB by default"
            )
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return self._timed_out(what, write)
        if code == grpc.StatusCode.UNAVAILABLE:
            outcome = " The write may or may not have been applied; read the key to find out." if write else ""
            return StoreUnavailableError(
                f"etcd at {', '.join(self.endpoints)} failed {what}: {code.name}: {details}.{outcome}"
            )
        return StoreError(f"etcd rejected {what}: {code.name}: {details}")

    async def current_revision(self, *, ignore_barriers: bool = False) -> int:
        """Return the store revision from the header of an empty Range."""
        request = rpc_pb2.RangeRequest(key=PROBE_KEY, count_only=True)
        response = await self.call(
            self.kv.Range, request, what="read the current revision", write=False, ignore_barriers=ignore_barriers
        )
        return int(response.header.revision)

    async def compaction_point(self) -> int:
        """Return the oldest revision still in etcd's history (0 if never compacted).

        etcd has no call that returns it. A watch from revision 1 is canceled
        with ``compact_revision`` set to it, so such a watch serves as the
        probe. It costs a round trip and runs only after a compaction error.
        """
        loop = asyncio.get_running_loop()
        stream = self.watch_stub.Watch(metadata=REQUIRE_LEADER_METADATA, wait_for_ready=True)
        create = rpc_pb2.WatchCreateRequest(key=PROBE_KEY, start_revision=1)
        try:
            await stream.write(rpc_pb2.WatchRequest(create_request=create))
            deadline = loop.time() + self.timeout
            notice_deadline: float | None = None
            while True:
                wait_until = deadline if notice_deadline is None else min(deadline, notice_deadline)
                remaining = wait_until - loop.time()
                if remaining <= 0:
                    return 0
                try:
                    response = await asyncio.wait_for(stream.read(), remaining)
                except asyncio.TimeoutError:
                    return 0
                if response is grpc.aio.EOF:
                    return 0
                if response.compact_revision > 0:
                    return int(response.compact_revision)
                if response.created and notice_deadline is None:
                    notice_deadline = loop.time() + COMPACTION_PROBE_WAIT
        except grpc.aio.AioRpcError as error:
            # The caller is already raising CompactedError; a failed probe
            # only makes its message less precise.
            logger.warning("etcd compaction probe failed code=%s error=%r", error.code().name, error.details())
            return 0
        finally:
            stream.cancel()

    async def close(self) -> None:
        """Close the channel; idempotent. Calls in flight fail with StoreUnavailableError."""
        if self.closed:
            return
        self.closed = True
        if self._channel is not None:
            await self._channel.close()
            logger.info("etcd channel closed target=%s", self.target)
