"""Node-wide networking: host-gw routes between nodes, masquerade to the outside, and sync_routes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from pykube_control.cni.routes import ROUTE_PROTOCOL
from tests.cni.conftest import Node, make_node, node_address, plugin_config_json

NODE_LINK = "192.168.77.0/24"


def link_namespaces(left: Node, right_namespace: str, left_address: str, right_address: str, *, tag: str) -> None:
    """Connect the left node's namespace to another namespace with a veth pair, addresses in NODE_LINK."""
    left_name, right_name = f"{tag}a", f"{tag}b"
    left.host_exec(["ip", "link", "add", left_name, "type", "veth", "peer", "name", right_name, "netns", right_namespace])
    left.host_exec(["ip", "address", "add", f"{left_address}/24", "dev", left_name])
    left.host_exec(["ip", "link", "set", "dev", left_name, "up"])
    right_ip = ["nsenter", f"--net=/var/run/netns/{right_namespace}", "ip"]
    left.host_exec([*right_ip, "address", "add", f"{right_address}/24", "dev", right_name])
    left.host_exec([*right_ip, "link", "set", "dev", right_name, "up"])


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    first = make_node(tmp_path, subnet="10.250.1.0/24", ip_forward=True)
    second = None
    try:
        second = make_node(tmp_path, subnet="10.250.2.0/24", ip_forward=True)
        first.config = first.config.replace(node_routes={IPv4Network("10.250.2.0/24"): IPv4Address("192.168.77.2")})
        second.config = second.config.replace(node_routes={IPv4Network("10.250.1.0/24"): IPv4Address("192.168.77.1")})
        link_namespaces(first, second.host, "192.168.77.1", "192.168.77.2", tag=f"n{first.suffix}")
        yield first, second
    finally:
        first.cleanup()
        if second is not None:
            second.cleanup()


def test_pod_reaches_pod_on_other_node(two_nodes: tuple[Node, Node]) -> None:
    first, second = two_nodes
    first_pod, second_pod = first.new_pod(), second.new_pod()
    first.add("a1", first_pod)
    target = node_address(second.add("b1", second_pod).output)

    assert first.ping(first_pod, str(target))


def test_add_installs_node_routes(two_nodes: tuple[Node, Node]) -> None:
    first, _ = two_nodes
    first.add("a1", first.new_pod())

    routes = json.loads(first.host_exec(["ip", "-json", "route", "show", "proto", str(ROUTE_PROTOCOL)]).stdout)

    assert [(r["dst"], r["gateway"]) for r in routes] == [("10.250.2.0/24", "192.168.77.2")]


@pytest.fixture
def routed_node(node: Node) -> Node:
    link_namespaces(node, node.add_namespace("peer"), "192.168.77.1", "192.168.77.2", tag=f"r{node.suffix}")
    return node


def routes_by_protocol(node: Node) -> list[tuple[str, str]]:
    routes = json.loads(node.host_exec(["ip", "-json", "route", "show", "proto", str(ROUTE_PROTOCOL)]).stdout)
    return sorted((r["dst"], r["gateway"]) for r in routes)


def sync(node: Node, routes: dict[str, str]) -> None:
    node.python(f"from pykube_control.cni.routes import sync_routes; sync_routes({routes!r})")


def test_sync_routes_adds(routed_node: Node) -> None:
    sync(routed_node, {"10.250.2.0/24": "192.168.77.2", "10.250.3.0/24": "192.168.77.2"})
    assert routes_by_protocol(routed_node) == [("10.250.2.0/24", "192.168.77.2"), ("10.250.3.0/24", "192.168.77.2")]


def test_sync_routes_removes_and_replaces(routed_node: Node) -> None:
    routed_node.host_exec(["ip", "address", "add", "192.168.77.3/24", "dev", f"r{routed_node.suffix}a"])
    sync(routed_node, {"10.250.2.0/24": "192.168.77.2", "10.250.3.0/24": "192.168.77.2"})

    sync(routed_node, {"10.250.3.0/24": "192.168.77.3"})

    assert routes_by_protocol(routed_node) == [("10.250.3.0/24", "192.168.77.3")]


