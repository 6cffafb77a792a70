"""`pykube node --runtime cri` as a process: kill -9 leaves containers running, and the next agent adopts them.

The test node's containerd runs in a namespace of its own (node_env.py)
and the agent process reuses it through ``--data-dir``, with ``--netns``
so that its probes and routes act in that namespace, never in the root one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from pykube_control.apiserver.app import APIServerConfig, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import NODES, PODS
from pykube_control.cri.proto import api_pb2

from tests.agent.builders import container
from tests.agent.cluster import condition, container_status, is_ready, wait_for_gone, wait_for_pod
from tests.agent.node_env import BUSYBOX_IMAGE, NodeEnv, netns_missing, node_env
from tests.cri.containerd_env import MISSING_TOOLS_REASON, missing_tools

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

NODE = "crash-node"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{{name: test, cluster: {{server: "{url}"}}}}]
users: [{{name: test, user: {{}}}}]
contexts: [{{name: test, context: {{cluster: test, user: test}}}}]
current-context: test
"""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[APIClient, NodeEnv, Path]]:
    if missing_tools():
        pytest.skip(MISSING_TOOLS_REASON)
    reason = netns_missing()
    if reason:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("crash")
    server = await start_apiserver(APIServerConfig(data_dir=directory / "apiserver", host="127.0.0.1", port=0, insecure=True))
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.format(url=server.url))
    try:
        async with node_env("192.168.242.1") as env, APIClient(ClientConfig.for_url(server.url)) as client:
            yield client, env, kubeconfig
    finally:
        await server.stop()


def agent_command(env: NodeEnv, kubeconfig: Path, node_name: str, node_ip: str, pod_cidr: str) -> list[str]:
    """Return the `pykube node --runtime cri` command line that serves the test node from outside its namespace."""
    return [
        sys.executable, "-m", "pykube_control.cli.main", "node", "--runtime", "cri",
        "--kubeconfig", str(kubeconfig), "--data-dir", str(env.data_dir), "--node-name", node_name,
        "--node-ip", node_ip, "--pod-cidr", pod_cidr, "--cluster-cidr", "10.250.0.0/16",
        "--cgroup-parent", env.cgroup_parent, "--netns", f"/run/netns/{env.netns}", "--port", "0",
        "--lease-interval", "2", "--no-ip-forward",
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def agent_process(env: NodeEnv, kubeconfig: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `pykube node --runtime cri` for the test node; kill it by pid on exit if it still runs."""
    log = open(env.directory / "agent.log", "ab")
    command = agent_command(env, kubeconfig, NODE, env.node_ip, "10.250.21.0/24")
    process = await asyncio.create_subprocess_exec(*command, stdout=log, stderr=log)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.close()


def pod(name: str, **fields: Any) -> dict[str, Any]:
    main = container("main", BUSYBOX_IMAGE, command=["sleep", "3600"], **fields)
    spec = {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [main]}
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


async def test_kill_9_adopts_containers(setup: tuple[APIClient, NodeEnv, Path]) -> None:
    client, env, kubeconfig = setup
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    async with agent_process(env, kubeconfig) as first:
        await client.create(PODS, pod("steady", readinessProbe=probe))
        before = await wait_for_pod(client, "steady", is_ready, timeout=60)
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()

    container_id = str(container_status(before)["containerID"]).removeprefix("containerd://")
    status = await env.cri.container_status(container_id)
    assert status.state == api_pb2.CONTAINER_RUNNING

    async with agent_process(env, kubeconfig) as second:
        node = await client.get(NODES, NODE)
        await asyncio.sleep(4)
        after = await client.get(PODS, "steady", namespace="default")
        assert container_status(after)["containerID"] == container_status(before)["containerID"]
        assert container_status(after)["restartCount"] == 0
        assert condition(after, "Ready") == "True"
        assert [c["lastTransitionTime"] for c in after["status"]["conditions"] if c["type"] == "Ready"] == [
            c["lastTransitionTime"] for c in before["status"]["conditions"] if c["type"] == "Ready"
        ]
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE

        await client.delete(PODS, "steady", namespace="default")
        await wait_for_gone(client, "steady")
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 20) == 0
    assert await env.cri.list_pod_sandbox() == []
