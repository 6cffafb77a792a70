"""Links through iproute2: the node's bridge, a veth pair per pod, and the pod side's address and route.

Every change goes through the ``ip`` tool (iproute2, with ``-json`` for
reads) instead of a netlink library, so the plugin has no dependency
beyond the OS packages. Several changes to one namespace run as one
``ip -batch`` process, because each process start costs about a
millisecond. Commands for the pod run under ``nsenter --net=PATH``,
which accepts any namespace path, where ``ip -n`` accepts only names
under /var/run/netns.

The host side of a pod's veth is named ``veth`` plus 11 hex digits of
SHA-256 over the container id and interface name, so DEL finds it
without the pod's namespace, which may be gone. The pod side gets the
MAC ``0a:58`` followed by its IPv4 address, so a reused address keeps its
MAC and neighbours' ARP entries stay right. The host side gets ``0e:58``
and the same address, so ADD returns both MACs without reading them back.
"""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Address, IPv4Interface

from pykube_control.cni.errors import IP_COMMAND_FAILED, INVALID_CONFIG, CNIError
from pykube_control.cni.tools import find_tool, run_tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import sha256
    from typing import Any
else:
    try:
        # CPython's built-in SHA-256: the same digest as hashlib's, without
        # loading OpenSSL, which costs the plugin about 3 ms per start.
        from _sha256 import sha256
    except ImportError:  # another Python implementation
        from hashlib import sha256

HOST_VETH_PREFIX = "veth"
# Missing links make iproute2 6.1 print one of these.
_NOT_FOUND_MESSAGES = ("does not exist", "Cannot find device")


def run_ip(args: list[str], *, netns: str = "", stdin: str | None = None, check: bool = True) -> tuple[int, str, str]:
    """Run ``ip ARGS`` in the current namespace, or in ``netns`` (a path) when set.

    Returns (exit status, stdout, stderr). With ``check`` a non-zero exit raises CNIError 100.
    """
    argv = ["nsenter", f"--net={netns}", find_tool("ip"), *args] if netns else ["ip", *args]
    completed = run_tool(argv, code=IP_COMMAND_FAILED, stdin=stdin, check=check)
    return completed.returncode, completed.stdout, completed.stderr


def run_batch(commands: list[str], *, netns: str = "") -> None:
    """Run ``ip`` commands (without the leading ``ip``) as one batch; the first failure raises CNIError 100."""
    run_ip(["-batch", "-"], netns=netns, stdin="\n".join(commands) + "\n")


def link_info(name: str, *, netns: str = "") -> dict[str, Any] | None:
    """Return the ``ip -details -json`` record of the link, or None when it does not exist."""
    status, out, err = run_ip(["-details", "-json", "link", "show", "dev", name], netns=netns, check=False)
    if status != 0:
        if any(message in err for message in _NOT_FOUND_MESSAGES):
            return None
        raise CNIError(IP_COMMAND_FAILED, f"failed to read link {name}", err.strip())
    records: list[dict[str, Any]] = json.loads(out)
    return records[0]


def link_kind(info: dict[str, Any]) -> str:
    return str(info.get("linkinfo", {}).get("info_kind", ""))


def host_veth_name(container_id: str, ifname: str) -> str:
    """Name the host side of the pod's veth (15 characters, the Linux maximum)."""
    digest = sha256(f"{container_id}/{ifname}".encode()).hexdigest()
    return HOST_VETH_PREFIX + digest[:11]


def pod_mac(address: IPv4Address) -> str:
    """Return the pod side's MAC: locally administered ``0a:58`` and the four address bytes."""
    return ":".join(f"{byte:02x}" for byte in (0x0A, 0x58, *address.packed))


def host_mac(address: IPv4Address) -> str:
    """Return the host side's MAC: locally administered ``0e:58`` and the pod's four address bytes."""
    return ":".join(f"{byte:02x}" for byte in (0x0E, 0x58, *address.packed))


