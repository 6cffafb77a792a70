"""Tests of the node's registration objects and its Lease heartbeat against a real API server."""

from __future__ import annotations

from pykube_control.agent.lease import LEASE_NAMESPACE, LeaseRenewer
from pykube_control.agent.node_info import NodeResources
from pykube_control.agent.node_status import NodeIdentity, is_ready, node_object, node_status
from pykube_control.client.api import APIClient
from pykube_control.client.resource import LEASES, NAMESPACES, NODES

GI = 1024**3
CAPACITY = NodeResources(cpu=2000, memory=4 * GI, ephemeral_storage=20 * GI, pods=110)
ALLOCATABLE = CAPACITY.minus({"cpu": 500})
IDENTITY = NodeIdentity(name="node-a", node_ip="192.0.2.1", hostname="host-a", labels={"zone": "z1"})


async def ensure_lease_namespace(client: APIClient) -> None:
    namespaces = {item["metadata"]["name"] for item in (await client.list(NAMESPACES))["items"]}
    if LEASE_NAMESPACE not in namespaces:
        await client.create(NAMESPACES, {"metadata": {"name": LEASE_NAMESPACE}})


async def test_lease_created_then_renewed(client: APIClient) -> None:
    await ensure_lease_namespace(client)
    renewer = LeaseRenewer(client, "node-a", interval=1.0)
    assert await renewer.renew()
    first = await client.get(LEASES, "node-a", namespace=LEASE_NAMESPACE)
    assert await renewer.renew()
    second = await client.get(LEASES, "node-a", namespace=LEASE_NAMESPACE)
    assert first["spec"]["holderIdentity"] == "node-a"
    assert second["spec"]["renewTime"] >= first["spec"]["renewTime"]
    assert second["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]


async def test_lease_recreated_after_delete(client: APIClient) -> None:
    await ensure_lease_namespace(client)
    renewer = LeaseRenewer(client, "node-a", interval=1.0)
    await renewer.renew()
    await client.delete(LEASES, "node-a", namespace=LEASE_NAMESPACE)
    assert not await renewer.renew()
    assert await renewer.renew()
    assert (await client.get(LEASES, "node-a", namespace=LEASE_NAMESPACE))["spec"]["holderIdentity"] == "node-a"


async def test_node_object_accepted(client: APIClient) -> None:
    node = node_object(IDENTITY, CAPACITY, ALLOCATABLE, pod_cidr="10.244.3.0/24", ready=True, ready_message="ok")
    created = await client.create(NODES, node)
    created["status"] = node["status"]
    stored = await client.update_status(NODES, created)
    labels = stored["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "node-a"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["zone"] == "z1"
    assert stored["spec"]["podCIDR"] == "10.244.3.0/24"
    assert stored["status"]["allocatable"]["cpu"] == "1500m"
    assert stored["status"]["capacity"]["pods"] == "110"
    assert {"type": "InternalIP", "address": "192.0.2.1"} in stored["status"]["addresses"]
    assert is_ready(stored)


def test_node_status_keeps_transition_time() -> None:
    before = node_status(IDENTITY, CAPACITY, ALLOCATABLE, ready=True, ready_message="ok")
    for condition in before["conditions"]:
        condition["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    after = node_status(IDENTITY, CAPACITY, ALLOCATABLE, ready=False, ready_message="runtime down", previous=before)
    times = {c["type"]: c["lastTransitionTime"] for c in after["conditions"]}
    assert times["MemoryPressure"] == "2020-01-01T00:00:00Z"
    assert times["Ready"] != "2020-01-01T00:00:00Z"
