"""String interning for the node table: every string a kernel compares becomes an int32 id.

One interner per NodeTable serves label keys and values, taint keys and
values, node names, host IP addresses and image names, so a kernel compares
ids instead of strings. Alongside each string it records whether the string
is a base-10 int64, because the node affinity operators Gt and Lt compare
label values as integers (Go's strconv.ParseInt(value, 10, 64)).

Lookups never intern: a pod string that no node has gets UNKNOWN_ID, so
scheduling many pods does not grow the table. Interned strings stay until
the table is dropped.
"""

from __future__ import annotations

import re
from typing import NewType

from pykube_core.scheduler.arrays import UNKNOWN_ID

StringId = NewType("StringId", int)

_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def parse_int64(text: str) -> int | None:
    """Return text as an int64 when Go's strconv.ParseInt(text, 10, 64) accepts it, else None."""
    if not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    if not _INT64_MIN <= number <= _INT64_MAX:
        return None
    return number


class Interner:
    """Strings numbered from 0 in the order they are first interned."""

    def __init__(self) -> None:
        self._ids: dict[str, StringId] = {}
        self.strings: list[str] = []
        self.numbers: list[int] = []
        self.is_number: list[int] = []

    def __len__(self) -> int:
        return len(self.strings)

    def intern(self, text: str) -> StringId:
        """Return the id of text, assigning the next id when it is new."""
        if not isinstance(text, str):
            raise TypeError(f"expected a string to intern, got {type(text).__name__} {text!r}")
        string_id = self._ids.get(text)
        if string_id is None:
            string_id = StringId(len(self.strings))
            self._ids[text] = string_id
            self.strings.append(text)
            number = parse_int64(text)
            self.numbers.append(0 if number is None else number)
            self.is_number.append(0 if number is None else 1)
        return string_id

    def lookup(self, text: str) -> int:
        """Return the id of text, or UNKNOWN_ID when it was never interned."""
        return self._ids.get(text, UNKNOWN_ID)
