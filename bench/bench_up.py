"""Time from `pykube up` to a working cluster, and the cluster's memory.

Each round starts `pykube up` on an empty data directory inside a network
namespace of its own (the end-to-end suite's tests/e2e/cluster.py: a veth
pair to the root namespace, its own containerd, CNI bridge and nftables
table), with the example image already built into the images folder, as
scripts/quickstart leaves it. The stages are those of minikube's
time-to-k8s benchmark: the API server answering /readyz, this machine's
Node Ready, and the example app (examples/01-web.yaml, 3 replicas behind a
Service, applied as soon as the API answers) serving a page through its
ClusterIP. Every time counts from the moment `pykube up` is started. The
"time" column is the last stage, the app serving (the median of 3 rounds,
as are the other figures).

Memory is the proportional set size (Pss from /proc/PID/smaps_rollup) of
every process of the cluster, summed: pykube's own daemons, then
containerd, then the containerd shims and the pods' processes. It is
taken once with the node idle (after it is Ready, before the app is
applied) and once with the example running. Targets: the API answering
within 2 s, the app serving within 10 s, the whole cluster under 400 MB
with the example running. For comparison, minikube's time-to-k8s reports
k3d at 19.9 s, kind at 33 s and minikube at 50.8 s in total, and k3s
publishes about 1.6 GB for a server with a workload.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import REPO, Cluster, missing

ROUNDS = int(os.environ.get("PYKUBE_BENCH_UP_ROUNDS", "3"))
DAEMONS = ("apiserver", "controller-manager", "scheduler", "proxy", "node")


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def process_table() -> list[tuple[int, int, str]]:
    """Return (pid, parent pid, command line) of every process."""
    table = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        table.append((int(entry.name), ppid, cmdline))
    return table


def cluster_memory(cluster: Cluster) -> dict[str, float]:
    """Return the Pss in MB of pykube's daemons, containerd, and shims with the pods' processes."""
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, ppid, _ in table:
        children.setdefault(ppid, []).append(pid)

    def tree(root: int) -> list[int]:
        found, stack = [], [root]
        while stack:
            pid = stack.pop()
            found.append(pid)
            stack.extend(children.get(pid, []))
        return found

    marker = str(cluster.data_dir)
    pykube = [pid for pid, _, cmd in table if "pykube_control.cli.main" in cmd and marker in cmd]
    containerd = [pid for pid, _, cmd in table if cmd.startswith("containerd ") and marker in cmd]
    shims = [pid for pid, _, cmd in table if "containerd-shim" in cmd and marker in cmd]
    pods = {p for shim in shims for p in tree(shim)}
    return {
        "pykube_mb": round(sum(pss_kib(p) for p in set(pykube)) / 1024, 1),
        "containerd_mb": round(sum(pss_kib(p) for p in set(containerd)) / 1024, 1),
        "pods_and_shims_mb": round(sum(pss_kib(p) for p in pods) / 1024, 1),
    }


def readyz(cluster: Cluster) -> bool:
    done = subprocess.run(
        ["curl", "-sk", "--max-time", "1", f"{cluster.server}/readyz"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() == "ok"


class Round:
    """One cluster measured from `pykube up` to the example app serving; see the module docstring."""

    def __init__(self) -> None:
        self.cluster = Cluster()
        self.cluster.create_network()
        self.cluster.build_image()
        self.figures: dict[str, Any] = {}

    def run(self) -> None:
        cluster = self.cluster
        argv = [sys.executable, "-m", "pykube_control.cli.main", "up", "--data-dir", str(cluster.data_dir),
                "--port", str(cluster.port), "--node-ip", cluster.node_ip, "--node-name", f"node-{cluster.suffix}",
                "--cgroup-parent", cluster.cgroup_parent]  # fmt: skip
        log = (cluster.directory / "up.out").open("ab")
        started = time.monotonic()
        cluster.process = subprocess.Popen(cluster.in_netns(*argv), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        cluster.wait_for("the API server", lambda: readyz(cluster), timeout=60, interval=0.02)
        self.figures["api_s"] = round(time.monotonic() - started, 2)
        cluster.kubectl("apply", "-f", str(REPO / "examples" / "01-web.yaml"))
        cluster.wait_for("the Node to be Ready", cluster.node_ready, timeout=60, interval=0.05)
        self.figures["node_ready_s"] = round(time.monotonic() - started, 2)
        ip = str(cluster.kubectl_json("get", "service", "web")["spec"]["clusterIP"])
        serving = lambda: cluster.curl(f"http://{ip}/", timeout=1).stdout.startswith("hello from web-")  # noqa: E731
        cluster.wait_for("the example app to serve", serving, timeout=120, interval=0.05)
        self.figures["app_serving_s"] = round(time.monotonic() - started, 2)

    def finish(self) -> dict[str, Any]:
        """Measure memory with the app running, then remove the cluster; return the round's figures."""
        try:
            time.sleep(5)
            self.figures.update(cluster_memory(self.cluster))
            return self.figures
        finally:
            self.cluster.destroy()


def idle_memory() -> dict[str, float]:
    cluster = Cluster()
    try:
        cluster.create_network()
        cluster.build_image()
        cluster.start()
        time.sleep(5)
        return {f"idle_{key}": value for key, value in cluster_memory(cluster).items()}
    finally:
        cluster.destroy()


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
@pytest.mark.benchmark(group="pykube up, from start to the example app serving")
@pytest.mark.parametrize("store", ["sqlite"])
def bench_up_to_serving(benchmark: Any, store: str) -> None:
    rounds: list[Round] = []
    figures: list[dict[str, Any]] = []

    def setup() -> tuple[tuple[Round], dict[str, Any]]:
        if rounds:
            figures.append(rounds[-1].finish())
        rounds.append(Round())
        return (rounds[-1],), {}

    try:
        benchmark.pedantic(Round.run, setup=setup, rounds=ROUNDS, iterations=1)
    finally:
        figures.append(rounds[-1].finish())
    benchmark.extra_info["ops"] = 1
    for key in figures[0]:
        values = sorted(f[key] for f in figures)
        benchmark.extra_info[key] = values[len(values) // 2]
    benchmark.extra_info.update(idle_memory())
    info = benchmark.extra_info
    info["cluster_total_mb"] = round(info["pykube_mb"] + info["containerd_mb"] + info["pods_and_shims_mb"], 1)