def ensure_bridge(name: str, gateway: IPv4Interface, mtu: int) -> dict[str, Any]:
    """Create the bridge if missing, give it the gateway address, set it up; return its link record.

    A new bridge gets the MAC ``pod_mac(gateway)``, because a bridge
    without a set MAC takes the lowest MAC of its ports and changes it as
    pods come and go. Several plugin processes may race to create it, so
    "File exists" counts as success. A bridge that is up with the gateway
    address costs one ``ip`` process, the common case on a running node.
    """
    info = bridge_info(name)
    if info is not None and "UP" in info.get("flags", []) and _has_address(info, gateway):
        return info
    if info is None:
        command = ["link", "add", "name", name, "address", pod_mac(gateway.ip), "mtu", str(mtu), "type", "bridge"]
        status, _, err = run_ip(command, check=False)
        if status != 0 and "File exists" not in err:
            raise CNIError(IP_COMMAND_FAILED, f"failed to create bridge {name}", err.strip())
    run_batch([f"address replace {gateway} dev {name}", f"link set dev {name} up"])
    created = bridge_info(name)
    if created is None:
        raise CNIError(IP_COMMAND_FAILED, f"bridge {name} disappeared while it was set up", "another process deleted it; retry")
    return created


def bridge_info(name: str) -> dict[str, Any] | None:
    """Return the bridge's ``ip -details -json address show`` record (link and addresses), or None when missing."""
    status, out, err = run_ip(["-details", "-json", "address", "show", "dev", name], check=False)
    if status != 0:
        if any(message in err for message in _NOT_FOUND_MESSAGES):
            return None
        raise CNIError(IP_COMMAND_FAILED, f"failed to read bridge {name}", err.strip())
    records: list[dict[str, Any]] = json.loads(out)
    if link_kind(records[0]) != "bridge":
        kind = link_kind(records[0]) or "non-bridge"
        raise CNIError(INVALID_CONFIG, f"invalid network configuration field bridge={name!r}", f"a {kind} link has that name; choose another bridge name")
    return records[0]


def _has_address(info: dict[str, Any], address: IPv4Interface) -> bool:
    return any(
        entry.get("local") == str(address.ip) and entry.get("prefixlen") == address.network.prefixlen
        for entry in info.get("addr_info", [])
    )


def create_veth(host_name: str, ifname: str, netns: str, mtu: int, address: IPv4Address) -> None:
    """Create a veth pair whose peer ``ifname`` is born inside ``netns``; both MACs derive from the pod's address."""
    status, _, err = run_ip(
        [
            "link", "add", host_name, "address", host_mac(address), "mtu", str(mtu), "type", "veth",
            "peer", "name", ifname, "address", pod_mac(address), "mtu", str(mtu), "netns", netns,
        ],
        check=False,
    )  # fmt: skip
    if status != 0:
        raise CNIError(IP_COMMAND_FAILED, f"failed to create veth pair {host_name}/{ifname} into {netns}", err.strip())


def attach_to_bridge(host_name: str, bridge: str, *, hairpin: bool) -> None:
    """Attach the host side to the bridge and set it up; hairpin lets a pod reach itself through a service."""
    commands = [f"link set dev {host_name} master {bridge}"]
    if hairpin:
        commands.append(f"link set dev {host_name} type bridge_slave hairpin on")
    commands.append(f"link set dev {host_name} up")
    run_batch(commands)


def configure_pod(netns: str, ifname: str, address: IPv4Interface, gateway: IPv4Address) -> None:
    """Give the pod side its address, set it up, and route everything via the gateway."""
    run_batch(
        [f"address add {address} dev {ifname}", f"link set dev {ifname} up", f"route add default via {gateway} dev {ifname}"],
        netns=netns,
    )


def delete_link(name: str, *, netns: str = "") -> bool:
    """Delete the link; returns False when it did not exist. Deleting one end of a veth deletes both."""
    status, _, err = run_ip(["link", "delete", "dev", name], netns=netns, check=False)
    if status == 0:
        return True
    if any(message in err for message in _NOT_FOUND_MESSAGES):
        return False
    raise CNIError(IP_COMMAND_FAILED, f"failed to delete link {name}" + (f" in {netns}" if netns else ""), err.strip())


def pod_addresses(netns: str, ifname: str) -> list[IPv4Interface]:
    """Return the IPv4 addresses on the pod's interface; raise CNIError 100 when it is missing."""
    _, out, _ = run_ip(["-json", "address", "show", "dev", ifname], netns=netns)
    addresses = []
    for record in json.loads(out):
        for entry in record.get("addr_info", []):
            if entry.get("family") == "inet":
                addresses.append(IPv4Interface(f"{entry['local']}/{entry['prefixlen']}"))
    return addresses


def default_gateways(netns: str) -> list[str]:
    """Return the gateways of the default routes in the namespace."""
    _, out, _ = run_ip(["-json", "route", "show", "default"], netns=netns)
    return [str(route.get("gateway", "")) for route in json.loads(out)]


def netns_exists(path: str) -> bool:
    return bool(path) and os.path.exists(path)
