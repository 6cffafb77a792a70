"""Fixtures that start real API servers: TLS with tokens, and plain HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer
from tests.apiserver.server_thread import ServerThread


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAPIServer]:
    """A TLS API server with the admin kubeconfig in its data directory."""
    data_dir = tmp_path_factory.mktemp("apiserver")
    thread = ServerThread(APIServerConfig(data_dir=data_dir, host="127.0.0.1", port=0))
    try:
        yield thread.start()
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def kubeconfig(server: RunningAPIServer) -> Path:
    assert server.kubeconfig is not None
    return server.kubeconfig
