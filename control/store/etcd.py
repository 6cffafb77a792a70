"""The etcd v3 store backend: the Store contract over etcd's gRPC API.

etcd already has the store's data model (revisions, create and mod
revisions, compaction, watch from a revision), so each Store method maps to
one etcd request:

- create, update and delete are one Txn each. The compare guards the write
  (create_revision == 0 for create, mod_revision == expected for update and
  conditional delete), and the failure branch reads the key, so a failed
  write reports KeyExistsError, KeyNotFoundError or ConflictError with the
  current version and no second round trip.
- get and list are one Range each. A list page reads at the first page's
  revision from just after the token's last key, and ``remaining`` comes
  from the Range's count, which etcd computes for the whole range
  regardless of the limit.
- watch is one watcher on its own Watch stream (see etcd_watch).

Connections, deadlines, retries and error mapping live in etcd_client, key
prefixing in etcd_keys.

Differences from the SQLite backend and from the contract's wording:

- etcd counts revisions for the whole cluster and starts at 1, so the first
  write is revision 2 and ``current_revision()`` of an empty etcd is 1.
  Stores sharing an etcd through ``key_prefix`` share one revision counter,
  so revisions under one prefix are increasing but not consecutive.
- A compacted revision is whatever any client of the etcd compacted, not
  only this store's ``compact`` calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pykube_control.store.continuation import Continuation, decode_continue, encode_continue
from pykube_control.store.errors import (
    CompactedError,
    ConflictError,
    InvalidContinueError,
    KeyExistsError,
    KeyNotFoundError,
    StoreError,
)
from pykube_control.store.etcd_client import EtcdClient
from pykube_control.store.etcd_keys import KeyCodec
from pykube_control.store.etcd_proto import rpc_pb2
from pykube_control.store.etcd_watch import EtcdWatch
from pykube_control.store.interface import (
    DeleteResult,
    KeyValue,
    ListResult,
    Store,
    Watch,
    validate_key,
)

logger = logging.getLogger("pykube.store.etcd")

DEFAULT_TIMEOUT = 10.0
"""Seconds a call may take, retries included. etcd gives up on a request
after 5 s plus twice its election timeout (7 s with etcd's defaults), so a
read that etcd times out during a leader election still has time for a
retry."""

_Compare = rpc_pb2.Compare


class EtcdStore(Store):
    """Store backed by an etcd v3 cluster.

    ``endpoints`` are the members' client addresses ("127.0.0.1:2379"; see
    etcd_client.channel_target for the accepted forms). ``timeout`` bounds
    every call in seconds, retries included. ``key_prefix`` is prepended to
    every key in etcd and stripped from every key returned, so stores with
    different prefixes on one etcd never see each other's keys.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        key_prefix: str = "",
    ) -> None:
        self._client = EtcdClient(endpoints, timeout=timeout)
        self._codec = KeyCodec(key_prefix)
        self._watches: set[EtcdWatch] = set()

    @property
    def endpoints(self) -> list[str]:
        return list(self._client.endpoints)

    async def create(self, key: str, value: bytes) -> KeyValue:
        validate_key(key)
        raw_key = self._codec.encode(key)
        request = rpc_pb2.TxnRequest(
            compare=[_Compare(key=raw_key, target=_Compare.CREATE, result=_Compare.EQUAL, create_revision=0)],
            success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=raw_key, value=value))],
            failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=raw_key))],
        )
        response = await self._client.call(self._client.kv.Txn, request, what=f"create {key}", write=True)
        if not response.succeeded:
            raise KeyExistsError(key)
        revision = int(response.header.revision)
        return KeyValue(key=key, value=value, create_revision=revision, mod_revision=revision)

    async def get(self, key: str, *, revision: int | None = None) -> KeyValue:
        validate_key(key)
        _check_revision(revision)
        request = rpc_pb2.RangeRequest(key=self._codec.encode(key), revision=revision or 0)
        response = await self._client.call(
            self._client.kv.Range, request, what=f"get {key}", write=False, revision=revision
        )
        if not response.kvs:
            raise KeyNotFoundError(key, revision)
        return self._codec.key_value(response.kvs[0])

    async def list(
        self,
        prefix: str,
        *,
        limit: int = 0,
        continue_token: str | None = None,
        revision: int | None = None,
    ) -> ListResult:
        validate_key(prefix, prefix=True)
        _check_revision(revision)
        if limit < 0:
            raise ValueError(f"limit must be 0 (no limit) or positive, got {limit}")
        start, range_end = self._codec.encode_range(prefix)
        if continue_token is not None:
            continuation = decode_continue(continue_token, prefix)
            if revision is not None and revision != continuation.revision:
                raise InvalidContinueError(
                    f"token reads at revision {continuation.revision} but revision {revision} was requested"
                )
            revision = continuation.revision
            # The smallest key after last_key: etcd ranges are half-open [key, range_end).
            start = self._codec.encode(continuation.last_key) + b"\0"

        request = rpc_pb2.RangeRequest(key=start, range_end=range_end, limit=limit, revision=revision or 0)
        response = await self._client.call(
            self._client.kv.Range, request, what=f"list {prefix}", write=False, revision=revision
        )
        items = [self._codec.key_value(kv) for kv in response.kvs]
        # For a read at an older revision the header still carries the current one.
        read_revision = revision if revision is not None else int(response.header.revision)
        remaining = max(int(response.count) - len(items), 0)
        token = None
        if response.more and items:
            token = encode_continue(Continuation(revision=read_revision, prefix=prefix, last_key=items[-1].key))
        return ListResult(items=items, revision=read_revision, continue_token=token, remaining=remaining)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        validate_key(key)
        raw_key = self._codec.encode(key)
        request = rpc_pb2.TxnRequest(
            compare=_guard(raw_key, expected_revision),
            success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=raw_key, value=value, prev_kv=True))],
            failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=raw_key))],
        )
        response = await self._client.call(self._client.kv.Txn, request, what=f"update {key}", write=True)
        if not response.succeeded:
            raise self._failed_guard(key, expected_revision, response)
        previous = response.responses[0].response_put.prev_kv
        return KeyValue(
            key=key,
            value=value,
            create_revision=int(previous.create_revision),
            mod_revision=int(response.header.revision),
        )

    async def delete(self, key: str, *, expected_revision: int | None = None) -> DeleteResult:
        validate_key(key)
        raw_key = self._codec.encode(key)
        request = rpc_pb2.TxnRequest(
            compare=_guard(raw_key, expected_revision),
            success=[rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=raw_key, prev_kv=True))],
            failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=raw_key))],
        )
        response = await self._client.call(self._client.kv.Txn, request, what=f"delete {key}", write=True)
        if not response.succeeded:
            raise self._failed_guard(key, expected_revision, response)
        deleted = response.responses[0].response_delete_range.prev_kvs
        if not deleted:
            raise StoreError(f"etcd deleted {key!r} but returned no previous version; this is a bug in the etcd store")
        return DeleteResult(prev=self._codec.key_value(deleted[0]), revision=int(response.header.revision))

    def watch(self, prefix: str, *, after_revision: int | None = None) -> Watch:
        """Watch keys starting with ``prefix``; must be called with an event loop running.

        See etcd_watch for how a broken stream is resumed.
        """
        validate_key(prefix, prefix=True)
        if after_revision is not None and after_revision < 0:
            raise ValueError(f"after_revision must be 0 or positive, got {after_revision}")
        if self._client.closed:
            raise self._client.closed_error()
        watch = EtcdWatch(
            self._client, self._codec, prefix, after_revision=after_revision, on_close=self._watches.discard
        )
        self._watches.add(watch)
        return watch

    async def current_revision(self) -> int:
        return await self._client.current_revision()

    async def compact(self, revision: int) -> None:
        if revision < 1:
            # etcd would accept revision 0 on a store never compacted; the
            # contract treats every revision before 1 as outside the history.
            raise CompactedError(revision, await self._client.compaction_point())
        request = rpc_pb2.CompactionRequest(revision=revision, physical=True)
        await self._client.call(
            self._client.kv.Compact, request, what=f"compact to revision {revision}", write=True, revision=revision
        )
        logger.info("etcd compacted revision=%d endpoints=%s", revision, ",".join(self._client.endpoints))

    async def close(self) -> None:
        for watch in list(self._watches):
            await watch.close()
        await self._client.close()

    def _failed_guard(self, key: str, expected_revision: int | None, response: Any) -> StoreError:
        """Return the error for a Txn whose guard failed, from its failure-branch Range."""
        current = response.responses[0].response_range.kvs
        if not current:
            return KeyNotFoundError(key)
        assert expected_revision is not None, "an unconditional guard fails only for a missing key"
        return ConflictError(key, expected_revision, self._codec.key_value(current[0]))


def _guard(raw_key: bytes, expected_revision: int | None) -> list[Any]:
    """Return the Txn compares for "key exists" and, if given, "mod_revision matches"."""
    # A missing key compares as mod_revision 0, so the existence check keeps
    # update(expected_revision=0) from creating the key.
    compares = [_Compare(key=raw_key, target=_Compare.CREATE, result=_Compare.GREATER, create_revision=0)]
    if expected_revision is not None:
        matches = _Compare(key=raw_key, target=_Compare.MOD, result=_Compare.EQUAL, mod_revision=expected_revision)
        compares.append(matches)
    return compares


def _check_revision(revision: int | None) -> None:
    if revision is not None and revision < 1:
        raise ValueError(f"revision must be positive (None reads the latest revision), got {revision}")
