"""Two nodes, each an agent with its own containerd in its own namespace: pods reach each other by IP.

The namespaces are joined by a veth pair that plays the network between
the machines. Neither agent is given routes: each learns the other's
podCIDR and InternalIP from the Node objects and installs the host-gw
route in its own namespace.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import PODS

from tests.agent.builders import container
from tests.agent.cluster import agent_node, container_status, is_ready, wait_for_gone, wait_for_pod
from tests.agent.node_env import BUSYBOX_IMAGE, NodeEnv, netns_missing, run
from tests.cri.containerd_env import MISSING_TOOLS_REASON, missing_tools

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

NODE_A_IP = "192.168.241.1"
NODE_B_IP = "192.168.241.2"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[APIClient]:
    if missing_tools():
        pytest.skip(MISSING_TOOLS_REASON)
    reason = netns_missing()
    if reason:
        pytest.skip(reason)
    config = APIServerConfig(data_dir=tmp_path_factory.mktemp("apiserver"), host="127.0.0.1", port=0, insecure=True)
    server: RunningAPIServer = await start_apiserver(config)
    try:
        async with APIClient(ClientConfig.for_url(server.url)) as api:
            yield api
    finally:
        await server.stop()


def link_to(peer: NodeEnv) -> Any:
    """Return a callback that joins a new node's namespace to ``peer``'s with a veth pair and addresses."""

    def link(env: NodeEnv) -> None:
        local, remote = f"pkv{env.suffix}", f"pkv{peer.suffix}"
        run(["ip", "-n", env.netns, "link", "add", local, "type", "veth", "peer", "name", remote, "netns", peer.netns])
        run(["ip", "-n", env.netns, "addr", "add", f"{env.node_ip}/24", "dev", local])
        run(["ip", "-n", peer.netns, "addr", "add", f"{peer.node_ip}/24", "dev", remote])
        run(["ip", "-n", env.netns, "link", "set", local, "up"])
        run(["ip", "-n", peer.netns, "link", "set", remote, "up"])

    return link


def pod(name: str, node: str, *command: str, **fields: Any) -> dict[str, Any]:
    main = container("main", BUSYBOX_IMAGE, command=list(command), **fields)
    spec = {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [main]}
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


async def test_pod_reaches_pod_on_other_node(client: APIClient) -> None:
    script = "mkdir -p /www && echo served-by-a > /www/index.html && exec httpd -f -p 8080 -h /www"
    async with agent_node(client, "node-a", node_ip=NODE_A_IP, subnet="10.250.11.0/24", with_dummy=False) as node_a:
        async with agent_node(client, "node-b", node_ip=NODE_B_IP, subnet="10.250.12.0/24", with_dummy=False,
                              link=link_to(node_a.env)) as node_b:  # fmt: skip
            await client.create(PODS, pod("server", "node-a", "sh", "-c", script))
            await client.create(PODS, pod("client", "node-b", "sleep", "3600"))
            server = await wait_for_pod(client, "server", is_ready)
            caller = await wait_for_pod(client, "client", is_ready)
            server_ip = server["status"]["podIP"]
            assert server_ip.startswith("10.250.11.")
            assert caller["status"]["podIP"].startswith("10.250.12.")

            container_id = str(container_status(caller)["containerID"]).removeprefix("containerd://")
            # busybox's static wget crashes in a container here, so nc sends the request.
            request = f"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {server_ip} 8080"
            response = await node_b.env.cri.exec_sync(container_id, ["sh", "-c", request], 15)
            assert response.exit_code == 0, bytes(response.stderr).decode()
            assert bytes(response.stdout).decode().strip().endswith("served-by-a")

            routes = subprocess.run(["ip", "-n", node_b.env.netns, "route", "show", "10.250.11.0/24"],
                                    capture_output=True, text=True, check=True).stdout  # fmt: skip
            assert f"via {NODE_A_IP}" in routes
            for name in ("server", "client"):
                await client.delete(PODS, name, namespace="default")
            for name in ("server", "client"):
                await wait_for_gone(client, name)
