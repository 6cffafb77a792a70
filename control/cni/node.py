"""The node-wide parts of the pod network: sysctls, the bridge, the masquerade table and host-gw routes.

``prepare_node`` runs on every ADD and is cheap when everything exists.
``cleanup_node`` removes these parts when a node leaves the cluster or a
test ends. Pods' veths and addresses are not touched, since DEL and
``IPAM.reconcile`` own them, and sysctls stay as they are.
"""

from __future__ import annotations

from ipaddress import IPv4Interface

from pykube_control.cni import links, masquerade, routes, sysctl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pykube_control.cni.config import NetworkConfig


def prepare_node(config: NetworkConfig) -> dict[str, Any]:
    """Set up the node-wide parts every pod needs; returns the bridge's link record. Safe to repeat and to race."""
    if config.ip_forward:
        sysctl.enable_ip_forward()
    if config.bridge_nf_call:
        sysctl.enable_bridge_nf_call()
    bridge = links.ensure_bridge(config.bridge, IPv4Interface(f"{config.gateway}/{config.subnet.prefixlen}"), config.mtu)
    if config.masquerade:
        masquerade.ensure_masquerade(config.nft_table, config.subnet, config.cluster_cidr)
    routes.add_missing_routes(config.node_routes)
    return bridge


def cleanup_node(config: NetworkConfig) -> None:
    """Delete the bridge, the masquerade table and the host-gw routes in the current network namespace.

    Pods still attached lose their connectivity, so call it only when the node stops running pods.
    """
    routes.sync_routes({})
    masquerade.cleanup(config.nft_table)
    links.delete_link(config.bridge)
