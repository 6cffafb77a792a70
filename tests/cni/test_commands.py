"""The plugin's commands run as containerd runs them: ADD, DEL, CHECK, VERSION, GC and STATUS."""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pykube_control.cni.ipam import IPAM
from pykube_control.cni.links import host_veth_name
from tests.cni.conftest import Node, make_node, node_address, plugin_config_json


def link_record(node: Node, name: str, netns: str = "") -> dict[str, object]:
    argv = ["ip", "-details", "-json", "link", "show", "dev", name]
    completed = node.pod_exec(netns, argv) if netns else node.host_exec(argv)
    record: dict[str, object] = json.loads(completed.stdout)[0]
    return record


def test_add_result(node: Node) -> None:
    pod = node.new_pod()
    result = node.add("c1", pod, args="K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0").output

    assert result["cniVersion"] == "1.0.0"
    assert result["ips"] == [{"address": "10.250.1.2/24", "gateway": "10.250.1.1", "interface": 2}]
    assert result["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.250.1.1"}]
    assert [i["name"] for i in result["interfaces"]] == [node.config.bridge, host_veth_name("c1", "eth0"), "eth0"]
    assert result["interfaces"][2]["sandbox"] == pod
    assert result["interfaces"][2]["mac"] == "0a:58:0a:fa:01:02"
    assert result["interfaces"][1]["mac"] == "0e:58:0a:fa:01:02"
    assert result["interfaces"][0]["mac"] == "0a:58:0a:fa:01:01"


def test_add_configures_links(node: Node) -> None:
    pod = node.new_pod()
    node.add("c1", pod)

    pod_link = link_record(node, "eth0", pod)
    host_link = link_record(node, host_veth_name("c1", "eth0"))
    routes = json.loads(node.pod_exec(pod, ["ip", "-json", "route", "show", "default"]).stdout)
    assert pod_link["mtu"] == 1500
    assert host_link["master"] == node.config.bridge
    assert host_link["linkinfo"]["info_slave_data"]["hairpin"] is True  # type: ignore[index]
    assert routes[0]["gateway"] == "10.250.1.1"


def test_add_mtu(tmp_path: Path) -> None:
    node = make_node(tmp_path, mtu=1400)
    try:
        pod = node.new_pod()
        node.add("c1", pod)
        assert link_record(node, "eth0", pod)["mtu"] == 1400
        assert link_record(node, host_veth_name("c1", "eth0"))["mtu"] == 1400
    finally:
        node.cleanup()


def test_pods_reach_gateway_and_each_other(node: Node) -> None:
    first, second = node.new_pod(), node.new_pod()
    node.add("c1", first)
    second_address = node_address(node.add("c2", second).output)

    assert node.ping(first, "10.250.1.1")
    assert node.ping(first, str(second_address))


def test_del_twice(node: Node) -> None:
    pod = node.new_pod()
    node.add("c1", pod)

    first = node.plugin("DEL", container_id="c1", netns=pod)
    second = node.plugin("DEL", container_id="c1", netns="")

    assert (first.returncode, first.output) == (0, None)
    assert (second.returncode, second.output) == (0, None)
    assert node.host_exec(["ip", "link", "show", "dev", host_veth_name("c1", "eth0")], check=False).returncode != 0
    assert IPAM.for_network(node.config).allocations() == []


def test_del_without_netns_removes_veth(node: Node) -> None:
    pod = node.new_pod()
    node.add("c1", pod)

    result = node.plugin("DEL", container_id="c1", netns="")

    assert result.returncode == 0
    assert node.pod_exec(pod, ["ip", "link", "show", "dev", "eth0"], check=False).returncode != 0


def test_del_unknown_container(node: Node) -> None:
    result = node.plugin("DEL", container_id="never-added", netns="")
    assert (result.returncode, result.output) == (0, None)


def test_add_again_after_del(node: Node) -> None:
    pod = node.new_pod()
    node.add("c1", pod)
    node.plugin("DEL", container_id="c1", netns=pod)

    again = node.add("c1", pod)

    assert node_address(again.output) == IPv4Address("10.250.1.3")


def test_check_passes(node: Node) -> None:
    pod = node.new_pod()
    added = node.add("c1", pod).output

    result = node.plugin("CHECK", container_id="c1", netns=pod, config=plugin_config_json(node.config, prevResult=added))

    assert (result.returncode, result.output) == (0, None)


