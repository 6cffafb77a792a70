"""NetworkConfig: parsing the plugin's configuration, its checks, and the conflist it writes."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest

from pykube_control.cni.config import NetworkConfig
from pykube_control.cni.errors import CNIError

VALID: dict[str, Any] = {"cniVersion": "1.0.0", "name": "pykube", "type": "pykube-cni", "subnet": "10.244.1.0/24", "clusterCIDR": "10.244.0.0/16"}


def test_defaults() -> None:
    config = NetworkConfig.from_json(VALID)
    assert config.bridge == "pykube0"
    assert config.gateway == IPv4Address("10.244.1.1")
    assert config.mtu == 1500
    assert config.state_dir == Path("/var/lib/pykube/cni")
    assert config.nft_table == "pykube_cni"
    assert config.masquerade is True
    assert config.ip_forward is False


def test_round_trip() -> None:
    config = NetworkConfig(
        subnet=IPv4Network("10.244.1.0/24"),
        cluster_cidr=IPv4Network("10.244.0.0/16"),
        mtu=1450,
        node_routes={IPv4Network("10.244.2.0/24"): IPv4Address("192.168.1.12")},
        state_dir=Path("/tmp/state"),
        ip_forward=True,
    )
    conflist = config.conflist_json()
    plugin = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **conflist["plugins"][0]}
    assert NetworkConfig.from_json(plugin) == config


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        pytest.param({"subnet": None}, 7, "subnet", id="missing subnet"),
        pytest.param({"subnet": "10.244.1.5/24"}, 7, "subnet", id="host bits set"),
        pytest.param({"subnet": "10.244.1.0/31"}, 7, "subnet", id="subnet too small"),
        pytest.param({"subnet": "10.99.0.0/24"}, 7, "subnet", id="subnet outside cluster"),
        pytest.param({"subnet": "fd00::/64"}, 2, "subnet", id="ipv6 subnet"),
        pytest.param({"clusterCIDR": 5}, 7, "clusterCIDR", id="cluster cidr not a string"),
        pytest.param({"mtu": 20}, 7, "mtu", id="mtu too small"),
        pytest.param({"mtu": True}, 7, "mtu", id="mtu boolean"),
        pytest.param({"bridge": "a-bridge-name-too-long"}, 7, "bridge", id="bridge name too long"),
        pytest.param({"bridge": "br/0"}, 7, "bridge", id="bridge name with slash"),
        pytest.param({"stateDir": "relative/dir"}, 7, "stateDir", id="relative state dir"),
        pytest.param({"nftTable": "bad-name"}, 7, "nftTable", id="nft table with hyphen"),
        pytest.param({"masquerade": "yes"}, 7, "masquerade", id="masquerade not boolean"),
        pytest.param({"nodeRoutes": ["10.244.2.0/24"]}, 7, "nodeRoutes", id="node routes not an object"),
        pytest.param({"nodeRoutes": {"10.244.2.0/24": "node-b"}}, 7, "nodeRoutes", id="route gateway not an address"),
        pytest.param({"nodeRoutes": {"10.244.1.0/25": "192.168.1.2"}}, 7, "nodeRoutes", id="route overlaps own subnet"),
        pytest.param({"nodeRoutes": {"10.244.2.0/24": 3232235778}}, 7, "nodeRoutes", id="route gateway an integer"),
    ],
)
def test_invalid_field(change: dict[str, Any], code: int, field: str) -> None:
    raw = {**VALID, **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(CNIError) as raised:
        NetworkConfig.from_json(raw)
    assert raised.value.code == code
    assert field in raised.value.msg
    assert raised.value.details
