"""`kubectl logs` of a pod that the CRI node agent runs: API server, agent endpoint and containerd together.

The agent runs as `pykube node --runtime cri` against a TLS API server and
serves container logs on loopback (``--node-ip 127.0.0.1``), so the API
server's log proxy reaches it without leaving loopback. The pods run in
the test node's own namespace as everywhere in these tests.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import load_client_config
from pykube_control.client.resource import PODS

from tests.agent.builders import container
from tests.agent.cluster import container_status, wait_for_gone, wait_for_pod
from tests.agent.node_env import BUSYBOX_IMAGE, NodeEnv, netns_missing, node_env
from tests.agent.test_agent_crash import agent_command
from tests.cri.containerd_env import MISSING_TOOLS_REASON, missing_tools

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

NODE = "logs-node"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[APIClient, NodeEnv, Path]]:
    if missing_tools():
        pytest.skip(MISSING_TOOLS_REASON)
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl on PATH")
    reason = netns_missing()
    if reason:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("logs")
    server: RunningAPIServer = await start_apiserver(
        APIServerConfig(data_dir=directory / "apiserver", host="127.0.0.1", port=0)
    )
    assert server.kubeconfig is not None
    try:
        async with node_env("192.168.246.1") as env, APIClient(load_client_config(server.kubeconfig)) as client:
            yield client, env, Path(server.kubeconfig)
    finally:
        await server.stop()


async def kubectl(kubeconfig: Path, *args: str) -> str:
    """Run kubectl without blocking the event loop, which also serves the API server."""
    process = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(kubeconfig), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


def pod(name: str, script: str, **spec: Any) -> dict[str, Any]:
    main = container("main", BUSYBOX_IMAGE, command=["sh", "-c", script])
    body = {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [main], **spec}
    return {"metadata": {"name": name, "namespace": "default"}, "spec": body}


async def test_kubectl_logs_current_and_previous(setup: tuple[APIClient, NodeEnv, Path]) -> None:
    client, env, kubeconfig = setup
    command = agent_command(env, kubeconfig, NODE, "127.0.0.1", "10.250.61.0/24")
    with open(env.directory / "agent.log", "ab") as log:
        process = await asyncio.create_subprocess_exec(*command, stdout=log, stderr=log)
    try:
        await client.create(PODS, pod("talker", "echo run-$(date +%s%N); echo second line; sleep 1; exit 1"))

        def restarted(obj: dict[str, Any]) -> bool:
            return int(container_status(obj).get("restartCount", 0)) >= 1

        await wait_for_pod(client, "talker", restarted, timeout=60)
        current = await kubectl(kubeconfig, "logs", "talker")
        previous = await kubectl(kubeconfig, "logs", "talker", "--previous")
        assert current.splitlines()[1] == "second line"
        assert previous.splitlines()[1] == "second line"
        assert current.splitlines()[0].startswith("run-")
        assert previous.splitlines()[0] != current.splitlines()[0]
        assert (await kubectl(kubeconfig, "logs", "talker", "--tail", "1")).strip() == "second line"

        await client.delete(PODS, "talker", namespace="default")
        await wait_for_gone(client, "talker")
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
