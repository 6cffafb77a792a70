"""pykube-cni under a real containerd 1.6: a pod sandbox gets its address from the plugin and gives it back.

The private containerd from tests/cri runs inside the test's node
namespace, so the bridge, veths and table it makes through the plugin
stay there. It is started through a ``containerd`` wrapper placed first
on PATH that enters the namespace with nsenter, because the private
containerd is started by name and takes no namespace argument.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykube_control.cni.install import install_plugin, write_network_config
from pykube_control.cni.ipam import IPAM
from pykube_control.cri.proto import api_pb2
from tests.cni.conftest import Node, make_node
from tests.cri.containerd_env import MISSING_TOOLS_REASON, ContainerdEnv, containerd_env, missing_tools

pytestmark = pytest.mark.skipif(missing_tools(), reason=MISSING_TOOLS_REASON)

NETWORK_READY_TIMEOUT = 15.0


@pytest.fixture
def node_with_containerd_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    """A node namespace, and PATH set so that ``containerd`` starts inside it."""
    node = make_node(tmp_path)
    try:
        wrapper_dir = tmp_path / "wrapper"
        wrapper_dir.mkdir()
        wrapper = wrapper_dir / "containerd"
        wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/var/run/netns/{node.host} /usr/bin/containerd "$@"\n')
        wrapper.chmod(0o755)
        monkeypatch.setenv("PATH", f"{wrapper_dir}:/usr/sbin:/usr/bin:/sbin:/bin")
        yield node
    finally:
        node.cleanup()


async def wait_network_ready(env: ContainerdEnv) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + NETWORK_READY_TIMEOUT
    while True:
        conditions = {c.type: c.status for c in (await env.cri.status()).status.conditions}
        if conditions.get("NetworkReady") or loop.time() > deadline:
            assert conditions.get("NetworkReady"), conditions
            return
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_sandbox_network_lifecycle(node_with_containerd_path: Node) -> None:
    node = node_with_containerd_path
    async with containerd_env() as env:
        install_plugin(env.directory / "cni" / "bin")
        write_network_config(env.directory / "cni" / "net.d", node.config)
        await wait_network_ready(env)

        sandbox_id = await env.cri.run_pod_sandbox(env.sandbox_config("web", host_network=False))
        status = await env.cri.pod_sandbox_status(sandbox_id)
        allocations = IPAM.for_network(node.config).allocations()
        reachable = node.ping_from_host(status.network.ip)

        await env.cri.stop_pod_sandbox(sandbox_id)
        after_stop = IPAM.for_network(node.config).allocations()
        veths = node.host_exec(["ip", "-brief", "link", "show", "type", "veth"]).stdout
        # RemovePodSandbox runs DEL a second time, without a namespace.
        await env.cri.remove_pod_sandbox(sandbox_id)
        remaining = await env.cri.list_pod_sandbox()

        assert status.state == api_pb2.SANDBOX_READY
        assert status.network.ip == "10.250.1.2"
        assert [(a.container_id, a.pod) for a in allocations] == [(sandbox_id, "default/web")]
        assert reachable
        assert after_stop == []
        assert veths.strip() == ""
        assert list(remaining) == []
