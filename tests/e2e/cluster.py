"""A whole `pykube up` cluster for end-to-end tests, in a network namespace of its own.

``Cluster.start()`` does what the README's first command does, minus the
installation, without touching the machine's own network:

1. a network namespace ``pke-<suffix>`` joined to the root namespace by a
   veth pair: the namespace end carries the node IP, the root end the
   address the tests (and the official Python client) connect from;
   IPv4 forwarding and bridge netfilter are set inside the namespace only;
2. the example image built from busybox into ``<data-dir>/images/``;
3. `pykube up` started under ``nsenter --net`` into that namespace, so the
   CNI bridge, the pod veths and the proxy's nftables table are created
   there, with a cgroup parent unique to the run.

``kubectl`` runs inside the namespace too (through nsenter), as a user on
the node would. ``stop()`` stops `pykube up` the way a user does, with SIGTERM.
``destroy()`` then removes whatever is left: containers, shims, cgroups,
mounts, the data directory and the namespace with its veth pair.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.apiserver.server_thread import kubectl_binary
from tests.cri.containerd_env import kill_leftover_processes, remove_cgroup_parent, unmount_under

REPO = Path(__file__).resolve().parents[2]
WEB_IMAGE = "localhost/pykube/web:1"


def run(command: Sequence[str], *, check: bool = True, timeout: float = 60.0, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(command), input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed with {done.returncode}: {done.stderr.strip()}")
    return done


def missing() -> str | None:
    """Return why a real cluster cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root for containerd, mounts and network namespaces"
    for tool in ("containerd", "runc", "nsenter", "ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs {tool}; scripts/setup installs it"
    if kubectl_binary() is None and kubectl_binary("1.20") is None:
        return "needs kubectl; scripts/setup unpacks Debian's 1.20 into .cache/"
    return None


class Cluster:
    """One `pykube up` in its own network namespace; see the module docstring."""

    def __init__(self, *, etcd_endpoints: str | None = None, kubectl: str | None = None) -> None:
        self.suffix = secrets.token_hex(3)
        self.netns = f"pke-{self.suffix}"
        octet = 100 + secrets.randbelow(150)
        self.host_ip = f"10.253.{octet}.1"
        self.node_ip = f"10.253.{octet}.2"
        self.port = 16000 + secrets.randbelow(1000)
        self.directory = Path(tempfile.mkdtemp(prefix="pke-", dir="/tmp"))
        self.data_dir = self.directory / "data"
        self.cgroup_parent = f"/pykube-e2e-{self.suffix}"
        self.etcd_endpoints = etcd_endpoints
        self.kubectl_path = kubectl or kubectl_binary() or kubectl_binary("1.20")
        self.process: subprocess.Popen[bytes] | None = None
        self.netns_created = False
        self.keep_pods = True
        """Start with --keep-pods, so stop() and start() restart the cluster around running pods."""

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{self.node_ip}:{self.port}"

    def in_netns(self, *command: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.netns}", *command]

    def create_network(self) -> None:
        run(["ip", "netns", "add", self.netns])
        self.netns_created = True
        host_end, node_end = f"pke{self.suffix}h", f"pke{self.suffix}n"
        run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", node_end, "netns", self.netns])
        run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", host_end])
        run(["ip", "link", "set", host_end, "up"])
        run(["ip", "-n", self.netns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.netns, "addr", "add", f"{self.node_ip}/30", "dev", node_end])
        run(["ip", "-n", self.netns, "link", "set", node_end, "up"])
        run(["ip", "-n", self.netns, "route", "add", "default", "via", self.host_ip])
        run(self.in_netns("sysctl", "-qw", "net.ipv4.ip_forward=1"))
        run(self.in_netns("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"), check=False)

    def build_image(self) -> None:
        images = self.data_dir / "images"
        images.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "pykube_control.cli.main", "images", "build-busybox", WEB_IMAGE,
             "--output", str(images / "web.tar")])  # fmt: skip

    def start(self, timeout: float = 90.0) -> None:
        """Start `pykube up` and wait until this machine's Node is Ready."""
        argv = [sys.executable, "-m", "pykube_control.cli.main", "up", "--data-dir", str(self.data_dir),
                "--port", str(self.port), "--node-ip", self.node_ip, "--node-name", f"node-{self.suffix}",
                "--cgroup-parent", self.cgroup_parent, "--log-level", "info"]  # fmt: skip
        if self.keep_pods:
            argv.append("--keep-pods")
        if self.etcd_endpoints:
            argv += ["--etcd-endpoints", self.etcd_endpoints]
        log = (self.directory / "up.out").open("ab")
        self.process = subprocess.Popen(self.in_netns(*argv), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"pykube up exited with {self.process.returncode}: {self.tail('up.out')}")
            if self.kubeconfig.exists() and self.node_ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"the node was not Ready within {timeout:.0f} s: {self.tail('logs/node.log')}")

    def node_ready(self) -> bool:
        done = self.kubectl("get", "nodes", "-o", "json", check=False)
        if done.returncode != 0:
            return False
        for node in json.loads(done.stdout)["items"]:
            for condition in node.get("status", {}).get("conditions", []):
                if condition["type"] == "Ready" and condition["status"] == "True":
                    return True
        return False

    def stop(self, timeout: float = 90.0) -> int:
        """Stop `pykube up` with SIGTERM, as Ctrl-C or `pykube down` would; return its exit code."""
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def destroy(self) -> None:
        """Stop the cluster and remove everything it left, even after a failed test."""
        try:
            self.stop()
        finally:
            socket = self.data_dir / "containerd" / "containerd.sock"
            kill_leftover_processes(self.cgroup_parent, socket)
            subprocess.run(["pkill", "-f", str(self.data_dir)], check=False)
            _run_async(remove_cgroup_parent(self.cgroup_parent))
            unmount_under(self.directory)
            shutil.rmtree(self.directory, ignore_errors=True)
            if self.netns_created:
                subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True, check=False)

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        assert self.kubectl_path is not None
        return run(self.in_netns(self.kubectl_path, f"--kubeconfig={self.kubeconfig}", *args),
                   check=check, stdin=stdin, timeout=timeout)  # fmt: skip

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def curl(self, url: str, *, timeout: float = 5.0) -> subprocess.CompletedProcess[str]:
        """Fetch ``url`` from the node (inside the cluster's namespace)."""
        return run(self.in_netns("curl", "-sS", "--max-time", str(timeout), url), check=False, timeout=timeout + 5)

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.data_dir / name if name.startswith("logs/") else self.directory / name
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return f"({path} missing)"

    def wait_for(self, what: str, check: Any, timeout: float = 90.0, interval: float = 0.3) -> Any:
        """Call ``check()`` until it returns a true value; fail naming ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def _run_async(coro: Any) -> None:
    import asyncio

    asyncio.run(coro)
