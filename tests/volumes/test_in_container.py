"""Volumes and logs as a container sees them: a real node agent, containerd and runc in a test namespace.

One API server and one node serve the module, because a containerd start
costs seconds. The agent mounts the volumes that the VolumeManager prepares;
the test reads them from inside the container with CRI ExecSync, updates a
ConfigMap through ``refresh``, and reads the runtime's CRI log file with the
agent's log reader.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from pykube_control.agent.logs import LogOptions, log_files, read_log
from pykube_control.agent.volumes import kernel_mounts
from pykube_control.agent.volumes.manager import VolumeManager
from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import CONFIGMAPS, PODS, SECRETS

from tests.agent.builders import container
from tests.agent.cluster import AgentNode, agent_node, container_status, is_ready, wait_for_gone, wait_for_pod
from tests.agent.node_env import BUSYBOX_IMAGE, netns_missing
from tests.cri.containerd_env import MISSING_TOOLS_REASON, missing_tools

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

SUBNET = "10.250.77.0/24"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def module_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningAPIServer]:
    config = APIServerConfig(data_dir=tmp_path_factory.mktemp("apiserver"), host="127.0.0.1", port=0, insecure=True)
    running = await start_apiserver(config)
    try:
        yield running
    finally:
        await running.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def module_client(module_server: RunningAPIServer) -> AsyncIterator[APIClient]:
    async with APIClient(ClientConfig.for_url(module_server.url)) as api:
        yield api


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def node(module_client: APIClient) -> AsyncIterator[AgentNode]:
    if missing_tools():
        pytest.skip(MISSING_TOOLS_REASON)
    reason = netns_missing()
    if reason:
        pytest.skip(reason)
    async with agent_node(module_client, f"vol-node-{secrets.token_hex(3)}", subnet=SUBNET) as running:
        yield running


async def exec_in(node: AgentNode, pod: dict[str, Any], *command: str) -> str:
    container_id = str(container_status(pod)["containerID"]).removeprefix("containerd://")
    response = await node.env.cri.exec_sync(container_id, list(command), 10)
    return bytes(response.stdout).decode() + bytes(response.stderr).decode()


async def test_volumes_inside_container(module_client: APIClient, node: AgentNode) -> None:
    client = module_client
    await client.create(CONFIGMAPS, {"metadata": {"name": "web-config"}, "data": {"color": "blue"}}, namespace="default")
    password = base64.b64encode(b"hunter2").decode()
    await client.create(SECRETS, {"metadata": {"name": "web-secret"}, "data": {"password": password}}, namespace="default")
    main = container(
        "main", BUSYBOX_IMAGE, command=["sh", "-c", "echo started; exec sleep 3600"],
        volumeMounts=[
            {"name": "config", "mountPath": "/etc/app"},
            {"name": "secret", "mountPath": "/etc/secret"},
            {"name": "memory", "mountPath": "/fast"},
            {"name": "scratch", "mountPath": "/logs", "subPath": "pod-a/logs"},
        ],
    )  # fmt: skip
    volumes = [
        {"name": "config", "configMap": {"name": "web-config"}},
        {"name": "secret", "secret": {"secretName": "web-secret"}},
        {"name": "memory", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}},
        {"name": "scratch", "emptyDir": {}},
    ]
    spec = {"nodeName": node.name, "terminationGracePeriodSeconds": 1, "containers": [main], "volumes": volumes}
    created = await client.create(PODS, {"metadata": {"name": "vols"}, "spec": spec}, namespace="default")
    uid = created["metadata"]["uid"]
    pod = await wait_for_pod(client, "vols", is_ready)

    assert (await exec_in(node, pod, "cat", "/etc/app/color")).strip() == "blue"
    assert (await exec_in(node, pod, "cat", "/etc/secret/password")).strip() == "hunter2"
    assert "tmpfs" in await exec_in(node, pod, "sh", "-c", "grep ' /fast ' /proc/mounts")
    assert "Read-only file system" in await exec_in(node, pod, "sh", "-c", "echo x > /etc/app/new")
    await exec_in(node, pod, "sh", "-c", "echo hello > /logs/out")
    scratch = node.agent.config.pods_dir / uid / "volumes" / "kubernetes.io~empty-dir" / "scratch"
    assert (scratch / "pod-a" / "logs" / "out").read_text() == "hello\n"

    current = await client.get(CONFIGMAPS, "web-config", namespace="default")
    current["data"] = {"color": "green"}
    await client.update(CONFIGMAPS, current, namespace="default")
    manager = node.agent.volumes
    assert isinstance(manager, VolumeManager)
    assert await manager.refresh(pod) == ["config"]
    assert (await exec_in(node, pod, "cat", "/etc/app/color")).strip() == "green"

    log_dir = node.agent.config.logs_dir / f"default_vols_{uid}" / "main"
    [log_file] = log_files(log_dir)
    output = b"".join([chunk async for chunk in read_log(log_file, LogOptions(timestamps=False))])
    assert output == b"started\n"

    await client.delete(PODS, "vols", namespace="default")
    await wait_for_gone(client, "vols")
    pod_dir: Path = node.agent.config.pods_dir / uid
    assert kernel_mounts.mount_points_under(node.agent.config.pods_dir) == []
    assert not pod_dir.exists()
