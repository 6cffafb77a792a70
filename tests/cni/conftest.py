"""Fixtures that run the CNI plugin as containerd does, inside network namespaces the test creates.

A ``Node`` is one namespace that plays the node's root namespace, plus
the pods' namespaces on it. The plugin runs under ``ip netns exec`` in
the node's namespace, so its bridge, veths, routes and nftables table
all live there, and deleting the namespaces at teardown removes every
one of them, also when the test fails. Names carry a random suffix
because other test runs share this machine.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest

from pykube_control.cni.config import NetworkConfig

NETNS_DIR = Path("/var/run/netns")
BUSYBOX = "/bin/busybox"


@dataclass
class PluginRun:
    """One plugin invocation: exit status, decoded stdout (None when empty) and stderr."""

    returncode: int
    output: Any
    stderr: str


def run(argv: Sequence[str], *, stdin: str | None = None, env: Mapping[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=check, env=dict(env) if env is not None else None, timeout=60)


def plugin_config_json(config: NetworkConfig, **extra: Any) -> dict[str, Any]:
    """The configuration object the runtime passes on stdin: the plugin entry plus cniVersion and name."""
    return {"cniVersion": config.cni_version, "name": config.name, **config.plugin_json(), **extra}


@dataclass
class Node:
    """A node's namespace and its pods' namespaces, all created and deleted by the test."""

    suffix: str
    config: NetworkConfig
    namespaces: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.namespaces[0]

    def add_namespace(self, role: str) -> str:
        name = f"pkcni-{self.suffix}-{role}"
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        return name

    def new_pod(self) -> str:
        """Create a pod namespace and return its path, as containerd passes it in CNI_NETNS."""
        name = self.add_namespace(f"p{len(self.namespaces)}")
        return str(NETNS_DIR / name)

    def remove_pod(self, path: str) -> None:
        """Delete a pod namespace without DEL, as a crashed runtime would leave it."""
        name = Path(path).name
        run(["ip", "netns", "delete", name])
        self.namespaces.remove(name)

    def plugin(
        self,
        command: str,
        *,
        container_id: str = "",
        netns: str = "",
        ifname: str = "eth0",
        config: Mapping[str, Any] | None = None,
        stdin: str | None = None,
        args: str = "",
        module: str = "pykube_control.cni",
    ) -> PluginRun:
        """Run the plugin in the node's namespace with the CNI_* variables containerd sets."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        env.update(CNI_COMMAND=command, CNI_CONTAINERID=container_id, CNI_NETNS=netns, CNI_IFNAME=ifname, CNI_PATH="/opt/cni/bin", CNI_ARGS=args)
        if stdin is None:
            stdin = json.dumps(config if config is not None else plugin_config_json(self.config))
        completed = run(["ip", "netns", "exec", self.host, sys.executable, "-m", module], stdin=stdin, env=env, check=False)
        output = json.loads(completed.stdout) if completed.stdout.strip() else None
        return PluginRun(completed.returncode, output, completed.stderr)

    def add(self, container_id: str, netns: str, **kwargs: Any) -> PluginRun:
        """ADD and fail the test with the plugin's output unless it succeeded."""
        result = self.plugin("ADD", container_id=container_id, netns=netns, **kwargs)
        assert result.returncode == 0, (result.output, result.stderr)
        return result

    def host_exec(self, argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["ip", "netns", "exec", self.host, *argv], check=check)

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        """Run Python code in the node's namespace (for functions that act on the current namespace)."""
        return self.host_exec([sys.executable, "-c", code])

    def pod_exec(self, netns: str, argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["nsenter", f"--net={netns}", *argv], check=check)

    def ping(self, netns: str, address: str) -> bool:
        """Send one ICMP echo from the pod namespace; True when a reply came back."""
        return self.pod_exec(netns, [BUSYBOX, "ping", "-c", "1", "-W", "2", address], check=False).returncode == 0

    def ping_from_host(self, address: str) -> bool:
        """Send one ICMP echo from the node's namespace; True when a reply came back."""
        return self.host_exec([BUSYBOX, "ping", "-c", "1", "-W", "2", address], check=False).returncode == 0

    def cleanup(self) -> None:
        for name in reversed(self.namespaces):
            run(["ip", "netns", "delete", name], check=False)
        self.namespaces.clear()


def require_network_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    for tool in ("ip", "nft", "nsenter"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs the {tool} tool")


def make_node(tmp_path: Path, *, subnet: str = "10.250.1.0/24", cluster_cidr: str = "10.250.0.0/16", **overrides: Any) -> Node:
    require_network_tools()
    suffix = secrets.token_hex(3)
    config = NetworkConfig(
        subnet=IPv4Network(subnet),
        cluster_cidr=IPv4Network(cluster_cidr),
        bridge=f"pkb{suffix}",
        nft_table=f"pykube_cni_{suffix}",
        state_dir=tmp_path / f"state-{suffix}",
    )
    node = Node(suffix, config.replace(**overrides))
    try:
        node.add_namespace("host")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"ip netns add failed: {exc.stderr.strip()}")
    return node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """A node namespace with a /24 pod subnet and a unique bridge and table name."""
    created = make_node(tmp_path)
    try:
        yield created
    finally:
        created.cleanup()
        shutil.rmtree(created.config.state_dir, ignore_errors=True)


def node_address(record: Any) -> IPv4Address:
    """The pod address in an ADD result."""
    return IPv4Address(record["ips"][0]["address"].split("/")[0])
