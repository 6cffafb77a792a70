"""The store contract that every backend implements.

The store keeps byte values under slash-separated keys, stamps every write
with a cluster-wide revision (a counter that grows by one per committed
write), and replays writes to watchers in revision order. This is the model
of etcd v3, which the API server is written against. The SQLite backend
implements the same contract on one log table, so the two are interchangeable.

Revisions:
    Every create, update and delete commits at a new revision, one higher
    than the last. A key's ``create_revision`` is the revision that created
    it and its ``mod_revision`` the revision that last wrote it; the API
    server hands ``mod_revision`` out as ``resourceVersion``.

Compaction:
    ``compact(R)`` discards the history before revision R. Afterwards reads
    at revisions below R and watches that start before R (``after_revision``
    below R - 1) raise ``CompactedError``, which the API server turns into
    410 Gone.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import AsyncIterator

from pykube_control.store.errors import InvalidKeyError

MAX_KEY_BYTES = 1024
"""Maximum key length, in UTF-8 bytes. Kubernetes keys are
/registry/<resource>/<namespace>/<name>, at most about 600 bytes with
253-character names, so 1 KiB leaves room without letting keys grow
unbounded in indexes."""


@dataclasses.dataclass(frozen=True, slots=True)
class KeyValue:
    """One stored version of a key."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclasses.dataclass(frozen=True, slots=True)
class ListResult:
    """A page of a list, read as of ``revision``.

    ``continue_token`` is None on the last page. Passing it back to ``list``
    reads the next page at the same revision. ``remaining`` counts the keys
    after this page at that revision.
    """

    items: list[KeyValue]
    revision: int
    continue_token: str | None
    remaining: int


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteResult:
    """The last version of a deleted key and the revision of the delete."""

    prev: KeyValue
    revision: int


class EventType(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One committed write, as a watcher receives it.

    For DELETE, ``value`` is the last value the key had before the delete.
    ``prev_value`` is the value before this write: None for CREATE, and
    None for an UPDATE whose previous version was compacted away.
    """

    type: EventType
    key: str
    value: bytes
    revision: int
    create_revision: int
    prev_value: bytes | None


class Watch(abc.ABC):
    """A stream of events under one prefix, in revision order.

    Iterate with ``async for``. The iterator raises ``CompactedError`` when
    the requested start is no longer in the history, and
    ``StoreUnavailableError`` when the backend is gone for good. ``close``
    ends the iteration; it is safe to call more than once.
    """

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> Event: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class Store(abc.ABC):
    """Async key-value store with revisions and watch.

    Every method validates its keys (``validate_key``) before touching the
    backend. Each write is atomic: it commits whole at one revision or not at
    all, and a crash leaves either the old or the new version.
    """

    @abc.abstractmethod
    async def create(self, key: str, value: bytes) -> KeyValue:
        """Create ``key``; raise ``KeyExistsError`` if it exists."""

    @abc.abstractmethod
    async def get(self, key: str, *, revision: int | None = None) -> KeyValue:
        """Return the latest version, or the version as of ``revision``.

        Raise ``KeyNotFoundError`` if the key does not exist (at that
        revision) and ``CompactedError`` for a compacted revision.
        """

    @abc.abstractmethod
    async def list(
        self,
        prefix: str,
        *,
        limit: int = 0,
        continue_token: str | None = None,
        revision: int | None = None,
    ) -> ListResult:
        """List keys starting with ``prefix`` in key order.

        ``limit`` 0 means no limit. ``revision`` None reads the latest
        revision; a continue token carries its own revision, and passing
        both with different revisions raises ``InvalidContinueError``.
        """

    @abc.abstractmethod
    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        """Replace ``key`` if its ``mod_revision`` is ``expected_revision``.

        Raise ``KeyNotFoundError`` if it does not exist and ``ConflictError``
        (carrying the current version) if it was written since.
        """

    @abc.abstractmethod
    async def delete(self, key: str, *, expected_revision: int | None = None) -> DeleteResult:
        """Delete ``key``, only if its ``mod_revision`` matches when given.

        Raise ``KeyNotFoundError`` or ``ConflictError`` as ``update`` does.
        """

    @abc.abstractmethod
    def watch(self, prefix: str, *, after_revision: int | None = None) -> Watch:
        """Watch keys starting with ``prefix``.

        Deliver every event with a revision greater than ``after_revision``
        (None: from the current revision on, so only future writes).
        """

    @abc.abstractmethod
    async def current_revision(self) -> int:
        """Return the revision of the last committed write (0 when empty)."""

    @abc.abstractmethod
    async def compact(self, revision: int) -> None:
        """Discard history before ``revision`` (see the module docstring).

        Raise ``CompactedError`` if ``revision`` is at or below the current
        compaction point and ``FutureRevisionError`` if it is in the future.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and stop background work; idempotent."""


def validate_key(key: str, *, prefix: bool = False) -> str:
    """Return ``key`` if it is a valid store key, else raise InvalidKeyError.

    A key is an absolute slash-separated path ("/registry/pods/ns/name")
    with non-empty segments, no "." or ".." segment, no control characters
    and at most MAX_KEY_BYTES bytes. A prefix may also end with "/" and may
    be "/" alone.
    """
    what = "prefix" if prefix else "key"
    if not isinstance(key, str):
        raise InvalidKeyError(key, f"{what} must be a str, not {type(key).__name__}")
    if not key.startswith("/"):
        raise InvalidKeyError(key, f'{what} must start with "/"')
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKeyError(key, f"{what} is longer than {MAX_KEY_BYTES} bytes")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise InvalidKeyError(key, f"{what} must not contain control characters")
    body = key[1:]
    if prefix and body.endswith("/"):
        body = body[:-1]
    if not body:
        if prefix:
            return key
        raise InvalidKeyError(key, "key must name something after the leading /")
    for segment in body.split("/"):
        if segment == "":
            raise InvalidKeyError(key, f'{what} must not contain an empty segment ("//") or end with "/"')
        if segment in (".", ".."):
            raise InvalidKeyError(key, f'{what} must not contain a "." or ".." segment')
    return key
