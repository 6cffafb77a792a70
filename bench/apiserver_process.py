"""An API server in its own process, for benchmarks that must not share its GIL.

``start_apiserver_process`` runs ``pykube apiserver --insecure`` on a free
loopback port with a fresh data directory, and returns once ``/readyz``
replies 200. ``ApiserverProcess.stop`` sends SIGTERM, kills the process if
it has not exited after ``STOP_GRACE`` seconds, and removes the directory.

Run as a module (``python -m bench.apiserver_process [--profile FILE] ARGS``)
it is the ``pykube`` command line, optionally under cProfile, and writes
the profile when the server exits on SIGTERM. The benchmarks pass
``profile`` to use it, so a profile shows the server during the exact
workload of a benchmark.
"""

from __future__ import annotations

import cProfile
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.store.etcd_server import free_ports

ROOT = Path(__file__).resolve().parents[1]

START_TIMEOUT = 30.0
"""Seconds to wait for /readyz. Start-up took 0.7 s on an idle two-core
machine, 0.55 s of it importing the control plane, and the margin covers
a loaded one."""

STOP_GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL. The server closes its listener,
watches and store on SIGTERM, which took 0.2-0.3 s without clients."""

PROFILE_ENV = "PYKUBE_BENCH_PROFILE_DIR"
"""When set, every benchmark server runs under cProfile and writes
``<dir>/apiserver-<port>.prof`` when it stops."""


@dataclasses.dataclass
class ApiserverProcess:
    """A running ``pykube apiserver``: its process, URL and directory."""

    process: subprocess.Popen[bytes]
    url: str
    root: str
    """Temporary directory containing the data directory and the server log."""

    @property
    def log_path(self) -> str:
        return os.path.join(self.root, "apiserver.log")

    def log_tail(self, max_bytes: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - max_bytes))
                return log.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(log {self.log_path} unreadable: {exc})"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its directory."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def start_apiserver_process(etcd_endpoints: list[str] | None = None) -> ApiserverProcess:
    """Start an insecure API server on 127.0.0.1 and wait until it is ready.

    Without ``etcd_endpoints`` the server keeps its objects in SQLite in the
    temporary data directory. Raises RuntimeError with the server's log if
    it exits or is not ready within ``START_TIMEOUT`` seconds.
    """
    root = tempfile.mkdtemp(prefix="pykube-bench-apiserver-")
    port = free_ports(1)[0]
    command = [sys.executable, "-m", "bench.apiserver_process"]
    profile_dir = os.environ.get(PROFILE_ENV)
    if profile_dir:
        command += ["--profile", os.path.join(os.path.abspath(profile_dir), f"apiserver-{port}.prof")]
    command += [
        "apiserver",
        f"--data-dir={os.path.join(root, 'data')}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--insecure",
        "--log-level=warning",
    ]
    if etcd_endpoints:
        command.append(f"--etcd-endpoints={','.join(etcd_endpoints)}")
    with open(os.path.join(root, "apiserver.log"), "wb") as log:
        # A new session keeps a Ctrl-C in the terminal away from the server,
        # so the fixture's finalizer decides when it stops.
        process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = ApiserverProcess(process, f"http://127.0.0.1:{port}", root)
    try:
        _wait_ready(server)
    except Exception as exc:
        tail = server.log_tail()
        server.stop()
        raise RuntimeError(
            f"API server on port {port} did not become ready ({exc}); command {command}, end of its log:\n{tail}"
        ) from None
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: ApiserverProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"exited with status {server.process.returncode}")
        try:
            with urllib.request.urlopen(f"{server.url}/readyz", timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"/readyz did not reply 200 within {START_TIMEOUT}s")


def _run_cli(argv: list[str]) -> None:
    """Run ``pykube`` with ``argv``; with a leading ``--profile FILE``, under cProfile."""
    from pykube_control.cli.main import cli

    if argv[:1] != ["--profile"]:
        cli(argv, prog_name="pykube")
        return
    profile_path, argv = argv[1], argv[2:]
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        cli(argv, prog_name="pykube", standalone_mode=False)
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


if __name__ == "__main__":
    _run_cli(sys.argv[1:])
