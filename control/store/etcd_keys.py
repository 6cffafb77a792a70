"""Translation between store keys and etcd keys, and etcd messages to store values.

The etcd store can put every key under a ``key_prefix`` so that several
stores (test cases, or two clusters) share one etcd without seeing each
other's keys. ``KeyCodec`` adds that prefix on the way to etcd and strips it
from every key that comes back, and encodes keys as UTF-8 with
``surrogatepass``, the encoding ``validate_key`` measures key length in.
"""

from __future__ import annotations

from typing import Any

from pykube_control.store.errors import StoreError
from pykube_control.store.interface import KeyValue


def prefix_range_end(prefix: bytes) -> bytes:
    """Return the etcd ``range_end`` that makes [prefix, end) cover every key with ``prefix``.

    The end is the prefix with its last byte incremented, after dropping
    trailing 0xff bytes, which have no successor ("a\\xff" -> "b"). A prefix
    of only 0xff bytes, or an empty one, has no finite end, and etcd reads
    range_end b"\\0" as "every key from key on".
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


class KeyCodec:
    """Adds and strips the store's ``key_prefix`` on etcd keys."""

    def __init__(self, key_prefix: str) -> None:
        if not isinstance(key_prefix, str):
            raise TypeError(f"key_prefix must be a str, not {type(key_prefix).__name__}")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key_prefix):
            raise ValueError(f"key_prefix {key_prefix!r} must not contain control characters")
        self.key_prefix = key_prefix
        self._prefix_bytes = key_prefix.encode("utf-8", "surrogatepass")

    def encode(self, key: str) -> bytes:
        """Return the etcd key of a store key or prefix."""
        return self._prefix_bytes + key.encode("utf-8", "surrogatepass")

    def encode_range(self, prefix: str) -> tuple[bytes, bytes]:
        """Return the etcd (key, range_end) pair that covers a store prefix."""
        start = self.encode(prefix)
        return start, prefix_range_end(start)

    def decode(self, raw_key: bytes) -> str:
        """Return the store key of an etcd key; raise StoreError for a key outside key_prefix."""
        if not raw_key.startswith(self._prefix_bytes):
            raise StoreError(
                f"etcd returned key {raw_key!r} outside key_prefix {self.key_prefix!r}; "
                "this is a bug in the etcd store"
            )
        return raw_key[len(self._prefix_bytes) :].decode("utf-8", "surrogatepass")

    def key_value(self, kv: Any) -> KeyValue:
        """Convert an ``mvccpb.KeyValue`` message to a store KeyValue."""
        return KeyValue(
            key=self.decode(kv.key),
            value=bytes(kv.value),
            create_revision=int(kv.create_revision),
            mod_revision=int(kv.mod_revision),
        )
