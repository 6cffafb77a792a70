"""A three-member etcd cluster on the loopback of a test's network namespace.

The end-to-end cluster runs inside its own network namespace, so its etcd
must listen on that namespace's loopback: each member starts under
``nsenter --net``, and health is read with ``etcdctl`` in the same
namespace. Members and their data directory are removed by ``stop()``.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from pathlib import Path

from tests.store.etcd_server import find_etcd_binary


class NetnsEtcd:
    def __init__(self, netns: str, directory: Path, size: int = 3) -> None:
        self.netns = netns
        self.directory = directory
        base = 23000 + secrets.randbelow(20000)
        self.members = [(f"m{i}", base + 2 * i, base + 2 * i + 1) for i in range(size)]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def endpoints(self) -> str:
        return ",".join(f"http://127.0.0.1:{client}" for _, client, _ in self.members)

    def start(self, timeout: float = 30.0) -> None:
        binary = find_etcd_binary()
        assert binary is not None, "etcd is missing; scripts/setup installs etcd-server"
        initial = ",".join(f"{name}=http://127.0.0.1:{peer}" for name, _, peer in self.members)
        token = f"pykube-e2e-{secrets.token_hex(4)}"
        for name, client, peer in self.members:
            log = (self.directory / f"{name}.log").open("wb")
            command = [
                "nsenter", f"--net=/run/netns/{self.netns}", binary, f"--name={name}",
                f"--data-dir={self.directory / name}", f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}", f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}", f"--initial-cluster={initial}",
                f"--initial-cluster-token={token}", "--initial-cluster-state=new", "--logger=zap", "--log-outputs=stderr",
            ]  # fmt: skip
            self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            time.sleep(0.2)
        raise AssertionError(f"etcd members {self.endpoints} were not healthy within {timeout:.0f} s")

    def healthy(self) -> bool:
        etcdctl = shutil.which("etcdctl") or "etcdctl"
        done = subprocess.run(
            ["nsenter", f"--net=/run/netns/{self.netns}", etcdctl, f"--endpoints={self.endpoints}", "endpoint", "health"],
            capture_output=True, text=True, check=False, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        return done.returncode == 0

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