def test_check_detects_missing_address(node: Node) -> None:
    pod = node.new_pod()
    added = node.add("c1", pod).output
    node.pod_exec(pod, ["ip", "address", "flush", "dev", "eth0"])

    result = node.plugin("CHECK", container_id="c1", netns=pod, config=plugin_config_json(node.config, prevResult=added))

    assert result.returncode == 1
    assert result.output["code"] == 103


def test_check_requires_prev_result(node: Node) -> None:
    pod = node.new_pod()
    node.add("c1", pod)

    result = node.plugin("CHECK", container_id="c1", netns=pod)

    assert result.output["code"] == 7
    assert "prevResult" in result.output["msg"]


def test_version(node: Node) -> None:
    result = node.plugin("VERSION", stdin='{"cniVersion": "1.0.0"}')
    assert result.output == {"cniVersion": "1.0.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}


def test_version_empty_stdin(node: Node) -> None:
    result = node.plugin("VERSION", stdin="")
    assert result.output["supportedVersions"][-1] == "1.1.0"


def test_add_old_result_format(node: Node) -> None:
    pod = node.new_pod()
    result = node.add("c1", pod, config=plugin_config_json(node.config, cniVersion="0.3.1")).output
    assert result["cniVersion"] == "0.3.1"
    assert result["ips"][0]["version"] == "4"


def test_concurrent_adds_unique_addresses(node: Node) -> None:
    pods = [node.new_pod() for _ in range(20)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda item: node.plugin("ADD", container_id=f"c{item[0]}", netns=item[1]), enumerate(pods)))

    failures = [(r.output, r.stderr) for r in results if r.returncode != 0]
    addresses = [node_address(r.output) for r in results if r.returncode == 0]
    tables = node.host_exec(["nft", "list", "tables"]).stdout.splitlines()
    assert failures == []
    assert len(set(addresses)) == 20
    assert tables.count(f"table ip {node.config.nft_table}") == 1


def test_crash_then_reconcile(node: Node) -> None:
    pods = [node.new_pod() for _ in range(3)]
    for index, pod in enumerate(pods):
        node.add(f"c{index}", pod)
    node.remove_pod(pods[1])
    node.remove_pod(pods[2])

    freed = IPAM.for_network(node.config).reconcile(["c0"], min_age=0)

    assert sorted(freed) == [IPv4Address("10.250.1.3"), IPv4Address("10.250.1.4")]
    assert [a.container_id for a in IPAM.for_network(node.config).allocations()] == ["c0"]
    assert node.host_exec(["ip", "link", "show", "dev", host_veth_name("c1", "eth0")], check=False).returncode != 0


def backdate_allocations(node: Node, seconds: float) -> None:
    """Make every allocation look ``seconds`` old, past reconcile's grace for running ADDs."""
    directory = node.config.state_dir / node.config.name
    for allocation in IPAM.for_network(node.config).allocations():
        path = directory / str(allocation.address)
        then = path.stat().st_mtime - seconds
        os.utime(path, (then, then))


@pytest.mark.parametrize("key", [pytest.param("cni.dev/valid-attachments", id="spec key"), pytest.param("cni.dev/attachments", id="draft key")])
def test_gc_frees_invalid_attachments(node: Node, key: str) -> None:
    for index in range(3):
        node.add(f"c{index}", node.new_pod())
    backdate_allocations(node, 3600)
    config = plugin_config_json(node.config, cniVersion="1.1.0", **{key: [{"containerID": "c1", "ifname": "eth0"}]})

    result = node.plugin("GC", config=config)

    assert (result.returncode, result.output) == (0, None)
    assert [a.container_id for a in IPAM.for_network(node.config).allocations()] == ["c1"]


def test_gc_keeps_recent_allocations(node: Node) -> None:
    node.add("c0", node.new_pod())
    config = plugin_config_json(node.config, cniVersion="1.1.0", **{"cni.dev/valid-attachments": []})

    result = node.plugin("GC", config=config)

    assert result.returncode == 0
    assert [a.container_id for a in IPAM.for_network(node.config).allocations()] == ["c0"]


def test_gc_needs_version_1_1(node: Node) -> None:
    result = node.plugin("GC")
    assert result.output["code"] == 1


def test_status(node: Node) -> None:
    result = node.plugin("STATUS", config=plugin_config_json(node.config, cniVersion="1.1.0"))
    assert (result.returncode, result.output) == (0, None)


def test_add_del_cycles_keep_range(tmp_path: Path) -> None:
    # A /29 has 5 pod addresses, so a DEL that leaked one would exhaust it within the loop.
    node = make_node(tmp_path, subnet="10.250.1.0/29")
    try:
        pod = node.new_pod()
        for cycle in range(15):
            node.add(f"c{cycle}", pod)
            assert node.plugin("DEL", container_id=f"c{cycle}", netns=pod).returncode == 0
        assert IPAM.for_network(node.config).allocations() == []
    finally:
        node.cleanup()


