"""Public entry to the service rule compiler, native or pure Python.

RuleCompiler hides which twin runs: the C++ compiler (pykube_core.proxy.
_native) unless PYKUBE_PURE_PYTHON=1 or the extension is not built, in which
case the reference (_reference.py) runs. Both keep a mirror of the committed
rules, so a sync is compile(), then commit() once the kernel accepted the
text. After a failed apply, discard() keeps the mirror equal to what the
kernel still has.
"""

from __future__ import annotations

import logging
import os
from typing import Protocol

import numpy as np

from pykube_core.proxy._reference import ReferenceCompiler
from pykube_core.proxy.arrays import CompileResult, ElementCounts, ServicePortRows

log = logging.getLogger("pykube.proxy")


class _Twin(Protocol):
    def set_node_addresses(self, addresses: list[int]) -> None: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...
    def snapshot(self) -> list[str]: ...


def native_available() -> bool:
    """Return whether the C++ compiler extension is built."""
    try:
        from pykube_core.proxy import _native  # noqa: F401
    except ImportError:
        return False
    return True


class RuleCompiler:
    """Compile service port rows into nft commands for one table."""

    def __init__(self, table: str, *, pure_python: bool | None = None) -> None:
        """Pick the twin: pure_python None follows PYKUBE_PURE_PYTHON and the build."""
        if pure_python is None:
            pure_python = os.environ.get("PYKUBE_PURE_PYTHON") == "1" or not native_available()
        self.table = table
        self.pure_python = pure_python
        self._reference: ReferenceCompiler | None = None
        self._native = None
        if pure_python:
            self._reference = ReferenceCompiler(table)
        else:
            from pykube_core.proxy._native import Compiler

            self._native = Compiler(table)

    @property
    def _twin(self) -> _Twin:
        twin = self._reference if self._reference is not None else self._native
        assert twin is not None
        return twin

    def set_node_addresses(self, addresses: list[int]) -> None:
        """Set the IPv4 addresses (host byte order) NodePorts listen on.

        The next compile must be full, because every NodePort frontend changes.
        """
        self._twin.set_node_addresses(list(addresses))

    def compile(self, rows: ServicePortRows, *, full: bool) -> CompileResult:
        """Return the commands from the committed mirror (or an empty table) to rows.

        The result stays pending until commit() or discard(). Raises
        ValueError for rows that no model builds: an unknown protocol
        number, an id twice in one batch, offsets out of range.
        """
        if self._reference is not None:
            return self._reference.compile(rows, full)
        assert self._native is not None
        text, conflicts = self._native.compile(rows, full)
        return CompileResult(text=text, conflicts=np.asarray(conflicts, dtype=np.int64))

    def commit(self) -> None:
        """Adopt the pending compile as the committed mirror."""
        self._twin.commit()

    def discard(self) -> None:
        """Drop the pending compile; the mirror stays as last committed."""
        self._twin.discard()

    def snapshot(self) -> list[str]:
        """Return the committed elements and dynamic objects as sorted lines."""
        return self._twin.snapshot()

    def counts(self) -> ElementCounts:
        """Return the number of committed elements per set and of dynamic objects."""
        if self._reference is not None:
            return self._reference.counts()
        assert self._native is not None
        return ElementCounts(*self._native.counts())
