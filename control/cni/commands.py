"""The bridge network's CNI commands: ADD, DEL, CHECK, GC and STATUS.

ADD prepares the node (``node.prepare_node``), allocates an address,
creates the veth pair with the pod side born inside the pod's namespace,
and configures both sides. A failed ADD undoes what it created and frees
what it allocated.

DEL deletes the veth pair and frees the address, and succeeds when
either is already gone, because containerd 1.6 calls DEL twice (the
second time with no network namespace). The node-wide parts (bridge,
table, routes) stay, because other pods use them.

NOTE: IPv4 only. The plugin takes no runtimeConfig capabilities (port
mappings, bandwidth) and returns no DNS settings, which the runtime's
own resolv.conf handling covers.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address, IPv4Interface

from pykube_control.cni import links
from pykube_control.cni.config import NetworkConfig
from pykube_control.cni.errors import CHECK_FAILED, INVALID_CONFIG, NOT_AVAILABLE, UNKNOWN_CONTAINER, CNIError
from pykube_control.cni.ipam import IPAM, RECONCILE_MIN_AGE_SECONDS
from pykube_control.cni.logs import PluginLog
from pykube_control.cni.node import prepare_node
from pykube_control.cni.tools import find_tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from pykube_control.cni.spec import Environment, Result

log = PluginLog("pykube.cni")

REQUIRED_TOOLS = ("ip", "nsenter", "nft")


def add(env: Environment, config: NetworkConfig) -> Result:
    """Connect the pod's namespace to the node's bridge and return the CNI result."""
    env.require("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME")
    if not links.netns_exists(env.netns):
        raise CNIError(UNKNOWN_CONTAINER, f"network namespace {env.netns} not found", "the sandbox is gone; create a new one")
    bridge = prepare_node(config)

    ipam = IPAM.for_network(config)
    held = ipam.lookup(env.container_id, env.ifname)
    address = ipam.allocate(env.container_id, env.ifname, env.pod)
    host_name = links.host_veth_name(env.container_id, env.ifname)
    veth_created = False
    try:
        links.create_veth(host_name, env.ifname, env.netns, config.mtu, address)
        veth_created = True
        links.attach_to_bridge(host_name, config.bridge, hairpin=config.hairpin_mode)
        links.configure_pod(env.netns, env.ifname, IPv4Interface(f"{address}/{config.subnet.prefixlen}"), config.gateway)
    except BaseException:
        _undo_add(ipam, env, host_name, release=held is None, delete=veth_created)
        raise
    log.info("added container_id=%s pod=%s address=%s host_veth=%s", env.container_id, env.pod, address, host_name)
    return _result(env, config, address, bridge_mac=str(bridge.get("address", "")), host_name=host_name)


def _undo_add(ipam: IPAM, env: Environment, host_name: str, *, release: bool, delete: bool) -> None:
    # Undo only what this ADD made: an ADD repeated for a running pod
    # fails on the existing veth and must not take the pod's address.
    if delete:
        try:
            links.delete_link(host_name)
        except CNIError as exc:
            log.warning("failed to delete veth after a failed ADD host_veth=%s error=%s", host_name, exc)
    if release:
        ipam.release(env.container_id, env.ifname)


def _result(env: Environment, config: NetworkConfig, address: IPv4Address, *, bridge_mac: str, host_name: str) -> Result:
    return {
        "interfaces": [
            {"name": config.bridge, "mac": bridge_mac, "mtu": config.mtu},
            {"name": host_name, "mac": links.host_mac(address), "mtu": config.mtu},
            {"name": env.ifname, "mac": links.pod_mac(address), "sandbox": env.netns, "mtu": config.mtu},
        ],
        "ips": [{"address": f"{address}/{config.subnet.prefixlen}", "gateway": str(config.gateway), "interface": 2}],
        "routes": [{"dst": "0.0.0.0/0", "gw": str(config.gateway)}],
    }


def delete(env: Environment, config: NetworkConfig) -> None:
    """Delete the pod's veth pair and free its address; succeeds when they are already gone."""
    env.require("CNI_CONTAINERID", "CNI_IFNAME")
    deleted = False
    if links.netns_exists(env.netns):
        try:
            # Deleting the pod side deletes the host side too.
            deleted = links.delete_link(env.ifname, netns=env.netns)
        except CNIError as exc:
            log.warning("failed to delete pod interface, deleting the host side netns=%s ifname=%s error=%s", env.netns, env.ifname, exc)
    if not deleted:
        links.delete_link(links.host_veth_name(env.container_id, env.ifname))
    freed = IPAM.for_network(config).release(env.container_id, env.ifname)
    log.info("deleted container_id=%s freed=%s", env.container_id, ",".join(map(str, freed)) or "none")