def test_failed_add_releases_address(node: Node) -> None:
    pod = node.new_pod()
    node.pod_exec(pod, ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "taken0"])

    result = node.plugin("ADD", container_id="c1", netns=pod)

    assert result.output["code"] == 100
    assert IPAM.for_network(node.config).allocations() == []
    assert node.host_exec(["ip", "link", "show", "dev", host_veth_name("c1", "eth0")], check=False).returncode != 0


def test_repeated_add_keeps_pod(node: Node) -> None:
    pod = node.new_pod()
    first = node.add("c1", pod).output

    again = node.plugin("ADD", container_id="c1", netns=pod)

    assert again.output["code"] == 100
    assert [a.address for a in IPAM.for_network(node.config).allocations()] == [node_address(first)]
    assert node.ping(pod, "10.250.1.1")


def test_del_with_stale_netns_path(node: Node, tmp_path: Path) -> None:
    pod = node.new_pod()
    node.add("c1", pod)
    stale = tmp_path / "not-a-netns"
    stale.write_text("")

    result = node.plugin("DEL", container_id="c1", netns=str(stale))

    assert (result.returncode, result.output) == (0, None)
    assert node.host_exec(["ip", "link", "show", "dev", host_veth_name("c1", "eth0")], check=False).returncode != 0
    assert IPAM.for_network(node.config).allocations() == []


def test_add_missing_netns(node: Node) -> None:
    result = node.plugin("ADD", container_id="c1", netns="/var/run/netns/pkcni-does-not-exist")
    assert result.output["code"] == 3


@pytest.mark.parametrize(
    ("enabled", "expected"),
    [pytest.param(False, "0", id="not requested"), pytest.param(True, "1", id="requested")],
)
def test_bridge_nf_call(tmp_path: Path, enabled: bool, expected: str) -> None:
    node = make_node(tmp_path, bridge_nf_call=enabled)
    try:
        setting = "/proc/sys/net/bridge/bridge-nf-call-iptables"
        if node.host_exec(["test", "-e", setting], check=False).returncode != 0:
            pytest.skip("br_netfilter is not loaded, so bridge-nf-call-iptables does not exist")
        node.host_exec(["sh", "-c", f"echo 0 > {setting}"])
        node.add("c1", node.new_pod())
        assert node.host_exec(["cat", setting]).stdout.strip() == expected
    finally:
        node.cleanup()


@pytest.mark.parametrize(
    ("enabled", "expected"),
    [pytest.param(False, "0", id="not requested"), pytest.param(True, "1", id="requested")],
)
def test_ip_forward(tmp_path: Path, enabled: bool, expected: str) -> None:
    node = make_node(tmp_path, ip_forward=enabled)
    try:
        # A new namespace copies the root namespace's value, so start from a known 0 in the test's own namespace.
        node.host_exec(["sysctl", "-qw", "net.ipv4.ip_forward=0"])
        node.add("c1", node.new_pod())
        assert node.host_exec(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == expected
    finally:
        node.cleanup()


CYCLES_IN_PROCESS = """
import json, sys
from pykube_control.cni import commands
from pykube_control.cni.config import NetworkConfig
from pykube_control.cni.ipam import IPAM
from pykube_control.cni.spec import Environment

config = NetworkConfig.from_json(json.loads(sys.argv[1]))
netns = sys.argv[2]
for cycle in range(int(sys.argv[3])):
    container_id = f"cycle{cycle}"
    commands.add(Environment("ADD", container_id, netns, "eth0"), config)
    commands.delete(Environment("DEL", container_id, netns, "eth0"), config)
print(len(IPAM.for_network(config).allocations()))
"""


@pytest.mark.slow
def test_300_cycles_in_small_range(tmp_path: Path) -> None:
    # ADD and DEL run in one process here, because 600 plugin starts would
    # take minutes; the code path below the entry point is the same. A /28
    # has 13 pod addresses, so one leaked address per DEL would exhaust it.
    node = make_node(tmp_path, subnet="10.250.1.0/28")
    try:
        pod = node.new_pod()
        config = json.dumps(plugin_config_json(node.config))
        completed = node.host_exec([sys.executable, "-c", CYCLES_IN_PROCESS, config, pod, "300"])
        assert completed.stdout.strip() == "0"
    finally:
        node.cleanup()
