"""The Node object a real node agent registers and the status it keeps current.

The object is built from plain values (``NodeIdentity`` plus the resources
of node_info.py) so that its shape can be tested without a machine or a
runtime. The agent writes the status through the status subresource at
registration, whenever the Ready condition changes, and every
``NODE_STATUS_INTERVAL`` seconds otherwise. The Lease (lease.py) is the
frequent heartbeat.

Differences from a kubelet: the pressure conditions are always False,
because the agent does not evict pods; images and volumesInUse are not
reported.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
from collections.abc import Mapping
from typing import Any

from pykube_core import component_version
from pykube_control.agent.fake_status import rfc3339, utc_now
from pykube_control.agent.node_info import NodeResources

Object = dict[str, Any]

AGENT_VERSION = component_version()
"""kubeletVersion and kubeProxyVersion in the Node's status: the API server's version, as the version skew policy requires."""
NODE_STATUS_INTERVAL = 60.0
"""Seconds between Node status writes when nothing changed; the Lease carries the heartbeat meanwhile."""
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclasses.dataclass(frozen=True, slots=True)
class NodeIdentity:
    """The name and addresses of a node: ``node_ip`` is its InternalIP, ``port`` the agent's HTTPS port."""

    name: str
    node_ip: str
    hostname: str = dataclasses.field(default_factory=socket.gethostname)
    port: int = 10250
    runtime_version: str = "containerd://unknown"
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


def architecture() -> str:
    """Return the machine's architecture with Go's names, as kubernetes.io/arch uses them."""
    machine = platform.machine()
    return _ARCHITECTURES.get(machine, machine)


def node_labels(identity: NodeIdentity) -> dict[str, str]:
    """Return the well-known labels of the node, then the ones given by flags (which may override them)."""
    return {
        "kubernetes.io/hostname": identity.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": architecture(),
        **identity.labels,
    }


def node_object(
    identity: NodeIdentity,
    capacity: NodeResources,
    allocatable: NodeResources,
    *,
    pod_cidr: str | None,
    ready: bool,
    ready_message: str,
) -> Object:
    """Return the Node to create; ``pod_cidr`` None leaves spec.podCIDR to the node IPAM controller."""
    spec: Object = {}
    if pod_cidr:
        spec = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": identity.name, "labels": node_labels(identity)},
        "spec": spec,
        "status": node_status(identity, capacity, allocatable, ready=ready, ready_message=ready_message),
    }


def node_status(
    identity: NodeIdentity,
    capacity: NodeResources,
    allocatable: NodeResources,
    *,
    ready: bool,
    ready_message: str,
    previous: Object | None = None,
) -> Object:
    """Return the Node status; ``previous`` (the current status) keeps transition times of unchanged conditions."""
    return {
        "capacity": capacity.resource_list(),
        "allocatable": allocatable.resource_list(),
        "conditions": node_conditions(ready=ready, ready_message=ready_message, previous=previous),
        "addresses": [
            {"type": "InternalIP", "address": identity.node_ip},
            {"type": "Hostname", "address": identity.hostname},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": identity.port}},
        "nodeInfo": _node_info(identity),
    }


def node_conditions(*, ready: bool, ready_message: str, previous: Object | None = None) -> list[Object]:
    """Return the Ready condition and the three pressure conditions, heartbeat now."""
    now = rfc3339(utc_now())
    old = {
        condition.get("type"): condition
        for condition in ((previous or {}).get("conditions") or [])
        if isinstance(condition, dict)
    }
    wanted = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True" if ready else "False", "KubeletReady" if ready else "KubeletNotReady", ready_message),
    ]
    conditions = []
    for kind, status, reason, message in wanted:
        before = old.get(kind) or {}
        transition = before.get("lastTransitionTime") if before.get("status") == status else None
        conditions.append({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": transition or now,
        })  # fmt: skip
    return conditions


def is_ready(node: Object) -> bool:
    """Return True when the Node's Ready condition is True."""
    for condition in (node.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _node_info(identity: NodeIdentity) -> Object:
    return {
        "machineID": _read_id("/etc/machine-id"),
        "systemUUID": _read_id("/sys/class/dmi/id/product_uuid"),
        "bootID": _read_id("/proc/sys/kernel/random/boot_id"),
        "kernelVersion": platform.release(),
        "osImage": _os_image(),
        "containerRuntimeVersion": identity.runtime_version,
        "kubeletVersion": AGENT_VERSION,
        "kubeProxyVersion": AGENT_VERSION,
        "operatingSystem": "linux",
        "architecture": architecture(),
    }


def _read_id(path: str) -> str:
    try:
        with open(path, encoding="ascii") as source:
            return source.read().strip()
    except OSError:
        return ""


def _os_image() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as release:
            for line in release:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{platform.system()} {os.uname().release}"