def check(env: Environment, config: NetworkConfig, prev_result: Mapping[str, Any] | None) -> None:
    """Raise CNIError 103 unless the pod's network still matches ``prev_result``."""
    env.require("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME")
    if not isinstance(prev_result, dict):
        raise CNIError(INVALID_CONFIG, "missing prevResult in the network configuration", "CHECK needs the result of the ADD it checks")
    expected = _prev_address(prev_result)
    held = IPAM.for_network(config).lookup(env.container_id, env.ifname)
    if held != expected.ip:
        raise CNIError(CHECK_FAILED, f"IPAM allocated {held} to the container, but prevResult has {expected.ip}", "delete and re-add the pod network")
    if not links.netns_exists(env.netns):
        raise CNIError(UNKNOWN_CONTAINER, f"network namespace {env.netns} not found", "the sandbox is gone")
    if expected not in links.pod_addresses(env.netns, env.ifname):
        raise CNIError(CHECK_FAILED, f"interface {env.ifname} lacks address {expected}", "delete and re-add the pod network")
    if str(config.gateway) not in links.default_gateways(env.netns):
        raise CNIError(CHECK_FAILED, f"no default route via {config.gateway} in {env.netns}", "delete and re-add the pod network")
    host_name = links.host_veth_name(env.container_id, env.ifname)
    host = links.link_info(host_name)
    if host is None or host.get("master") != config.bridge:
        raise CNIError(CHECK_FAILED, f"host veth {host_name} is missing or not attached to bridge {config.bridge}", "delete and re-add the pod network")


def _prev_address(prev_result: Mapping[str, Any]) -> IPv4Interface:
    try:
        return IPv4Interface(prev_result["ips"][0]["address"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise CNIError(INVALID_CONFIG, "invalid prevResult: no IPv4 address in ips", "pass the result of the ADD") from None


def garbage_collect(config: NetworkConfig, raw: Mapping[str, Any], *, min_age: float = RECONCILE_MIN_AGE_SECONDS) -> None:
    """Free the addresses of every attachment the runtime does not list as valid (CNI 1.1 GC).

    The list is ``cni.dev/valid-attachments``, or ``cni.dev/attachments``,
    the name an earlier 1.1 draft used and libcni still sends as well.
    Allocations younger than ``min_age`` seconds survive, as in
    ``IPAM.reconcile``, in case an ADD runs while the runtime collects.
    """
    key = "cni.dev/valid-attachments" if "cni.dev/valid-attachments" in raw else "cni.dev/attachments"
    attachments = raw.get(key, [])
    if not isinstance(attachments, list) or not all(isinstance(a, dict) and isinstance(a.get("containerID"), str) for a in attachments):
        raise CNIError(INVALID_CONFIG, f"invalid network configuration field {key}", "use a list of {containerID, ifname} objects")
    freed = IPAM.for_network(config).reconcile([a["containerID"] for a in attachments], min_age=min_age)
    log.info("garbage collected freed=%s", ",".join(map(str, freed)) or "none")


def status(config: NetworkConfig) -> None:
    """Raise CNIError 50 unless the tools and the state directory that ADD needs are present (CNI 1.1 STATUS)."""
    for tool in REQUIRED_TOOLS:
        try:
            find_tool(tool)
        except CNIError as exc:
            raise CNIError(NOT_AVAILABLE, f"plugin not available: {exc.msg}", exc.details) from None
    parent = config.state_dir
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise CNIError(NOT_AVAILABLE, f"plugin not available: state directory {config.state_dir} is not writable", "fix its permissions")
    usage = os.statvfs(parent)
    if usage.f_bavail * usage.f_frsize == 0:
        raise CNIError(NOT_AVAILABLE, f"plugin not available: no space left under {parent}", "free disk space")
