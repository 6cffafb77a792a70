"""Repeated sandbox crashes on a node whose pod range has five addresses never run it out of IPs.

A /29 leaves five pod addresses once the network, broadcast and gateway
addresses are taken. The test kills the pod's sandbox (its pause process)
eight times, and each time the agent replaces the sandbox. The old
sandbox's address must come back, or the sixth replacement would find no
free address.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from pykube_control.apiserver.app import APIServerConfig, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import PODS
from pykube_control.cni.ipam import IPAM

from tests.agent.builders import container
from tests.agent.cluster import (
    AgentNode,
    agent_node,
    container_status,
    is_ready,
    kill_sandbox,
    wait_for_gone,
    wait_for_pod,
)
from tests.agent.node_env import BUSYBOX_IMAGE, netns_missing
from tests.cri.containerd_env import MISSING_TOOLS_REASON, missing_tools

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

NODE = "small-range-node"
CRASHES = 8


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[APIClient, AgentNode]]:
    if missing_tools():
        pytest.skip(MISSING_TOOLS_REASON)
    reason = netns_missing()
    if reason:
        pytest.skip(reason)
    config = APIServerConfig(data_dir=tmp_path_factory.mktemp("apiserver"), host="127.0.0.1", port=0, insecure=True)
    server = await start_apiserver(config)
    try:
        async with APIClient(ClientConfig.for_url(server.url)) as client:
            async with agent_node(client, NODE, node_ip="192.168.245.1", subnet="10.250.51.0/29") as node:
                yield client, node
    finally:
        await server.stop()


async def test_crashes_never_exhaust_range(setup: tuple[APIClient, AgentNode]) -> None:
    client, node = setup
    spec = {"nodeName": NODE, "terminationGracePeriodSeconds": 0,
            "containers": [container("main", BUSYBOX_IMAGE, command=["sleep", "3600"])]}  # fmt: skip
    await client.create(PODS, {"metadata": {"name": "phoenix", "namespace": "default"}, "spec": spec})
    pod = await wait_for_pod(client, "phoenix", is_ready)
    addresses = {pod["status"]["podIP"]}
    for _ in range(CRASHES):
        old_ip = pod["status"]["podIP"]
        sandbox = (await node.env.cri.list_pod_sandbox(labels={"io.kubernetes.pod.name": "phoenix"}))[0]
        kill_sandbox(node.env.cgroup_parent, sandbox.id)
        pod = await wait_for_pod(client, "phoenix", lambda p: is_ready(p) and p["status"].get("podIP") != old_ip)
        addresses.add(pod["status"]["podIP"])

    assert len(addresses) == 5
    assert len(IPAM.for_network(node.network).allocations()) == 1
    assert container_status(pod)["restartCount"] == CRASHES
    await client.delete(PODS, "phoenix", namespace="default")
    await wait_for_gone(client, "phoenix")
    # A grace period of 0 removes the pod object at once, so the agent may still be tearing the sandbox down.
    for _ in range(100):
        if not IPAM.for_network(node.network).allocations():
            break
        await asyncio.sleep(0.1)
    assert IPAM.for_network(node.network).allocations() == []
