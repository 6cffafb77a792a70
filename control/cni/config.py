"""The network configuration: ``NetworkConfig``, parsed from the plugin's stdin and written into the conflist.

The JSON keys are camelCase as in every CNI configuration. The plugin
entry in ``10-pykube.conflist`` looks like::

    {"type": "pykube-cni", "bridge": "pykube0", "subnet": "10.244.1.0/24",
     "clusterCIDR": "10.244.0.0/16", "mtu": 1500,
     "nodeRoutes": {"10.244.2.0/24": "192.168.1.12"},
     "stateDir": "/var/lib/pykube/cni", "masquerade": true,
     "nftTable": "pykube_cni", "hairpinMode": true,
     "ipForward": false, "bridgeNfCall": false}

``subnet`` is the node's podCIDR and ``nodeRoutes`` maps every other
node's podCIDR to that node's IP (host-gw routing). The gateway is the
subnet's first host address and belongs to the bridge. Every field is
checked on construction, and an invalid one raises error 7 (or 2 for an
IPv6 range, which the plugin does not support) naming the field and the fix.
"""

from __future__ import annotations

import ipaddress
import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from pykube_control.cni.errors import INVALID_CONFIG, UNSUPPORTED_FIELD, CNIError, invalid_config
from pykube_control.cni.spec import CURRENT_VERSION, check_ifname

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

PLUGIN_TYPE = "pykube-cni"
DEFAULT_NETWORK_NAME = "pykube"
DEFAULT_BRIDGE = "pykube0"
DEFAULT_STATE_DIR = Path("/var/lib/pykube/cni")
DEFAULT_NFT_TABLE = "pykube_cni"
DEFAULT_MTU = 1500
# 68 is the IPv4 minimum MTU (RFC 791), 65535 the largest a veth accepts.
MIN_MTU = 68
MAX_MTU = 65535
# A /30 has one address for the gateway and one for a pod.
MAX_PREFIX_LENGTH = 30
_NFT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class NetworkConfig:
    """The configuration of one node's pod network; treat it as immutable and use ``replace`` for a changed copy.

    A plain class rather than a dataclass, because importing dataclasses
    costs the plugin about 9 ms per start.
    """

    __slots__ = (
        "subnet", "cluster_cidr", "name", "bridge", "mtu", "node_routes", "state_dir",
        "masquerade", "nft_table", "hairpin_mode", "ip_forward", "bridge_nf_call", "cni_version",
    )  # fmt: skip

    def __init__(
        self,
        subnet: IPv4Network,
        cluster_cidr: IPv4Network,
        *,
        name: str = DEFAULT_NETWORK_NAME,
        bridge: str = DEFAULT_BRIDGE,
        mtu: int = DEFAULT_MTU,
        node_routes: Mapping[IPv4Network, IPv4Address] | None = None,
        state_dir: Path = DEFAULT_STATE_DIR,
        masquerade: bool = True,
        nft_table: str = DEFAULT_NFT_TABLE,
        hairpin_mode: bool = True,
        ip_forward: bool = False,
        bridge_nf_call: bool = False,
        cni_version: str = CURRENT_VERSION,
    ) -> None:
        self.subnet = subnet
        self.cluster_cidr = cluster_cidr
        self.name = name
        self.bridge = bridge
        self.mtu = mtu
        self.node_routes: Mapping[IPv4Network, IPv4Address] = dict(node_routes or {})
        self.state_dir = state_dir
        self.masquerade = masquerade
        self.nft_table = nft_table
        self.hairpin_mode = hairpin_mode
        self.ip_forward = ip_forward
        self.bridge_nf_call = bridge_nf_call
        self.cni_version = cni_version
        self._validate()

    def replace(self, **changes: Any) -> NetworkConfig:
        """Return a copy with ``changes`` applied, checked like a new configuration."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"NetworkConfig has no field {', '.join(sorted(unknown))}")
        fields.update(changes)
        subnet, cluster_cidr = fields.pop("subnet"), fields.pop("cluster_cidr")
        return NetworkConfig(subnet, cluster_cidr, **fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NetworkConfig):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"NetworkConfig({fields})"

    def _validate(self) -> None:
        if self.subnet.prefixlen > MAX_PREFIX_LENGTH:
            raise invalid_config("subnet", str(self.subnet), f"use a prefix of /{MAX_PREFIX_LENGTH} or shorter")
        if not self.subnet.subnet_of(self.cluster_cidr):
            raise invalid_config("subnet", str(self.subnet), f"use a subnet inside clusterCIDR {self.cluster_cidr}")
        if not self.name or "/" in self.name:
            raise invalid_config("name", self.name, "use a non-empty network name without '/'")
        check_ifname("bridge", self.bridge, INVALID_CONFIG)
        if not MIN_MTU <= self.mtu <= MAX_MTU:
            raise invalid_config("mtu", self.mtu, f"use an MTU from {MIN_MTU} to {MAX_MTU}")
        if not self.state_dir.is_absolute():
            raise invalid_config("stateDir", str(self.state_dir), "use an absolute path")
        if not _NFT_NAME.match(self.nft_table):
            raise invalid_config("nftTable", self.nft_table, "use a letter, then up to 63 letters, digits or '_'")
        for cidr, gateway in self.node_routes.items():
            if cidr.overlaps(self.subnet):
                raise invalid_config("nodeRoutes", str(cidr), f"remove the route: it overlaps this node's subnet {self.subnet}")
            if gateway in self.subnet:
                raise invalid_config("nodeRoutes", str(gateway), "use the other node's own IP as gateway, not a pod address")

    @property
    def gateway(self) -> IPv4Address:
        """The bridge's address and the pods' default gateway: the subnet's first host address."""
        return self.subnet.network_address + 1

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> NetworkConfig:
        """Parse the plugin configuration object that the runtime passes on stdin."""
        return cls(
            subnet=_network(raw, "subnet", None),
            cluster_cidr=_network(raw, "clusterCIDR", None),
            name=_typed(raw, "name", str, DEFAULT_NETWORK_NAME),
            bridge=_typed(raw, "bridge", str, DEFAULT_BRIDGE),
            mtu=_typed(raw, "mtu", int, DEFAULT_MTU),
            node_routes=_node_routes(raw),
            state_dir=Path(_typed(raw, "stateDir", str, str(DEFAULT_STATE_DIR))),
            masquerade=_typed(raw, "masquerade", bool, True),
            nft_table=_typed(raw, "nftTable", str, DEFAULT_NFT_TABLE),
            hairpin_mode=_typed(raw, "hairpinMode", bool, True),
            ip_forward=_typed(raw, "ipForward", bool, False),
            bridge_nf_call=_typed(raw, "bridgeNfCall", bool, False),
            cni_version=_typed(raw, "cniVersion", str, CURRENT_VERSION),
        )

    def plugin_json(self) -> dict[str, Any]:
        """Build the plugin entry of the conflist; ``from_json`` parses it back to an equal config."""
        return {
            "type": PLUGIN_TYPE,
            "bridge": self.bridge,
            "subnet": str(self.subnet),
            "clusterCIDR": str(self.cluster_cidr),
            "mtu": self.mtu,
            "nodeRoutes": {str(cidr): str(gateway) for cidr, gateway in self.node_routes.items()},
            "stateDir": str(self.state_dir),
            "masquerade": self.masquerade,
            "nftTable": self.nft_table,
            "hairpinMode": self.hairpin_mode,
            "ipForward": self.ip_forward,
            "bridgeNfCall": self.bridge_nf_call,
        }

    def conflist_json(self) -> dict[str, Any]:
        """Build the network configuration list that containerd loads from its conf dir."""
        return {"cniVersion": self.cni_version, "name": self.name, "plugins": [self.plugin_json()]}


