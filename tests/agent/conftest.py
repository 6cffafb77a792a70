"""Fixtures of the node agent's tests: a real API server on loopback and a client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig


@pytest.fixture
async def api_server(tmp_path: Path) -> AsyncIterator[RunningAPIServer]:
    """A plain-HTTP API server on loopback without authentication, on SQLite in tmp_path."""
    config = APIServerConfig(data_dir=tmp_path / "apiserver", host="127.0.0.1", port=0, insecure=True)
    running = await start_apiserver(config)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(api_server: RunningAPIServer) -> AsyncIterator[APIClient]:
    async with APIClient(ClientConfig.for_url(api_server.url)) as api:
        yield api
