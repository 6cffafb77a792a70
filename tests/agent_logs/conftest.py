"""A TLS API server, an agent server serving log files the test writes, and a node and pod wired to both."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pykube_control.agent.logs import format_entry
from pykube_control.agent.server import AgentServer, LogDirectory
from pykube_control.agent.serving_cert import ensure_serving_certificate
from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.resource import NODES, PODS

BASE_NS = 1_796_424_001_000_000_000  # 2026-12-04T22:40:01Z


@dataclasses.dataclass
class Cluster:
    server: RunningAPIServer
    client: APIClient
    agent: AgentServer
    agent_port: int
    ca_file: Path
    logs_dir: Path
    node: str
    pod: str
    uid: str

    def log_path(self, container: str, restart: int) -> Path:
        directory = self.logs_dir / f"default_{self.pod}_{self.uid}" / container
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"{restart}.log"

    def write(self, container: str, restart: int, texts: list[str], start: int = 0) -> None:
        with open(self.log_path(container, restart), "ab") as file:
            for index, text in enumerate(texts, start):
                file.write(format_entry(BASE_NS + index * 1_000_000_000, "stdout", text.encode()))


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    server = await start_apiserver(APIServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0))
    try:
        assert server.kubeconfig is not None
        ca_file = tmp_path / "server" / "pki" / "ca.crt"
        certificate, key = ensure_serving_certificate(tmp_path / "agent" / "pki", "node-a", ["127.0.0.1"])
        logs_dir = tmp_path / "logs"
        agent = AgentServer(LogDirectory(logs_dir), ca_file=ca_file, certificate=certificate, key=key, poll_interval=0.05)
        port = await agent.start("127.0.0.1", 0)
        try:
            async with APIClient.from_kubeconfig(server.kubeconfig) as client:
                suffix = secrets.token_hex(3)
                node, pod = f"node-{suffix}", f"web-{suffix}"
                await register_node(client, node, port)
                uid = await create_pod(client, pod, ["app", "sidecar"], node)
                yield Cluster(server, client, agent, port, ca_file, logs_dir, node, pod, uid)
        finally:
            await agent.stop()
    finally:
        await server.stop()


async def register_node(client: APIClient, name: str, port: int) -> None:
    node = await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    node["status"] = {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
    }
    await client.update_status(NODES, node)


async def create_pod(client: APIClient, name: str, containers: list[str], node: str | None) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": c, "image": "localhost/busybox:latest"} for c in containers]},
    }
    created = await client.create(PODS, pod, namespace="default")
    if node is not None:
        await client.bind(name, node, namespace="default")
    return str(created["metadata"]["uid"])