def test_sync_routes_keeps_foreign_routes(routed_node: Node) -> None:
    routed_node.host_exec(["ip", "route", "add", "10.99.0.0/16", "via", "192.168.77.2"])

    sync(routed_node, {})

    assert "10.99.0.0/16" in routed_node.host_exec(["ip", "route", "show"]).stdout


def test_sync_routes_rejects_bad_entry(routed_node: Node) -> None:
    completed = routed_node.host_exec(
        [sys.executable, "-c", "from pykube_control.cni.routes import sync_routes; sync_routes({'10.250.2.0/24': 'node-b'})"], check=False
    )
    assert completed.returncode != 0
    assert "invalid route '10.250.2.0/24' via 'node-b'" in completed.stderr


@pytest.mark.parametrize(("masquerade", "reachable"), [pytest.param(True, True, id="masquerade"), pytest.param(False, False, id="no masquerade")])
def test_masquerade_outside_cluster(tmp_path: Path, masquerade: bool, reachable: bool) -> None:
    # The outside namespace has no route back to the pod subnet, so only a
    # masqueraded echo request gets a reply.
    node = make_node(tmp_path, ip_forward=True, masquerade=masquerade)
    try:
        link_namespaces(node, node.add_namespace("out"), "192.168.77.1", "192.168.77.2", tag=f"o{node.suffix}")
        pod = node.new_pod()
        node.add("c1", pod)
        assert node.ping(pod, "192.168.77.2") is reachable
    finally:
        node.cleanup()


def masquerade_python(node: Node, call: str) -> str:
    code = f"from ipaddress import IPv4Network as N; from pykube_control.cni import masquerade; print(masquerade.{call})"
    return node.python(code).stdout.strip()


def test_masquerade_table_replaced_for_new_subnet(node: Node) -> None:
    table = node.config.nft_table
    first = masquerade_python(node, f"ensure_masquerade({table!r}, N('10.250.1.0/24'), N('10.250.0.0/16'))")
    again = masquerade_python(node, f"ensure_masquerade({table!r}, N('10.250.1.0/24'), N('10.250.0.0/16'))")
    changed = masquerade_python(node, f"ensure_masquerade({table!r}, N('10.250.9.0/24'), N('10.250.0.0/16'))")

    ruleset = node.host_exec(["nft", "list", "table", "ip", table]).stdout
    assert (first, again, changed) == ("True", "False", "True")
    assert ruleset.count("masquerade\n") == 1
    assert "ip saddr 10.250.9.0/24" in ruleset


def test_masquerade_cleanup(node: Node) -> None:
    table = node.config.nft_table
    masquerade_python(node, f"ensure_masquerade({table!r}, N('10.250.1.0/24'), N('10.250.0.0/16'))")

    removed = masquerade_python(node, f"cleanup({table!r})")
    again = masquerade_python(node, f"cleanup({table!r})")

    assert (removed, again) == ("True", "False")
    assert table not in node.host_exec(["nft", "list", "tables"]).stdout


def test_cleanup_node(routed_node: Node) -> None:
    node = routed_node.config.replace(node_routes={IPv4Network("10.250.2.0/24"): IPv4Address("192.168.77.2")})
    routed_node.config = node
    routed_node.add("c1", routed_node.new_pod())

    routed_node.python(
        "from pykube_control.cni.config import NetworkConfig; from pykube_control.cni.node import cleanup_node; import json, sys; "
        f"cleanup_node(NetworkConfig.from_json(json.loads({json.dumps(json.dumps(plugin_config_json(node)))})))"
    )

    assert routes_by_protocol(routed_node) == []
    assert node.nft_table not in routed_node.host_exec(["nft", "list", "tables"]).stdout
    assert routed_node.host_exec(["ip", "link", "show", "dev", node.bridge], check=False).returncode != 0
