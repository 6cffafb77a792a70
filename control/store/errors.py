"""Exceptions raised by store backends.

Every backend raises exactly these, so the API server maps them to HTTP
status codes once: KeyNotFoundError to 404, KeyExistsError to 409
AlreadyExists, ConflictError to 409 Conflict, CompactedError to 410 Gone,
StoreUnavailableError to 503.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pykube_control.store.interface import KeyValue


class StoreError(Exception):
    """Base class of every store error."""


class InvalidKeyError(StoreError, ValueError):
    """A key or prefix that the store does not accept."""

    def __init__(self, key: object, reason: str) -> None:
        super().__init__(f"invalid store key {key!r}: {reason}")
        self.key = key
        self.reason = reason


class KeyNotFoundError(StoreError):
    def __init__(self, key: str, revision: int | None = None) -> None:
        where = f" at revision {revision}" if revision is not None else ""
        super().__init__(f"key {key!r} not found{where}")
        self.key = key
        self.revision = revision


class KeyExistsError(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} already exists")
        self.key = key


class ConflictError(StoreError):
    """The key changed since ``expected_revision``; ``current`` is its version now."""

    def __init__(self, key: str, expected_revision: int, current: KeyValue) -> None:
        super().__init__(
            f"key {key!r} was modified: expected revision {expected_revision}, "
            f"current revision {current.mod_revision}; read it again and retry"
        )
        self.key = key
        self.expected_revision = expected_revision
        self.current = current


class CompactedError(StoreError):
    """The requested revision is older than the compaction point."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(
            f"revision {requested} has been compacted (history starts at "
            f"revision {compacted}); list again to get a current revision"
        )
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StoreError, ValueError):
    """A read or compaction at a revision that has not been written yet."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"revision {requested} is newer than the current revision {current}")
        self.requested = requested
        self.current = current


class InvalidContinueError(StoreError, ValueError):
    """A continue token that this store did not issue or that does not fit the request."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid continue token: {reason}; restart the list without it")
        self.reason = reason


class StoreUnavailableError(StoreError):
    """The backend cannot be reached; the operation may be retried."""
