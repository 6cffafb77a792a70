"""Fixtures that run a real API server in the test's own event loop, and clients of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig, load_client_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningAPIServer]:
    """A TLS API server; its admin kubeconfig authenticates with a bearer token."""
    running = await start_apiserver(APIServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def plain_server(tmp_path: Path) -> AsyncIterator[RunningAPIServer]:
    """A plain-HTTP API server on loopback without authentication."""
    config = APIServerConfig(data_dir=tmp_path / "plain", host="127.0.0.1", port=0, insecure=True)
    running = await start_apiserver(config)
    try:
        yield running
    finally:
        await running.stop()


class ServerHandle:
    """A plain-HTTP API server that a test can restart on the same data directory and port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.current: RunningAPIServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int | None = None) -> RunningAPIServer:
        """Start a server on ``port`` (default: the handle's port); the handle tracks only its own port."""
        config = APIServerConfig(
            data_dir=self.data_dir, host="127.0.0.1", port=self.port if port is None else port, insecure=True
        )
        running = await start_apiserver(config)
        if port is None:
            self.port = running.port
            self.current = running
        return running

    async def stop(self) -> None:
        if self.current is not None:
            await self.current.stop()
            self.current = None


@pytest.fixture
async def handle(tmp_path: Path) -> AsyncIterator[ServerHandle]:
    server_handle = ServerHandle(tmp_path / "restartable")
    await server_handle.start()
    try:
        yield server_handle
    finally:
        await server_handle.stop()


@pytest.fixture
async def client(server: RunningAPIServer) -> AsyncIterator[APIClient]:
    assert server.kubeconfig is not None
    async with APIClient(load_client_config(server.kubeconfig)) as api:
        yield api


@pytest.fixture
async def plain_client(plain_server: RunningAPIServer) -> AsyncIterator[APIClient]:
    async with APIClient(ClientConfig.for_url(plain_server.url)) as api:
        yield api


def configmap(name: str, namespace: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": dict(data),
    }


def pod(name: str, namespace: str = "default", node: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox"}]}
    if node is not None:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
