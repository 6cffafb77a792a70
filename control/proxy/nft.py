"""Apply nft command text through libnftables, inside one network namespace.

libnftables comes from the OS package python3-nftables, which installs the
`nftables` module for the system Python only. When this interpreter cannot
import it, the module is loaded from that package's directory by path, so
the system's other packages stay off sys.path.

All calls run on one dedicated thread. When a network namespace is given,
that thread enters it (setns acts on the calling thread only) before it
creates the libnftables context, so every netlink socket of the context
lives in that namespace and the rest of the process stays where it was.
Each apply is one libnftables run, which nft commits as one atomic
transaction: on any error nothing of the text takes effect.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import importlib.util
import logging
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger("pykube.proxy")

SYSTEM_NFTABLES = Path("/usr/lib/python3/dist-packages/nftables")
"""Directory of the module that Debian's python3-nftables installs."""
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
"""Directory where `ip netns add` bind-mounts named network namespaces."""


class NftUnavailable(RuntimeError):
    """libnftables or its Python binding is missing."""


@dataclass(frozen=True)
class ApplyResult:
    """Outcome of one transaction: libnftables' return code, output and error text."""

    ok: bool
    output: str
    error: str

    def offending_lines(self, text: str) -> list[str]:
        """Return the input lines that the error text points at, by line number."""
        numbers = sorted({int(match) for match in re.findall(r"<cmdline>:(\d+):", self.error)})
        lines = text.splitlines()
        return [lines[number - 1] for number in numbers if 0 < number <= len(lines)]


def load_nftables() -> ModuleType:
    """Import the python-nftables binding, from the system package if needed."""
    try:
        return importlib.import_module("nftables")
    except ImportError:
        pass
    init = SYSTEM_NFTABLES / "__init__.py"
    if not init.exists():
        raise NftUnavailable(
            "python module nftables not found; install the OS package python3-nftables "
            "(Debian: apt-get install python3-nftables)"
        )
    spec = importlib.util.spec_from_file_location(
        "nftables", init, submodule_search_locations=[str(SYSTEM_NFTABLES)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["nftables"] = module
    spec.loader.exec_module(module)
    return module


def enter_netns(name: str) -> None:
    """Move the calling thread into the named network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    path = NETNS_DIR / name
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns into network namespace {name!r} failed: {os.strerror(error)}")
    finally:
        os.close(fd)


class NftApplier:
    """Run nft command text as libnftables transactions in one network namespace.

    netns None means the namespace of the process.
    """

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pykube-nft")
        self._context: Any = None
        self._executor.submit(self._setup).result()

    def _setup(self) -> None:
        module = load_nftables()
        if self.netns is not None:
            enter_netns(self.netns)
        context = module.Nftables()
        context.set_json_output(False)
        self._context = context

    def apply_sync(self, text: str) -> ApplyResult:
        """Run ``text`` as one transaction and wait for it; blocks the caller."""
        return self._executor.submit(self._run, text).result()

    async def apply(self, text: str) -> ApplyResult:
        """Run ``text`` as one transaction on the applier's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, text)

    def _run(self, text: str) -> ApplyResult:
        code, output, error = self._context.cmd(text)
        return ApplyResult(ok=code == 0, output=output, error=error)

    def close(self) -> None:
        """Stop the applier's thread."""
        self._executor.shutdown(wait=True)
