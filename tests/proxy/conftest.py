"""A node, a client and three backends in network namespaces the tests create.

The node namespace holds the proxy's nftables table, a bridge for the
backends (10.244.0.0/24), a point-to-point veth to the client
(10.250.0.0/24, node side 10.250.0.1) and routes of the Service and
external address ranges onto the bridge, so packets to a ClusterIP are
forwarded through the node's hooks even when nothing answers them. The
client is not on the bridge, so replies from a backend pass back through
the node's conntrack. Every namespace gets a random suffix and is deleted
afterwards, which removes its links, tables and conntrack entries too.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NODE_ADDRESS = "10.250.0.1"
CLIENT_ADDRESS = "10.250.0.2"
BACKEND_PORTS = ("8080", "9090")


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


def in_netns(netns: str, *command: str) -> None:
    run("ip", "netns", "exec", netns, *command)


@dataclass
class Topology:
    """Names and addresses of the namespaces; see the module docstring."""

    node: str
    client: str
    backends: dict[str, str] = field(default_factory=dict)
    """Backend name to its address."""
    backend_namespaces: dict[str, str] = field(default_factory=dict)
    """Backend name to its network namespace."""
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def probe(
        self,
        mode: str,
        host: str,
        port: int,
        count: int,
        source_port: int | None = None,
        netns: str | None = None,
    ) -> dict[str, list[str]]:
        """Run client_probe.py in netns (default: the client's); return its answers and errors."""
        command = ["ip", "netns", "exec", netns or self.client, sys.executable, str(HERE / "client_probe.py"),
                   mode, host, str(port), str(count)]
        if source_port is not None:
            command.append(str(source_port))
        output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=120).stdout
        result: dict[str, list[str]] = json.loads(output)
        return result


def netns_missing() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft", "conntrack"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


def build_topology(suffix: str) -> Topology:
    topology = Topology(node=f"pk-n-{suffix}", client=f"pk-c-{suffix}")
    run("ip", "netns", "add", topology.node)
    run("ip", "netns", "add", topology.client)
    node = topology.node
    in_netns(node, "ip", "link", "set", "lo", "up")
    in_netns(node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    in_netns(node, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1")
    in_netns(node, "ip", "link", "add", "br0", "type", "bridge")
    in_netns(node, "ip", "addr", "add", "10.244.0.1/24", "dev", "br0")
    in_netns(node, "ip", "link", "set", "br0", "up")
    # The kernel here has no dummy link type, so the bridge routes them.
    in_netns(node, "ip", "route", "add", "10.96.0.0/16", "dev", "br0")
    in_netns(node, "ip", "route", "add", "192.0.2.0/24", "dev", "br0")

    in_netns(node, "ip", "link", "add", "toclient", "type", "veth", "peer", "name", "eth0", "netns", topology.client)
    in_netns(node, "ip", "addr", "add", f"{NODE_ADDRESS}/24", "dev", "toclient")
    in_netns(node, "ip", "link", "set", "toclient", "up")
    client = topology.client
    in_netns(client, "ip", "link", "set", "lo", "up")
    in_netns(client, "ip", "addr", "add", f"{CLIENT_ADDRESS}/24", "dev", "eth0")
    in_netns(client, "ip", "link", "set", "eth0", "up")
    in_netns(client, "ip", "route", "add", "default", "via", NODE_ADDRESS)

    for index in range(3):
        name = f"b{index}"
        netns = f"pk-{name}-{suffix}"
        address = f"10.244.0.{10 + index}"
        run("ip", "netns", "add", netns)
        topology.backends[name] = address
        topology.backend_namespaces[name] = netns
        in_netns(node, "ip", "link", "add", f"to{name}", "type", "veth", "peer", "name", "eth0", "netns", netns)
        in_netns(node, "ip", "link", "set", f"to{name}", "master", "br0", "up")
        # As CNI bridge plugins do: with bridge-nf-call-iptables a pod that
        # reaches itself through a Service needs its frame sent back out
        # the port it came in on.
        in_netns(node, "ip", "link", "set", f"to{name}", "type", "bridge_slave", "hairpin", "on")
        in_netns(netns, "ip", "link", "set", "lo", "up")
        in_netns(netns, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        in_netns(netns, "ip", "link", "set", "eth0", "up")
        in_netns(netns, "ip", "route", "add", "default", "via", "10.244.0.1")
        process = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, str(HERE / "backend_server.py"), name, *BACKEND_PORTS],
            stdout=subprocess.PIPE,
            text=True,
        )
        topology.processes.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    return topology


def remove_topology(suffix: str, topology: Topology | None) -> None:
    if topology is not None:
        for process in topology.processes:
            process.kill()
            process.wait()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith("pk-") and name.endswith(f"-{suffix}"):
            subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    reason = netns_missing()
    if reason is not None:
        pytest.skip(reason)
    suffix = secrets.token_hex(3)
    built: Topology | None = None
    try:
        built = build_topology(suffix)
        yield built
    finally:
        remove_topology(suffix, built)
