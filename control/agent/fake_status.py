"""The objects a hollow node writes: its Node, its Lease, and the status of a pod it "runs".

They are built here as plain wire objects, separate from the loops in
fake.py that write them, so their shape can be read and tested on its own.
The values follow what a kubelet reports, with fake identities: an
InternalIP from 172.16.0.0/12 per node, and a /24 pod range per node
inside 10.128.0.0/9.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Mapping
from typing import Any

from pykube_core import component_version

Object = dict[str, Any]

NODE_ADDRESS_RANGE = ipaddress.IPv4Network("172.16.0.0/12")
POD_ADDRESS_RANGE = ipaddress.IPv4Network("10.128.0.0/9")
POD_SUBNET_PREFIX = 24
MAX_NODES = 2 ** (POD_SUBNET_PREFIX - POD_ADDRESS_RANGE.prefixlen)
"""Hollow nodes one FakeNodes can address: one /24 pod range each (32768)."""
KUBELET_VERSION = component_version()
CONTAINER_RUNTIME = "fake://0.1.0"


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_address(index: int) -> str:
    """Return the InternalIP of the index-th hollow node."""
    return str(NODE_ADDRESS_RANGE[index + 1])


def pod_subnet(index: int) -> ipaddress.IPv4Network:
    """Return the pod range (a /24) of the index-th hollow node."""
    if not 0 <= index < MAX_NODES:
        raise ValueError(f"hollow node index {index} is out of range; at most {MAX_NODES} nodes have a pod range")
    base = int(POD_ADDRESS_RANGE.network_address) + index * 2 ** (32 - POD_SUBNET_PREFIX)
    return ipaddress.IPv4Network((base, POD_SUBNET_PREFIX))


def node_object(
    name: str, index: int, *, cpu: str, memory: str, pods: int, labels: Mapping[str, str]
) -> Object:
    """Return the Node a hollow node registers: labels, pod CIDR and its status."""
    all_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **labels,
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels},
        "spec": {"podCIDR": str(pod_subnet(index)), "podCIDRs": [str(pod_subnet(index))]},
        "status": node_status(name, index, cpu=cpu, memory=memory, pods=pods),
    }


def node_status(name: str, index: int, *, cpu: str, memory: str, pods: int) -> Object:
    """Return a Ready node's status with capacity equal to allocatable."""
    now = rfc3339(utc_now())
    resources = {"cpu": cpu, "memory": memory, "pods": str(pods), "ephemeral-storage": "100Gi"}
    healthy = [
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    conditions = [
        {"type": kind, "status": "False", "reason": reason, "message": message,
         "lastHeartbeatTime": now, "lastTransitionTime": now}
        for kind, reason, message in healthy
    ]  # fmt: skip
    conditions.append({
        "type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now,
    })  # fmt: skip
    return {
        "capacity": dict(resources),
        "allocatable": dict(resources),
        "conditions": conditions,
        "addresses": [
            {"type": "InternalIP", "address": node_address(index)},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": f"{index:032x}",
            "systemUUID": f"00000000-0000-0000-0000-{index:012x}",
            "bootID": f"fake-boot-{index}",
            "kernelVersion": "6.1.0-fake",
            "osImage": "pykube hollow node",
            "containerRuntimeVersion": CONTAINER_RUNTIME,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def lease_object(node_name: str, namespace: str, duration_seconds: int) -> Object:
    """Return a node's heartbeat Lease in kube-node-lease, renewed now."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": node_name, "namespace": namespace},
        "spec": {
            "holderIdentity": node_name,
            "leaseDurationSeconds": duration_seconds,
            "renewTime": micro_time(utc_now()),
        },
    }


def running_pod_status(pod: Object, host_ip: str, pod_ip: str) -> Object:
    """Return the status of a pod whose containers all started and are ready."""
    now = rfc3339(utc_now())
    start_time = (pod.get("status") or {}).get("startTime") or now
    uid = (pod.get("metadata") or {}).get("uid", "")
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = [
        {
            "name": container.get("name", ""),
            "image": container.get("image", ""),
            "imageID": f"fake://{container.get('image', '')}",
            "containerID": f"fake://{uid}-{container.get('name', '')}",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": now}},
        }
        for container in containers
    ]
    condition_types = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
    status: Object = {
        "phase": "Running",
        "conditions": [
            {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
            for kind in condition_types
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": start_time,
        "containerStatuses": statuses,
    }
    qos_class = (pod.get("status") or {}).get("qosClass")
    if qos_class:
        status["qosClass"] = qos_class
    return status
