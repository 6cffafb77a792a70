"""`pykube controller-manager`: run the controllers in the foreground."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import uuid
from pathlib import Path

import click


@click.command("controller-manager")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KUBECONFIG",
    help="Kubeconfig of the API server (default: $KUBECONFIG, then ~/.kube/config).",
)
@click.option(
    "--controllers",
    default="*",
    show_default=True,
    help="Comma-separated controller names to run, or * for all.",
)
@click.option("--workers", type=int, default=5, show_default=True, help="Concurrent reconciles per controller.")
@click.option("--leader-elect/--no-leader-elect", default=True, show_default=True, help="Run only while holding the Lease.")
@click.option(
    "--cluster-signing-cert-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM CA certificate that signs approved kubelet client CSRs (csrsigning); needs --cluster-signing-key-file.",
)
@click.option(
    "--cluster-signing-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM private key of --cluster-signing-cert-file.",
)
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
def controller_manager_command(
    kubeconfig: Path | None,
    controllers: str,
    workers: int,
    leader_elect: bool,
    cluster_signing_cert_file: Path | None,
    cluster_signing_key_file: Path | None,
    log_level: str,
) -> None:
    """Run the controllers that drive objects toward their spec."""
    import uvloop

    from pykube_control.client.api import APIClient
    from pykube_control.controllers import registry
    from pykube_control.controllers.manager import run_controllers, run_with_leader_election
    from pykube_control.gc_tuning import tune_for_daemon

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    tune_for_daemon()
    names = sorted(registry.CONTROLLERS) if controllers == "*" else [n.strip() for n in controllers.split(",") if n]
    unknown = [n for n in names if n not in registry.CONTROLLERS]
    if unknown:
        raise click.BadParameter(
            f"unknown controller(s) {', '.join(unknown)}; known: {', '.join(sorted(registry.CONTROLLERS))}",
            param_hint="--controllers",
        )

    if (cluster_signing_cert_file is None) != (cluster_signing_key_file is None):
        raise click.BadParameter(
            "pass both --cluster-signing-cert-file and --cluster-signing-key-file, or neither",
            param_hint="--cluster-signing-cert-file",
        )
    signing_files = (
        (cluster_signing_cert_file, cluster_signing_key_file)
        if cluster_signing_cert_file is not None and cluster_signing_key_file is not None
        else None
    )

    async def main() -> None:
        client = APIClient.from_kubeconfig(kubeconfig)
        loop = asyncio.get_running_loop()
        identity = f"{socket.gethostname()}_{uuid.uuid4()}"
        if leader_elect:
            task = asyncio.ensure_future(
                run_with_leader_election(client, names, identity, workers=workers, cluster_signing_files=signing_files)
            )
        else:
            task = asyncio.ensure_future(run_controllers(client, names, workers=workers, cluster_signing_files=signing_files))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            return
        finally:
            await client.close()
        if leader_elect:
            # Like its Kubernetes counterpart, the controller manager exits when it loses
            # the Lease, and its supervisor starts it again as a new candidate.
            raise click.ClickException("lost the leader election Lease; exiting so that a supervisor restarts the controller manager")

    uvloop.run(main())
