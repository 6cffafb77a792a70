"""Two machines in one cluster: the second joins with the command the first `pykube up` prints.

Each machine is a network namespace with its own `pykube up`, containerd,
CNI bridge and proxy table. The two namespaces share one link
(10.252.N.0/24), as two hosts on one LAN, and the first also has its veth
to the root namespace from tests/e2e/cluster.py.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cri.containerd_env import kill_leftover_processes, remove_cgroup_parent, unmount_under
from tests.e2e.cluster import REPO, WEB_IMAGE, Cluster, _run_async, missing, run


class Machines:
    def __init__(self) -> None:
        self.first = Cluster()
        octet = 100 + secrets.randbelow(150)
        self.link_first = f"10.252.{octet}.1"
        self.link_second = f"10.252.{octet}.2"
        self.netns = f"{self.first.netns}b"
        self.directory = self.first.directory / "second"
        self.cgroup_parent = f"{self.first.cgroup_parent}-b"
        self.process: subprocess.Popen[bytes] | None = None
        self.netns_created = False

    def in_netns(self, *command: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.netns}", *command]

    def create_network(self) -> None:
        self.first.create_network()
        run(["ip", "netns", "add", self.netns])
        self.netns_created = True
        first_end, second_end = f"pkl{self.first.suffix}a", f"pkl{self.first.suffix}b"
        run(["ip", "-n", self.first.netns, "link", "add", first_end, "type", "veth", "peer", "name", second_end,
             "netns", self.netns])  # fmt: skip
        run(["ip", "-n", self.first.netns, "addr", "add", f"{self.link_first}/24", "dev", first_end])
        run(["ip", "-n", self.first.netns, "link", "set", first_end, "up"])
        run(["ip", "-n", self.netns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.netns, "addr", "add", f"{self.link_second}/24", "dev", second_end])
        run(["ip", "-n", self.netns, "link", "set", second_end, "up"])
        run(["ip", "-n", self.netns, "route", "add", "default", "via", self.link_first])
        run(self.in_netns("sysctl", "-qw", "net.ipv4.ip_forward=1"))
        run(self.in_netns("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"), check=False)
        # The first machine's node IP is its address on the shared link, as on a LAN.
        self.first.node_ip = self.link_first

    def join_line(self) -> str:
        text = (self.first.directory / "up.out").read_text()
        match = re.search(r"pykube up (--server \S+ --token \S+ --ca-cert-hash \S+)", text)
        assert match is not None, f"no join command in the first machine's output:\n{text[-2000:]}"
        return match.group(1)

    def start_second(self) -> None:
        data_dir = self.directory / "data"
        (data_dir / "images").mkdir(parents=True)
        run([sys.executable, "-m", "pykube_control.cli.main", "images", "build-busybox", WEB_IMAGE,
             "--output", str(data_dir / "images" / "web.tar")])  # fmt: skip
        argv = [sys.executable, "-m", "pykube_control.cli.main", "up", *self.join_line().split(),
                "--data-dir", str(data_dir), "--node-ip", self.link_second, "--node-name", f"node-{self.first.suffix}-b",
                "--cgroup-parent", self.cgroup_parent]  # fmt: skip
        log = (self.directory / "up.out").open("ab")
        self.process = subprocess.Popen(self.in_netns(*argv), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def destroy(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(60)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            data_dir = self.directory / "data"
            kill_leftover_processes(self.cgroup_parent, data_dir / "containerd" / "containerd.sock")
            subprocess.run(["pkill", "-f", str(data_dir)], check=False)
            _run_async(remove_cgroup_parent(self.cgroup_parent))
            unmount_under(self.directory)
            shutil.rmtree(self.directory, ignore_errors=True)
            if self.netns_created:
                subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True, check=False)
        finally:
            self.first.destroy()


@pytest.fixture(scope="module")
def machines() -> Iterator[Machines]:
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    machines = Machines()
    try:
        machines.create_network()
        machines.first.build_image()
        machines.first.start()
        machines.start_second()
        yield machines
    finally:
        machines.destroy()


def ready_nodes(cluster: Cluster) -> list[str]:
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    return sorted(
        n["metadata"]["name"] for n in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
    )  # fmt: skip


def web_pods(cluster: Cluster) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = cluster.kubectl_json("get", "pods", "-l", "app=web")["items"]
    return [p for p in pods if p.get("status", {}).get("podIP") and not p["metadata"].get("deletionTimestamp")]


def test_second_machine_joins(machines: Machines) -> None:
    first = machines.first
    second_name = f"node-{first.suffix}-b"
    nodes = first.wait_for("two Ready nodes", lambda: len(ready_nodes(first)) == 2 and ready_nodes(first), timeout=120)
    assert second_name in nodes


def test_pods_spread_over_both_nodes(machines: Machines) -> None:
    first = machines.first
    first.kubectl("apply", "-f", str(REPO / "examples" / "01-web.yaml"))
    first.kubectl("scale", "deployment/web", "--replicas=4")
    first.kubectl("rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    nodes = {p["spec"]["nodeName"] for p in web_pods(first)}
    assert len(nodes) == 2


def test_pod_reaches_pod_on_other_node(machines: Machines) -> None:
    first = machines.first
    pods = web_pods(first)
    here = pods[0]["spec"]["nodeName"]
    target = next(p for p in pods if p["spec"]["nodeName"] != here)
    overrides = {"spec": {"nodeName": here}}
    first.kubectl(
        "run", "cross", "--image=localhost/pykube/web:1", "--image-pull-policy=Never", "--restart=Never",
        f"--overrides={json.dumps(overrides)}", "--command", "--", "sh", "-c",
        f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {target['status']['podIP']} 8080",
    )  # fmt: skip
    done = lambda: first.kubectl_json("get", "pod", "cross")["status"].get("phase") in ("Succeeded", "Failed")  # noqa: E731
    first.wait_for("the cross-node client to finish", done, timeout=60)
    assert f"hello from {target['metadata']['name']}" in first.kubectl("logs", "cross").stdout


def test_service_from_second_machine_reaches_both(machines: Machines) -> None:
    first = machines.first
    ip = first.kubectl_json("get", "service", "web")["spec"]["clusterIP"]
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(seen) < 4:
        answer = run(machines.in_netns("curl", "-sS", "--max-time", "3", f"http://{ip}/"), check=False)
        if answer.stdout.startswith("hello from "):
            seen.add(answer.stdout.strip().removeprefix("hello from "))
    expected = {p["metadata"]["name"] for p in web_pods(first)}
    assert seen == expected
