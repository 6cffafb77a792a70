"""`pykube node --runtime fake --server --token --ca-cert-hash` as a subprocess against a real cluster."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from pykube_control.client.api import APIClient
from pykube_control.client.errors import Forbidden
from pykube_control.client.kubeconfig import load_client_config
from pykube_control.client.resource import NODES, PODS
from tests.join.conftest import CSRS, TOKEN, Cluster

NODE = "fake-node-0"
JOIN_TIMEOUT = 30.0
"""Seconds for a joining node to register; it takes about two on an idle machine."""


class NodeProcess:
    """One `pykube node` subprocess; ``stop`` ends it and is safe to call twice."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def node_argv(cluster: Cluster, data_dir: Path, *, token: str = TOKEN, ca_cert_hash: str | None = None) -> list[str]:
    return [
        sys.executable, "-m", "pykube_control.cli.main", "node", "--runtime", "fake", "--count", "1",
        "--data-dir", str(data_dir), "--lease-interval", "1",
        "--server", cluster.server.url, "--token", token, "--ca-cert-hash", ca_cert_hash or cluster.ca_cert_hash,
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def running_node(argv: Sequence[str]) -> AsyncIterator[NodeProcess]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    node = NodeProcess(process)
    try:
        yield node
    finally:
        await node.stop()


async def failed_join(argv: Sequence[str]) -> tuple[int, str]:
    """Run a join that must fail; return its exit code and stderr."""
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), JOIN_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def wait_for_node(cluster: Cluster, name: str = NODE) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + JOIN_TIMEOUT
    while loop.time() < deadline:
        names = [n["metadata"]["name"] for n in (await cluster.admin.list(NODES))["items"]]
        if name in names:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"node {name} did not register within {JOIN_TIMEOUT:.0f} s")


@pytest.mark.usefixtures("controllers")
async def test_node_joins(token_cluster: Cluster, tmp_path: Path) -> None:
    async with running_node(node_argv(token_cluster, tmp_path / "node")):
        await wait_for_node(token_cluster)
    kubeconfig = tmp_path / "node" / "node-kubeconfig"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    async with APIClient(load_client_config(kubeconfig)) as node_client:
        own = await node_client.get(NODES, NODE)
        own["metadata"].setdefault("labels", {})["joined"] = "yes"
        updated = await node_client.update(NODES, own)
    assert updated["metadata"]["labels"]["joined"] == "yes"


@pytest.mark.usefixtures("controllers")
async def test_node_cannot_update_other(token_cluster: Cluster, tmp_path: Path) -> None:
    await token_cluster.admin.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "other"}})
    async with running_node(node_argv(token_cluster, tmp_path / "node")):
        await wait_for_node(token_cluster)
    async with APIClient(load_client_config(tmp_path / "node" / "node-kubeconfig")) as node_client:
        other = await node_client.get(NODES, "other")
        other["metadata"]["labels"] = {"taken": "yes"}
        with pytest.raises(Forbidden) as raised:
            await node_client.update(NODES, other)
    assert "system:node:fake-node-0" in str(raised.value)


@pytest.mark.usefixtures("controllers")
async def test_restart_reuses_certificate(token_cluster: Cluster, tmp_path: Path) -> None:
    async with running_node(node_argv(token_cluster, tmp_path / "node")):
        await wait_for_node(token_cluster)
    first = (tmp_path / "node" / "node-kubeconfig").read_bytes()
    await token_cluster.admin.delete(NODES, NODE)
    # A wrong token proves the restart never authenticates with it.
    async with running_node(node_argv(token_cluster, tmp_path / "node", token="abcdef.ffffffffffffffff")):
        await wait_for_node(token_cluster)
    assert (tmp_path / "node" / "node-kubeconfig").read_bytes() == first
    assert len((await token_cluster.admin.list(CSRS))["items"]) == 1


async def test_wrong_token_rejected(token_cluster: Cluster, tmp_path: Path) -> None:
    code, stderr = await failed_join(node_argv(token_cluster, tmp_path / "node", token="abcdef.ffffffffffffffff"))
    assert code != 0
    assert "rejected the bootstrap token" in stderr


async def test_wrong_ca_hash_refused(token_cluster: Cluster, tmp_path: Path) -> None:
    wrong = "sha256:" + "0" * 64
    code, stderr = await failed_join(node_argv(token_cluster, tmp_path / "node", ca_cert_hash=wrong))
    assert code != 0
    assert f"not the expected {wrong}" in stderr
    assert not (tmp_path / "node" / "node-kubeconfig").exists()


async def test_malformed_ca_hash_refused(token_cluster: Cluster, tmp_path: Path) -> None:
    code, stderr = await failed_join(node_argv(token_cluster, tmp_path / "node", ca_cert_hash="md5:abc"))
    assert code != 0
    assert "invalid CA certificate hash 'md5:abc'" in stderr


@pytest.mark.usefixtures("controllers")
async def test_joined_node_runs_pod(token_cluster: Cluster, tmp_path: Path) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"nodeName": NODE, "containers": [{"name": "web", "image": "localhost/pykube/web:1"}]},
    }
    await token_cluster.admin.create(PODS, pod)
    async with running_node(node_argv(token_cluster, tmp_path / "node")):
        await wait_for_node(token_cluster)
        phase = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + JOIN_TIMEOUT
        while loop.time() < deadline and phase != "Running":
            phase = (await token_cluster.admin.get(PODS, "web", namespace="default"))["status"].get("phase", "")
            await asyncio.sleep(0.2)
    assert phase == "Running"
