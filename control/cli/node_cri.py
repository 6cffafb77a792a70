"""`pykube node --runtime cri`: bring a real node up and run the node agent until stopped.

The start order matters, because each step needs the one before:

1. containerd, managed by pykube under ``<data-dir>/containerd/`` (or an
   earlier one that still serves CRI on that socket), with the pause image
   and every tarball in ``<data-dir>/images/`` imported;
2. the Node registration, which gives the Node's spec.podCIDR: the
   ``--pod-cidr`` flag, else the one the node IPAM controller assigns;
3. the CNI plugin and its configuration for that podCIDR in the CNI
   directories containerd reads, so sandboxes get addresses;
4. the agent's HTTPS endpoint for ``kubectl logs``, whose port goes into
   the Node's daemonEndpoints;
5. the agent itself, and the loop that refreshes configMap and secret
   volumes.

Stopping (SIGINT or SIGTERM) stops the agent and, when this process
started it, containerd. Containers keep running, and the next start
adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import signal
import socket
from pathlib import Path

from pykube_control.agent.agent import AgentConfig, NodeAgent
from pykube_control.agent.containerd import ManagedContainerd
from pykube_control.agent.images import import_images_dir, import_pause_image
from pykube_control.agent.log_rotation import rotation_loop
from pykube_control.agent.pod_network import NodeNetwork
from pykube_control.agent.server import AgentServer, LogDirectory
from pykube_control.agent.serving_cert import ensure_serving_certificate
from pykube_control.agent.volumes.manager import VolumeManager
from pykube_control.client.api import APIClient
from pykube_control.cni.config import NetworkConfig
from pykube_control.cni.install import install_plugin, write_network_config
from pykube_control.cri.client import CRIClient

log = logging.getLogger("pykube.agent")

POD_CIDR_TIMEOUT = 120.0
"""Seconds to wait for the node IPAM controller to give the Node a podCIDR."""


@dataclasses.dataclass(frozen=True, slots=True)
class CRINodeOptions:
    """The flags of `pykube node --runtime cri`."""

    kubeconfig: Path | None
    agent: AgentConfig
    cluster_cidr: str
    ip_forward: bool


def default_node_ip() -> str:
    """Return the address this machine would send from toward the internet; 127.0.0.1 without a route.

    Connecting a UDP socket only picks the route and sends no packet.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def default_kubeconfig(data_dir: Path, given: Path | None) -> Path | None:
    """Return ``given``, else <data-dir>/kubeconfig when it exists, else None (the client's own search)."""
    if given is not None:
        return given
    candidate = data_dir / "kubeconfig"
    return candidate if candidate.is_file() else None


async def run_cri_node(options: CRINodeOptions) -> None:
    """Start the node (see the module docstring) and run it until cancelled."""
    config = options.agent
    data_dir = config.data_dir
    client = APIClient.from_kubeconfig(default_kubeconfig(data_dir, options.kubeconfig))
    containerd = ManagedContainerd(data_dir, cni_bin_dir=data_dir / "cni" / "bin", cni_conf_dir=data_dir / "cni" / "net.d")
    server: AgentServer | None = None
    refresh: asyncio.Task[None] | None = None
    rotation: asyncio.Task[None] | None = None
    try:
        await containerd.start()
        await import_pause_image(containerd.socket_path, data_dir)
        await import_images_dir(containerd.socket_path, data_dir)
        async with CRIClient(containerd.socket_path) as cri:
            agent_ref: list[NodeAgent] = []

            def running(namespace: str, pod: str, container: str) -> bool:
                return bool(agent_ref) and agent_ref[0].container_running(namespace, pod, container)

            server, port = await _start_server(client, config, LogDirectory(config.logs_dir, running))
            config = dataclasses.replace(config, port=port)
            volumes = VolumeManager(config.pods_dir, client)
            agent = NodeAgent(client, cri, config, volumes=volumes, cleanup_volumes=volumes.cleanup_orphans)
            agent_ref.append(agent)
            volumes.allocatable = agent.allocatable.resource_list()
            await agent.register()
            pod_cidr = config.pod_cidr or await agent.wait_for_pod_cidr(POD_CIDR_TIMEOUT)
            network = _install_cni(data_dir, pod_cidr, options)
            agent.use_network(NodeNetwork(network, node_name=config.node_name, netns=config.netns))
            refresh = asyncio.create_task(volumes.refresh_loop(lambda: [w.pod for w in agent.workers.values()]))
            rotation = asyncio.create_task(rotation_loop(cri, config.logs_dir))
            await agent.run()
    finally:
        for task in (refresh, rotation):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if server is not None:
            await server.stop()
        await containerd.stop()
        await client.close()


