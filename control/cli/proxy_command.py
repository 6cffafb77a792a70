"""`pykube proxy`: run the service proxy in the foreground, or remove its rules."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from pathlib import Path

import click


@click.command("proxy")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KUBECONFIG",
    help="Kubeconfig of the API server (default: $KUBECONFIG, then ~/.kube/config).",
)
@click.option("--node-name", envvar="NODE_NAME", help="Name of this node's Node object (default: the hostname).")
@click.option("--table", default="pykube", show_default=True, help="Name of the nftables table (family ip) the proxy owns.")
@click.option("--netns", help="Named network namespace (ip netns) to program instead of the process's own.")
@click.option(
    "--nodeport-address",
    "nodeport_addresses",
    multiple=True,
    help="IPv4 address that serves NodePorts; repeat for several (default: the Node's InternalIP and ExternalIP).",
)
@click.option(
    "--nodeport-loopback/--no-nodeport-loopback",
    default=False,
    show_default=True,
    help="Also serve NodePorts on 127.0.0.1; needs net.ipv4.conf.all.route_localnet=1.",
)
@click.option("--min-sync-interval", default=1.0, show_default=True, help="Seconds between two syncs, to coalesce bursts.")
@click.option("--full-sync-interval", default=3600.0, show_default=True, help="Seconds between full rebuilds of the table.")
@click.option("--health-bind-address", default="127.0.0.1:10256", show_default=True, help="host:port of /healthz and /metrics.")
@click.option("--cleanup", is_flag=True, help="Remove the proxy's table and exit.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
def proxy_command(
    kubeconfig: Path | None,
    node_name: str | None,
    table: str,
    netns: str | None,
    nodeport_addresses: tuple[str, ...],
    nodeport_loopback: bool,
    min_sync_interval: float,
    full_sync_interval: float,
    health_bind_address: str,
    cleanup: bool,
    log_level: str,
) -> None:
    """Make every Service reachable on this node through one nftables table."""
    import uvloop

    from pykube_control.client.api import APIClient
    from pykube_control.proxy.daemon import ProxyConfig, ProxyDaemon
    from pykube_control.proxy.daemon import cleanup as remove_table

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if cleanup:
        if not remove_table(table, netns):
            raise click.ClickException(f"removing nftables table ip {table} failed; see the log above")
        return

    host, _, port_text = health_bind_address.rpartition(":")
    if not host or not port_text.isdigit():
        raise click.BadParameter(f"expected host:port, got {health_bind_address!r}", param_hint="--health-bind-address")
    config = ProxyConfig(
        node_name=node_name or socket.gethostname(),
        table=table,
        netns=netns,
        nodeport_addresses=list(nodeport_addresses),
        nodeport_loopback=nodeport_loopback,
        min_sync_interval=min_sync_interval,
        full_sync_interval=full_sync_interval,
        health_host=host,
        health_port=int(port_text),
    )

    async def main() -> None:
        client = APIClient.from_kubeconfig(kubeconfig)
        daemon = ProxyDaemon(client, config)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        try:
            await daemon.start()
            await stopped.wait()
        finally:
            await daemon.stop()
            await client.close()

    uvloop.run(main())
