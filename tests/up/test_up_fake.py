"""`pykube up --runtime fake` as a user runs it: one command, kubectl against it, stop, start again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.apiserver.server_thread import kubectl_binary

KUBECTL = kubectl_binary() or kubectl_binary("1.20")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="no kubectl: scripts/setup unpacks Debian's 1.20 into .cache/")

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: localhost/pykube/web:1}]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> str:
        argv = [sys.executable, "-m", "pykube_control.cli.main", "up", "--runtime", "fake", "--fake-nodes", "2",
                "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir), *extra]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        return line

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        self.process = None
        return code

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        env = {**os.environ, "KUBECONFIG": str(self.data_dir / "kubeconfig")}
        assert KUBECTL is not None
        done = subprocess.run([KUBECTL, *args], input=stdin, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path / "data", free_port())
    try:
        yield cluster
    finally:
        if cluster.process is not None:
            cluster.process.kill()
            cluster.process.wait()
            subprocess.run(["pkill", "-f", str(cluster.data_dir)], check=False)


def ready_replicas(cluster: Cluster, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    ready = 0
    while time.monotonic() < deadline:
        status = json.loads(cluster.kubectl("get", "deployment", "web", "-o", "json"))["status"]
        ready = int(status.get("readyReplicas", 0))
        if ready == 3:
            return ready
        time.sleep(0.3)
    return ready


def test_prints_kubeconfig_export(cluster: Cluster) -> None:
    line = cluster.start()
    assert line.strip() == f"export KUBECONFIG={cluster.data_dir / 'kubeconfig'}"


def test_deployment_survives_restart(cluster: Cluster) -> None:
    cluster.start()
    cluster.kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    assert ready_replicas(cluster) == 3
    pods_before = set(cluster.kubectl("get", "pods", "-o", "name").split())
    assert cluster.stop() == 0
    cluster.start()
    assert ready_replicas(cluster) == 3
    assert set(cluster.kubectl("get", "pods", "-o", "name").split()) == pods_before


def test_stop_leaves_no_process(cluster: Cluster) -> None:
    cluster.start()
    cluster.stop()
    leftover = subprocess.run(["pgrep", "-f", str(cluster.data_dir)], capture_output=True, text=True).stdout.split()
    assert leftover == []


def test_write_kubeconfig_merges(cluster: Cluster, tmp_path: Path) -> None:
    other = tmp_path / "config"
    other.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: old, cluster: {server: 'https://192.0.2.9:6443'}}]\n"
        "users: [{name: old, user: {token: x}}]\ncontexts: [{name: old, context: {cluster: old, user: old}}]\n"
        "current-context: old\n"
    )
    cluster.start("--write-kubeconfig", str(other))
    merged = yaml.safe_load(other.read_text())
    assert "old" in [c["name"] for c in merged["contexts"]]
    assert merged["current-context"] != "old"
    env = {**os.environ, "KUBECONFIG": str(other)}
    assert KUBECTL is not None
    nodes = subprocess.run([KUBECTL, "get", "nodes", "-o", "name"], env=env, capture_output=True, text=True, timeout=60)
    assert nodes.returncode == 0, nodes.stderr


def test_second_up_refused_and_first_kept(cluster: Cluster) -> None:
    cluster.start()
    pid_file = cluster.data_dir / "up.pid"
    assert cluster.process is not None
    first_pid = cluster.process.pid
    argv = [sys.executable, "-m", "pykube_control.cli.main", "up", "--runtime", "fake", "--host", "127.0.0.1",
            "--port", str(free_port()), "--data-dir", str(cluster.data_dir)]  # fmt: skip
    for extra in ([], ["--check"]):
        second = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=60)

        assert second.returncode == 1
        assert f"pykube up already runs a cluster in {cluster.data_dir} (pid {first_pid})" in second.stderr
        assert pid_file.read_text().strip() == str(first_pid)
    down = subprocess.run([sys.executable, "-m", "pykube_control.cli.main", "down", "--data-dir", str(cluster.data_dir)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    cluster.process.wait(60)
    cluster.process = None
    assert down.returncode == 0, down.stderr
    assert not pid_file.exists()


def test_stale_pid_file_replaced(cluster: Cluster) -> None:
    cluster.data_dir.mkdir(parents=True)
    # A live pid that belongs to no pykube up: this test's own process, which runs pytest.
    (cluster.data_dir / "up.pid").write_text(f"{os.getpid()}\n")

    line = cluster.start()

    assert line.strip() == f"export KUBECONFIG={cluster.data_dir / 'kubeconfig'}"
    assert cluster.process is not None
    assert (cluster.data_dir / "up.pid").read_text().strip() == str(cluster.process.pid)