def _install_cni(data_dir: Path, pod_cidr: str, options: CRINodeOptions) -> NetworkConfig:
    network = NetworkConfig(
        subnet=ipaddress.IPv4Network(pod_cidr),
        cluster_cidr=ipaddress.IPv4Network(options.cluster_cidr),
        state_dir=data_dir / "cni" / "state",
        ip_forward=options.ip_forward,
    )
    install_plugin(data_dir / "cni" / "bin")
    write_network_config(data_dir / "cni" / "net.d", network)
    log.info("CNI configured pod_cidr=%s cluster_cidr=%s", pod_cidr, options.cluster_cidr)
    return network


async def _start_server(client: APIClient, config: AgentConfig, logs: LogDirectory) -> tuple[AgentServer | None, int]:
    """Start the logs endpoint; return it and its port, or (None, the configured port) when it cannot start."""
    ca_data = client.config.ca_data
    if ca_data is None:
        # NOTE: without the cluster CA the endpoint could not check the API server's certificate.
        log.warning("agent server not started: the kubeconfig has no certificate-authority data node=%s", config.node_name)
        return None, config.port
    certificate, key = ensure_serving_certificate(config.data_dir / "pki", config.node_name, [config.node_ip])
    server = AgentServer(logs, ca_data=ca_data, certificate=certificate, key=key)
    try:
        port = await server.start("0.0.0.0", config.port)
    except OSError as error:
        log.warning("agent server not started node=%s error=%s", config.node_name, error)
        return None, config.port
    return server, port


def run_cri_command(
    *,
    kubeconfig: Path | None,
    data_dir: Path | None,
    node_name: str | None,
    node_ip: str | None,
    pod_cidr: str | None,
    cluster_cidr: str,
    max_pods: int,
    reserved: tuple[str, str],
    allow_privileged: bool,
    cluster_dns: tuple[str, ...],
    ip_forward: bool,
    port: int,
    cgroup_parent: str,
    netns: Path | None,
    labels: tuple[str, ...],
    lease_interval: float,
    log_level: str,
) -> None:
    """Check the flags of `pykube node --runtime cri`, then run the node until SIGINT or SIGTERM."""
    import click
    import uvloop

    from pykube_control.agent.node_info import parse_reserved
    from pykube_control.cli.config import default_data_dir

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    total: dict[str, int] = {}
    for text, flag in zip(reserved, ("--kube-reserved", "--system-reserved")):
        try:
            for name, amount in parse_reserved(text, flag=flag).items():
                total[name] = total.get(name, 0) + amount
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint=flag) from None
    label_map: dict[str, str] = {}
    for label in labels:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"label {label!r} is not KEY=VALUE", param_hint="--label")
        label_map[key] = value
    if pod_cidr is not None:
        try:
            ipaddress.IPv4Network(pod_cidr)
        except ValueError as error:
            raise click.BadParameter(f"invalid pod CIDR {pod_cidr!r}: {error}", param_hint="--pod-cidr") from None
    directory = (data_dir or default_data_dir()).absolute()
    agent = AgentConfig(
        node_name=node_name or socket.gethostname().lower(), node_ip=node_ip or default_node_ip(), data_dir=directory,
        pod_cidr=pod_cidr, reserved=total, max_pods=max_pods, labels=label_map, allow_privileged=allow_privileged,
        cluster_dns=cluster_dns, port=port, lease_interval=lease_interval, cgroup_parent=cgroup_parent, netns=netns,
    )  # fmt: skip
    options = CRINodeOptions(kubeconfig=kubeconfig, agent=agent, cluster_cidr=cluster_cidr, ip_forward=ip_forward)

    async def main() -> None:
        task = asyncio.ensure_future(run_cri_node(options))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    uvloop.run(main())
