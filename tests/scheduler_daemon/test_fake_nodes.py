"""Hollow nodes: their Node objects, Leases, and the kubelet's final delete."""

from __future__ import annotations

from pykube_control.agent.fake import LEASE_NAMESPACE, FakeNodes
from pykube_control.apiserver.server import version_info
from pykube_control.client.api import APIClient
from pykube_control.client.errors import NotFound
from pykube_control.client.resource import LEASES, NODES, PODS
from pykube_control.scheduler.daemon import SchedulerDaemon
from tests.scheduler_daemon.conftest import get_pod, make_pod, wait_until


async def test_node_registered(client: APIClient, nodes: FakeNodes) -> None:
    node = await client.get(NODES, "fake-node-0")
    status = node["status"]
    assert status["allocatable"]["cpu"] == "4"
    assert status["capacity"]["memory"] == "16Gi"
    assert status["allocatable"]["pods"] == "110"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert {"type": "InternalIP", "address": "172.16.0.1"} in status["addresses"]
    assert status["nodeInfo"]["kubeletVersion"].startswith("v1.")
    assert node["metadata"]["labels"]["disk"] == "ssd"
    assert node["spec"]["podCIDR"] == "10.128.0.0/24"


async def test_kubelet_version_matches_server(client: APIClient, nodes: FakeNodes) -> None:
    node = await client.get(NODES, "fake-node-0")

    # The version skew policy forbids a kubelet newer than its API server; pykube reports one version.
    assert node["status"]["nodeInfo"]["kubeletVersion"] == version_info()["gitVersion"]


async def test_node_count(client: APIClient, nodes: FakeNodes) -> None:
    listed = (await client.list(NODES)).get("items") or []
    assert len(listed) == 20


async def test_lease_renewed(client: APIClient, nodes: FakeNodes) -> None:
    first = await client.get(LEASES, "fake-node-3", namespace=LEASE_NAMESPACE)
    assert first["spec"]["holderIdentity"] == "fake-node-3"

    async def renewed() -> bool:
        lease = await client.get(LEASES, "fake-node-3", namespace=LEASE_NAMESPACE)
        return bool(lease["spec"]["renewTime"] != first["spec"]["renewTime"])

    await wait_until(renewed, timeout=10.0, what="the Lease of fake-node-3 renewed")


async def test_graceful_delete_finished(client: APIClient, nodes: FakeNodes, scheduler: SchedulerDaemon) -> None:
    await client.create(PODS, make_pod("doomed"))

    async def running() -> bool:
        return bool((await get_pod(client, "doomed")).get("status", {}).get("phase") == "Running")

    await wait_until(running, what="pod doomed Running")
    # A bound pod's delete only sets deletionTimestamp; the node's final delete removes it.
    marked = await client.delete(PODS, "doomed", namespace="default", grace_period_seconds=30)
    assert marked.get("metadata", {}).get("deletionTimestamp")

    async def gone() -> bool:
        try:
            await get_pod(client, "doomed")
        except NotFound:
            return True
        return False

    await wait_until(gone, what="pod doomed deleted by its node")


async def test_pod_ip_reused_after_delete(client: APIClient) -> None:
    fake = FakeNodes(client, 1, prefix="solo-")
    await fake.start()
    try:
        for name in ("first", "second"):
            pod = make_pod(name)
            pod["spec"]["nodeName"] = "solo-0"
            await client.create(PODS, pod)

            async def running(name: str = name) -> bool:
                return bool((await get_pod(client, name)).get("status", {}).get("podIP"))

            await wait_until(running, what=f"pod {name} Running")
            assert (await get_pod(client, name))["status"]["podIP"] == "10.128.0.2"
            await client.delete(PODS, name, namespace="default")

            async def gone(name: str = name) -> bool:
                try:
                    await get_pod(client, name)
                except NotFound:
                    return True
                return False

            await wait_until(gone, what=f"pod {name} deleted by its node")
    finally:
        await fake.stop()
