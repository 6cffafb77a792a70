"""`pykube scheduler`: run the scheduler daemon in the foreground."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import uuid
from pathlib import Path

import click


@click.command("scheduler")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KUBECONFIG",
    help="Kubeconfig of the API server (default: $KUBECONFIG, then ~/.kube/config).",
)
@click.option(
    "--leader-elect/--no-leader-elect",
    default=True,
    show_default=True,
    help="Schedule only while holding the kube-scheduler Lease in kube-system.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) file: scoring, percentageOfNodesToScore, back-off, schedulerName.",
)
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
def scheduler_command(kubeconfig: Path | None, leader_elect: bool, config_path: Path | None, log_level: str) -> None:
    """Place pending pods of the default-scheduler (or the configured schedulerName) on nodes."""
    import uvloop

    from pykube_control.client.api import APIClient
    from pykube_control.gc_tuning import tune_for_daemon
    from pykube_control.scheduler.config import ConfigError, SchedulerSettings, load_config
    from pykube_control.scheduler.daemon import run_scheduler

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    tune_for_daemon()
    try:
        settings = load_config(config_path) if config_path is not None else SchedulerSettings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def main() -> None:
        client = APIClient.from_kubeconfig(kubeconfig)
        identity = f"{socket.gethostname()}_{uuid.uuid4()}"
        task = asyncio.ensure_future(run_scheduler(client, leader_elect=leader_elect, identity=identity, settings=settings))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            return
        finally:
            await client.close()
        if leader_elect:
            # Like its Kubernetes counterpart, the scheduler exits when it loses
            # the Lease, and its supervisor starts it again as a new candidate.
            raise click.ClickException("lost the leader election Lease; exiting so that a supervisor restarts the scheduler")

    uvloop.run(main())
