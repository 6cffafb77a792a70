"""Fixtures for volume tests: a real API server, a client, and a pods directory whose mounts are always removed."""

from __future__ import annotations

import errno
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pykube_control.agent.volumes import kernel_mounts
from pykube_control.agent.volumes.manager import VolumeManager
from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig


@pytest.fixture
def pods_dir(tmp_path: Path) -> Iterator[Path]:
    """A pods directory; every mount left under it is unmounted afterwards, even when the test fails."""
    directory = tmp_path / "pods"
    directory.mkdir()
    try:
        yield directory
    finally:
        for point in kernel_mounts.mount_points_under(directory):
            kernel_mounts.unmount(point, lazy=True)


@pytest.fixture
def tmpfs_allowed(tmp_path: Path) -> None:
    """Skip the test when this process may not mount tmpfs (EPERM without CAP_SYS_ADMIN)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        kernel_mounts.mount_tmpfs(probe, 4096, 0o755)
    except kernel_mounts.MountError as error:
        if error.errno == errno.EPERM:
            pytest.skip("mount(2) of tmpfs fails with EPERM: the test process lacks CAP_SYS_ADMIN")
        raise
    kernel_mounts.unmount(probe)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningAPIServer]:
    config = APIServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0, insecure=True)
    running = await start_apiserver(config)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(server: RunningAPIServer) -> AsyncIterator[APIClient]:
    async with APIClient(ClientConfig.for_url(server.url)) as api:
        yield api


@pytest.fixture
def manager(pods_dir: Path, client: APIClient) -> VolumeManager:
    return VolumeManager(pods_dir, client, allocatable={"cpu": "2", "memory": "1Gi"})


def new_uid() -> str:
    return str(uuid.uuid4())
