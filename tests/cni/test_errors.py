"""Error results: the CNI error object and exit status for bad input, as the runtime receives them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cni.conftest import Node, plugin_config_json


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        pytest.param({"subnet": "not-a-cidr"}, 7, "subnet", id="invalid subnet"),
        pytest.param({"mtu": "1500"}, 7, "mtu", id="mtu as string"),
        pytest.param({"cniVersion": "9.9.9"}, 1, "cniVersion", id="unsupported version"),
        pytest.param({"subnet": "fd00::/64", "clusterCIDR": "fd00::/48"}, 2, "subnet", id="ipv6"),
    ],
)
def test_bad_config(node: Node, change: dict[str, Any], code: int, text: str) -> None:
    pod = node.new_pod()
    config = {**plugin_config_json(node.config), **change}

    result = node.plugin("ADD", container_id="c1", netns=pod, config=config)

    assert result.returncode == 1
    assert result.output["code"] == code
    assert text in result.output["msg"]
    assert set(result.output) <= {"cniVersion", "code", "msg", "details"}


def test_undecodable_stdin(node: Node) -> None:
    result = node.plugin("ADD", container_id="c1", netns=node.new_pod(), stdin="{not json")
    assert result.returncode == 1
    assert result.output["code"] == 6


def test_stdin_not_object(node: Node) -> None:
    result = node.plugin("ADD", container_id="c1", netns=node.new_pod(), stdin="[]")
    assert result.output["code"] == 6


@pytest.mark.parametrize(
    ("container_id", "ifname", "text"),
    [
        pytest.param("", "eth0", "CNI_CONTAINERID", id="missing container id"),
        pytest.param("-bad", "eth0", "CNI_CONTAINERID", id="invalid container id"),
        pytest.param("c1", "", "CNI_IFNAME", id="missing ifname"),
        pytest.param("c1", "a-name-longer-than-15", "CNI_IFNAME", id="ifname too long"),
    ],
)
def test_bad_environment(node: Node, container_id: str, ifname: str, text: str) -> None:
    result = node.plugin("ADD", container_id=container_id, netns=node.new_pod(), ifname=ifname)
    assert result.output["code"] == 4
    assert text in result.output["msg"]


def test_missing_netns_variable(node: Node) -> None:
    result = node.plugin("ADD", container_id="c1", netns="")
    assert result.output["code"] == 4
    assert "CNI_NETNS" in result.output["msg"]


def test_unknown_command(node: Node) -> None:
    result = node.plugin("UPGRADE", container_id="c1")
    assert result.output["code"] == 4
    assert "UPGRADE" in result.output["msg"]


def test_error_version_matches_config(node: Node) -> None:
    config = {**plugin_config_json(node.config), "cniVersion": "0.4.0", "mtu": 1}
    result = node.plugin("ADD", container_id="c1", netns=node.new_pod(), config=config)
    assert result.output["cniVersion"] == "0.4.0"


def test_missing_subnet(node: Node) -> None:
    result = node.plugin("ADD", container_id="c1", netns=node.new_pod(), stdin='{"cniVersion": "1.0.0"}')
    assert result.output["code"] == 7
    assert "subnet" in result.output["msg"]
    assert "10.244.1.0/24" in result.output["details"]
