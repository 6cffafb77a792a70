"""`pykube apiserver`: run the API server in the foreground."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from pykube_control.cli.config import default_data_dir


@click.command("apiserver")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PYKUBE_DATA_DIR",
    default=default_data_dir,
    show_default="/var/lib/pykube as root, else ~/.local/share/pykube",
    help="Directory of the store, certificates, tokens and kubeconfig.",
)
@click.option("--host", default="0.0.0.0", show_default=True, envvar="PYKUBE_APISERVER_HOST", help="Address to listen on.")
@click.option("--port", type=int, default=6443, show_default=True, envvar="PYKUBE_APISERVER_PORT", help="TCP port to listen on.")
@click.option(
    "--etcd-endpoints",
    envvar="PYKUBE_ETCD_ENDPOINTS",
    help="Comma-separated etcd endpoints (host:port or http://host:port); without it the store is SQLite in the data directory.",
)
@click.option("--advertise-address", help="Address clients use to reach this server (default: 127.0.0.1).")
@click.option("--tls-san", "tls_sans", multiple=True, help="Extra name or IP for the serving certificate; repeatable.")
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve plain HTTP without authentication (loopback addresses only; for tests).",
)
@click.option(
    "--service-cluster-ip-range",
    default="10.96.0.0/12",
    show_default=True,
    envvar="PYKUBE_SERVICE_CLUSTER_IP_RANGE",
    help="CIDR that Service cluster IPs are allocated from; its first address goes to the kubernetes Service.",
)
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
def apiserver_command(
    data_dir: Path,
    host: str,
    port: int,
    etcd_endpoints: str | None,
    advertise_address: str | None,
    tls_sans: tuple[str, ...],
    insecure: bool,
    service_cluster_ip_range: str,
    log_level: str,
) -> None:
    """Run the Kubernetes-compatible API server."""
    import uvloop

    from pykube_control.apiserver.app import APIServerConfig, start_apiserver
    from pykube_control.gc_tuning import tune_for_daemon

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    tune_for_daemon()
    config = APIServerConfig(
        data_dir=data_dir,
        host=host,
        port=port,
        store_url=_store_url(etcd_endpoints),
        insecure=insecure,
        advertise_address=advertise_address,
        extra_sans=tls_sans,
        service_cluster_ip_range=service_cluster_ip_range,
    )

    async def main() -> None:
        from pykube_control.store.errors import StoreError

        try:
            running = await start_apiserver(config)
        except (OSError, ValueError, StoreError) as exc:
            raise click.ClickException(str(exc)) from None
        if running.kubeconfig is not None:
            click.echo(f"export KUBECONFIG={running.kubeconfig}")
        click.echo(f"pykube apiserver serving {running.url} (listening on {host}:{running.port})")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await running.stop()

    uvloop.run(main())


def _store_url(etcd_endpoints: str | None) -> str | None:
    from pykube_control.cli.config import parse_etcd_endpoints

    if not etcd_endpoints:
        return None
    try:
        return "etcd://" + parse_etcd_endpoints(etcd_endpoints)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--etcd-endpoints") from None