def _typed(raw: Mapping[str, Any], key: str, kind: type[Any], default: Any) -> Any:
    value = raw.get(key, default)
    # bool is a subclass of int, so an int field must reject true/false explicitly.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise invalid_config(key, value, f"use a JSON {'string' if kind is str else kind.__name__}")
    return value


def _network(raw: Mapping[str, Any], key: str, default: str | None) -> IPv4Network:
    value = raw.get(key, default)
    if value is None:
        raise invalid_config(key, None, "set it to an IPv4 CIDR such as 10.244.1.0/24")
    if not isinstance(value, str):
        raise invalid_config(key, value, "use a string IPv4 CIDR such as 10.244.1.0/24")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise invalid_config(key, value, f"use an IPv4 CIDR with no host bits set ({exc})") from None
    if not isinstance(network, IPv4Network):
        raise CNIError(UNSUPPORTED_FIELD, f"unsupported network configuration field {key}={value!r}", "only IPv4 ranges are supported")
    return network


def _node_routes(raw: Mapping[str, Any]) -> dict[IPv4Network, IPv4Address]:
    value = raw.get("nodeRoutes", {})
    if not isinstance(value, dict):
        raise invalid_config("nodeRoutes", value, "use an object mapping each node's podCIDR to that node's IP")
    routes: dict[IPv4Network, IPv4Address] = {}
    for cidr, gateway in value.items():
        network = _network({"nodeRoutes": cidr}, "nodeRoutes", None)
        try:
            if not isinstance(gateway, str):
                raise ValueError(gateway)
            routes[network] = IPv4Address(gateway)
        except ValueError:
            raise invalid_config("nodeRoutes", gateway, f"use the IPv4 address of the node that owns {cidr}") from None
    return routes
