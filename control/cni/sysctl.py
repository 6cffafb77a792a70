"""Kernel parameters the node's pod network needs, written only when the configuration requests them.

Writes go to /proc/sys/net, which shows the network namespace of the
writing process, so the plugin changes only the namespace it runs in.
"""

from __future__ import annotations

from pathlib import Path

from pykube_control.cni.errors import IO_FAILURE, CNIError

PROC_SYS = Path("/proc/sys")
IP_FORWARD = "net/ipv4/ip_forward"
BRIDGE_NF_CALL_IPTABLES = "net/bridge/bridge-nf-call-iptables"


def ensure_sysctl(key: str, value: str, *, fix: str = "") -> None:
    """Set the parameter (a path under /proc/sys) to ``value`` unless it already has it."""
    path = PROC_SYS / key
    try:
        if path.read_text().strip() == value:
            return
        path.write_text(value + "\n")
    except FileNotFoundError:
        raise CNIError(IO_FAILURE, f"kernel parameter {key.replace('/', '.')} not found", fix or "the kernel lacks it") from None
    except OSError as exc:
        raise CNIError(IO_FAILURE, f"failed to set kernel parameter {key.replace('/', '.')}={value}", str(exc)) from exc


def enable_ip_forward() -> None:
    ensure_sysctl(IP_FORWARD, "1")


def enable_bridge_nf_call() -> None:
    """Send bridged IPv4 through the ip family's netfilter hooks, so service DNAT applies to pod-to-pod traffic on one bridge."""
    ensure_sysctl(BRIDGE_NF_CALL_IPTABLES, "1", fix="load the br_netfilter kernel module, or set bridgeNfCall to false")
