"""Run a real API server on a background thread for tests that drive it synchronously.

kubectl runs as a subprocess and the official Python client is blocking, so
the server gets its own thread and uvloop event loop. The server listens on
a free 127.0.0.1 port, keeps its data in a temporary directory, and is
stopped (its store closed, its thread joined) when the fixture ends, even if
the test failed.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver

T = TypeVar("T")

START_TIMEOUT = 60.0


class ServerThread:
    def __init__(self, config: APIServerConfig) -> None:
        self.config = config
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="apiserver-test", daemon=True)
        self.server: RunningAPIServer | None = None

    def start(self) -> RunningAPIServer:
        self._thread.start()
        self.server = self.call(start_apiserver(self.config), timeout=START_TIMEOUT)
        return self.server

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.server is not None:
            self.call(self.server.stop())
            self.server = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


REPO_ROOT = Path(__file__).resolve().parents[2]
OLD_KUBECTL = REPO_ROOT / ".cache" / "kubectl-1.20" / "kubectl"
"""Debian's kubectl 1.20, unpacked here by scripts/setup."""


def kubectl_binary(which: str = "current") -> str | None:
    """Return the kubectl on PATH ("current") or Debian's 1.20 ("1.20"), None if missing."""
    if which == "1.20":
        return str(OLD_KUBECTL) if OLD_KUBECTL.exists() else None
    return shutil.which("kubectl")


def run_kubectl(
    kubeconfig: Path, *args: str, input: str | None = None, timeout: float = 60.0, binary: str | None = None
) -> subprocess.CompletedProcess[str]:
    binary = binary or kubectl_binary()
    assert binary is not None
    return subprocess.run(
        [binary, f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
