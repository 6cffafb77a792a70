"""A test cluster for the node agent: an API server, and nodes each with containerd and CNI in a namespace.

``agent_node()`` starts a ``node_env`` (tests/agent/node_env.py) and
installs the pykube CNI plugin into its containerd's CNI directories, with
a bridge and nftables table named after the node's suffix. Then it runs a
``NodeAgent`` with short intervals and a volume manager, whose probes
connect from the node's namespace. Helpers poll the API server until a
pod reaches a state, and fetch pages from inside a node's namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pykube_control.agent.agent import AgentConfig, NodeAgent
from pykube_control.agent.pod_network import NodeNetwork
from pykube_control.agent.volumes.manager import VolumeManager
from pykube_control.client.api import APIClient
from pykube_control.client.errors import NotFound
from pykube_control.client.resource import PODS
from pykube_control.cni.config import NetworkConfig
from pykube_control.cni.install import install_plugin, write_network_config

from tests.agent.node_env import NodeEnv, node_env

Object = dict[str, Any]
CLUSTER_CIDR = ipaddress.IPv4Network("10.250.0.0/16")


@dataclass
class AgentNode:
    """A running test node: its environment, agent and pod network."""

    env: NodeEnv
    agent: NodeAgent
    network: NetworkConfig

    @property
    def name(self) -> str:
        return self.agent.config.node_name


def network_config(env: NodeEnv, subnet: str, routes: Mapping[str, str] | None = None) -> NetworkConfig:
    return NetworkConfig(
        subnet=ipaddress.IPv4Network(subnet),
        cluster_cidr=CLUSTER_CIDR,
        bridge=f"pkb{env.suffix}",
        nft_table=f"pykube_test_{env.suffix}",
        state_dir=env.directory / "cni-state",
        masquerade=False,
        node_routes={ipaddress.IPv4Network(k): ipaddress.IPv4Address(v) for k, v in (routes or {}).items()},
    )


def agent_config(env: NodeEnv, name: str, subnet: str, **overrides: Any) -> AgentConfig:
    settings: dict[str, Any] = {
        "node_name": name, "node_ip": env.node_ip, "data_dir": env.data_dir, "pod_cidr": subnet,
        "cgroup_parent": env.cgroup_parent, "netns": Path(f"/run/netns/{env.netns}"),
        "lease_interval": 2.0, "relist_period": 0.5, "resync_period": 2.0, "retry_delay": 0.5,
        "backoff_initial": 1.0, "backoff_max": 4.0,
    }  # fmt: skip
    settings.update(overrides)
    return AgentConfig(**settings)


def start_agent(env: NodeEnv, client: APIClient, config: AgentConfig, network: NetworkConfig) -> NodeAgent:
    volumes = VolumeManager(config.pods_dir, client)
    node_network = NodeNetwork(network, node_name=config.node_name, netns=config.netns)
    return NodeAgent(client, env.cri, config, volumes=volumes, network=node_network,
                     cleanup_volumes=volumes.cleanup_orphans)  # fmt: skip


@contextlib.asynccontextmanager
async def agent_node(
    client: APIClient,
    name: str,
    *,
    node_ip: str = "192.168.240.1",
    subnet: str = "10.250.1.0/24",
    routes: Mapping[str, str] | None = None,
    with_dummy: bool = True,
    link: Callable[[NodeEnv], None] | None = None,
    **overrides: Any,
) -> AsyncIterator[AgentNode]:
    """Run a node agent on a fresh test node; stop it and remove the node on exit."""
    async with node_env(node_ip, with_dummy=with_dummy) as env:
        if link is not None:
            link(env)
        install_plugin(env.cni_bin_dir)
        network = network_config(env, subnet, routes)
        write_network_config(env.cni_conf_dir, network)
        config = agent_config(env, name, subnet, **overrides)
        agent = start_agent(env, client, config, network)
        await agent.start()
        try:
            yield AgentNode(env, agent, network)
        finally:
            await agent.stop()


async def wait_for_pod(
    client: APIClient,
    name: str,
    check: Callable[[Object], bool],
    *,
    namespace: str = "default",
    timeout: float = 30.0,
) -> Object:
    """Poll the pod until ``check`` accepts it; raise AssertionError with its last status on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pod: Object = {}
    while loop.time() < deadline:
        with contextlib.suppress(NotFound):
            pod = await client.get(PODS, name, namespace=namespace)
            if check(pod):
                return pod
        await asyncio.sleep(0.2)
    raise AssertionError(f"pod {namespace}/{name} did not reach the expected state in {timeout:g}s: {pod.get('status')}")


async def wait_for_gone(client: APIClient, name: str, *, namespace: str = "default", timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            await client.get(PODS, name, namespace=namespace)
        except NotFound:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"pod {namespace}/{name} still exists after {timeout:g}s")


def condition(pod: Object, kind: str) -> str | None:
    for item in (pod.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return str(item.get("status"))
    return None


def is_ready(pod: Object) -> bool:
    return condition(pod, "Ready") == "True"


def container_status(pod: Object, name: str = "main") -> Object:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == name:
            return dict(status)
    return {}


def kill_sandbox(cgroup_parent: str, sandbox_id: str) -> None:
    """SIGKILL the pause process of a sandbox this test's containerd started, found through its cgroup."""
    for procs in Path("/sys/fs/cgroup").glob(f"*/{cgroup_parent.lstrip('/')}/{sandbox_id}/cgroup.procs"):
        for pid in procs.read_text().split():
            os.kill(int(pid), signal.SIGKILL)
        return
    raise AssertionError(f"no cgroup found for sandbox {sandbox_id} under {cgroup_parent}")
