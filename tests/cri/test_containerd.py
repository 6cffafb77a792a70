"""ManagedContainerd: its configuration, start, reuse, stop, and what a test environment leaves behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykube_control.agent.containerd import DISABLED_PLUGINS, ContainerdPaths, ManagedContainerd, render_config
from pykube_control.cri.client import CRIClient
from pykube_control.cri.proto import api_pb2
from tests.cri.containerd_env import (
    MISSING_TOOLS_REASON,
    container_config,
    containerd_env,
    leftover_pids,
    missing_tools,
    mounts_under,
)

needs_containerd = pytest.mark.skipif(missing_tools(), reason=MISSING_TOOLS_REASON)

CRI_PLUGIN = "io.containerd.grpc.v1.cri"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory under /tmp with a short path, as unix sockets need; removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="pkc-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still accepts signal 0, but its state in /proc shows it has exited.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_config_paths(tmp_path: Path) -> None:
    paths = ContainerdPaths.under(tmp_path)
    config = tomllib.loads(
        render_config(paths, cni_bin_dir=Path("/opt/pk/bin"), cni_conf_dir=Path("/opt/pk/net.d"), sandbox_image="localhost/p:1")
    )
    assert config["root"] == str(tmp_path / "containerd" / "root")
    assert config["state"] == str(tmp_path / "containerd" / "state")
    assert config["grpc"]["address"] == str(tmp_path / "containerd" / "containerd.sock")
    assert config["disabled_plugins"] == list(DISABLED_PLUGINS)
    assert paths.log == tmp_path / "logs" / "containerd.log"


def test_config_cri_plugin(tmp_path: Path) -> None:
    paths = ContainerdPaths.under(tmp_path)
    config = tomllib.loads(
        render_config(paths, cni_bin_dir=Path("/opt/pk/bin"), cni_conf_dir=Path("/opt/pk/net.d"), sandbox_image="localhost/p:1")
    )
    cri = config["plugins"][CRI_PLUGIN]
    runc = cri["containerd"]["runtimes"]["runc"]
    assert cri["sandbox_image"] == "localhost/p:1"
    assert cri["restrict_oom_score_adj"] is True
    assert cri["cni"]["bin_dir"] == "/opt/pk/bin"
    assert cri["cni"]["conf_dir"] == "/opt/pk/net.d"
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is False
    assert runc["options"]["Root"] == str(tmp_path / "containerd" / "runc")
    assert cri["registry"]["config_path"] == str(tmp_path / "containerd" / "certs.d")


def test_socket_path_too_long(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shorter data directory"):
        ManagedContainerd(tmp_path / ("d" * 120), cni_bin_dir=tmp_path, cni_conf_dir=tmp_path)


async def test_missing_binary(short_dir: Path) -> None:
    managed = ManagedContainerd(short_dir, cni_bin_dir=short_dir, cni_conf_dir=short_dir, binary=str(short_dir / "nope"))
    with pytest.raises(RuntimeError, match="not found"):
        await managed.start()


async def test_binary_exits_early(short_dir: Path) -> None:
    false = shutil.which("false")
    assert false is not None
    managed = ManagedContainerd(short_dir, cni_bin_dir=short_dir, cni_conf_dir=short_dir, binary=false)
    with pytest.raises(RuntimeError, match="exited with status 1"):
        await managed.start()


@needs_containerd
async def test_start_reuse_stop(short_dir: Path) -> None:
    first = ManagedContainerd(short_dir, cni_bin_dir=short_dir / "bin", cni_conf_dir=short_dir / "net.d")
    await first.start()
    try:
        assert first.started
        assert first.pid is not None
        assert (short_dir / "logs" / "containerd.log").stat().st_size > 0

        second = ManagedContainerd(short_dir, cni_bin_dir=short_dir / "bin", cni_conf_dir=short_dir / "net.d")
        await second.start()
        assert not second.started
        await second.stop()

        async with CRIClient(first.socket_path, timeout=5) as cri:
            assert (await cri.version()).runtime_name == "containerd"
    finally:
        pid = first.pid
        await first.stop()
    assert pid is not None
    assert not pid_alive(pid)
    assert mounts_under(short_dir) == []


@needs_containerd
async def test_env_leaves_nothing() -> None:
    async with containerd_env() as env:
        config = env.sandbox_config("leftovers")
        sandbox_id = await env.cri.run_pod_sandbox(config)
        container_id = await env.cri.create_container(sandbox_id, container_config("main", ["sleep", "60"]), config)
        await env.cri.start_container(container_id)
        status = await env.cri.container_status(container_id)
        assert status.state == api_pb2.CONTAINER_RUNNING
        assert mounts_under(env.directory) != []
        pid = env.containerd.pid
        directory, cgroup_parent, socket = env.directory, env.cgroup_parent, env.socket
        # The sandbox stays running: the environment's exit must remove it.

    assert pid is not None
    assert not pid_alive(pid)
    assert leftover_pids(cgroup_parent, socket) == set()
    assert mounts_under(directory) == []
    assert not directory.exists()
    assert not [path for path in Path("/sys/fs/cgroup").glob(f"*/{cgroup_parent.lstrip('/')}")]
