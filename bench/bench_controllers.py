"""A Deployment of 1,000 replicas on 100 fake nodes, from zero to all Ready, then a rolling update.

Every component runs as its own process, as in a real cluster: the API
server (`pykube apiserver --insecure` on loopback, SQLite store), 100 fake
nodes (`pykube node --runtime fake`), the scheduler and the controller
manager (deployment and replicaset controllers). The clock starts just
before the Deployment is created and stops when its status reports 1,000
ready replicas (the rolling update: 1,000 updated and ready, none left
on the old ReplicaSet). Status is polled every 50 ms, so figures are
rounded up to that.

The last column shows the controller manager's and the scheduler's CPU
seconds during the run (user plus system, from /proc) and their peak
resident memory (VmHWM) at the end. Target: 1,000 replicas Running within
10 s end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.apiserver_process import ROOT, ApiserverProcess, start_apiserver_process

NODES = 100
REPLICAS = 1000
TIMEOUT = 120.0
"""Seconds after which a run counts as failed, far above the 10 s target."""
POLL = 0.05


class Cluster:
    def __init__(self, server: ApiserverProcess, kubeconfig: Path) -> None:
        self.server = server
        self.kubeconfig = kubeconfig
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = tempfile.mkdtemp(prefix="pykube-bench-cluster-")

    def start(self, name: str, *args: str) -> None:
        with open(os.path.join(self.logs, f"{name}.log"), "wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "pykube_control.cli.main", *args, f"--kubeconfig={self.kubeconfig}"],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.server.url + path, data=data, method=method, headers={"Content-Type": content_type}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    server = start_apiserver_process()
    kubeconfig = Path(server.root) / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "bench", "cluster": {"server": server.url}}],
                "users": [{"name": "bench", "user": {}}],
                "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
                "current-context": "bench",
            }
        )
    )
    running = Cluster(server, kubeconfig)
    try:
        running.start("nodes", "node", "--runtime=fake", f"--count={NODES}")
        running.start("scheduler", "scheduler", "--no-leader-elect", "--log-level=warning")
        running.start(
            "controller-manager", "controller-manager", "--no-leader-elect",
            "--controllers=deployment,replicaset", "--log-level=warning",
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            nodes = running.request("GET", "/api/v1/nodes")["items"]
            if len(nodes) == NODES:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"fake nodes did not register; logs in {running.logs}")
        yield running
    finally:
        running.stop()
        server.stop()


def deployment(image: str) -> dict[str, Any]:
    labels = {"app": "bench"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": image}]}},
        },
    }


def wait_until(cluster: Cluster, done: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        status = cluster.request("GET", "/apis/apps/v1/namespaces/default/deployments/bench")
        if done(status):
            return
        time.sleep(POLL)
    raise TimeoutError(f"the Deployment did not converge within {TIMEOUT:.0f} s: {status.get('status')}")


def record_usage(benchmark: Any, cluster: Cluster, before: dict[str, float]) -> None:
    for name in ("controller-manager", "scheduler"):
        pid = cluster.processes[name].pid
        benchmark.extra_info[f"{name}_cpu_s"] = round(cpu_seconds(pid) - before[name], 2)
        benchmark.extra_info[f"{name}_peak_mib"] = round(peak_mib(pid), 1)


@pytest.mark.benchmark(group="deployment 1,000 replicas on 100 fake nodes")
def bench_deployment_to_ready(benchmark: Any, cluster: Cluster) -> None:
    before = {name: cpu_seconds(cluster.processes[name].pid) for name in ("controller-manager", "scheduler")}

    def run() -> None:
        cluster.request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment("busybox:1.36"))
        wait_until(cluster, lambda d: (d.get("status") or {}).get("readyReplicas") == REPLICAS)

    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(run, rounds=1, iterations=1)
    record_usage(benchmark, cluster, before)


@pytest.mark.benchmark(group="rolling update of 1,000 replicas")
def bench_rolling_update(benchmark: Any, cluster: Cluster) -> None:
    before = {name: cpu_seconds(cluster.processes[name].pid) for name in ("controller-manager", "scheduler")}

    def updated(d: dict[str, Any]) -> bool:
        status = d.get("status") or {}
        return (
            status.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and status.get("updatedReplicas") == REPLICAS
            and status.get("readyReplicas") == REPLICAS
            and status.get("replicas") == REPLICAS
        )

    def run() -> None:
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}}}
        cluster.request(
            "PATCH", "/apis/apps/v1/namespaces/default/deployments/bench", patch, "application/strategic-merge-patch+json"
        )
        wait_until(cluster, updated)

    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(run, rounds=1, iterations=1)
    record_usage(benchmark, cluster, before)
