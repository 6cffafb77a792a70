"""`pykube node`: run a node agent in the foreground; for now only the fake (hollow node) runtime."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from pykube_control.agent.fake_status import MAX_NODES


@click.command("node")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KUBECONFIG",
    help="Kubeconfig of the API server (default: $KUBECONFIG, then ~/.kube/config).",
)
@click.option(
    "--runtime",
    type=click.Choice(["fake"]),
    required=True,
    help="Container runtime; fake registers hollow nodes that report pods Running without running them.",
)
@click.option("--count", type=click.IntRange(1, MAX_NODES), default=1, show_default=True, help="Hollow nodes to register.")
@click.option("--prefix", default="fake-node-", show_default=True, help="Node name prefix; names end with the node's index.")
@click.option("--first-index", type=click.IntRange(0, MAX_NODES - 1), default=0, show_default=True,
              help="Index of the first node; give each process its own range so pod IPs do not overlap.")  # fmt: skip
@click.option("--cpu", default="4", show_default=True, help="CPU capacity of each node, as a quantity.")
@click.option("--memory", default="16Gi", show_default=True, help="Memory capacity of each node, as a quantity.")
@click.option("--pods", type=click.IntRange(1, 250), default=110, show_default=True, help="Pod capacity of each node.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Label for every node; repeatable.")
@click.option("--lease-interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds between renewals of each node's Lease in kube-node-lease.")  # fmt: skip
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
def node_command(
    kubeconfig: Path | None,
    runtime: str,
    count: int,
    prefix: str,
    first_index: int,
    cpu: str,
    memory: str,
    pods: int,
    labels: tuple[str, ...],
    lease_interval: float,
    log_level: str,
) -> None:
    """Register nodes and run the pods bound to them."""
    import uvloop

    from pykube_control.agent.fake import FakeNodes
    from pykube_control.client.api import APIClient

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    label_map = {}
    for label in labels:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"label {label!r} is not KEY=VALUE", param_hint="--label")
        label_map[key] = value
    if first_index + count > MAX_NODES:
        raise click.BadParameter(f"--first-index {first_index} plus --count {count} exceeds {MAX_NODES} nodes")

    async def main() -> None:
        client = APIClient.from_kubeconfig(kubeconfig)
        fake = FakeNodes(
            client, count, prefix=prefix, cpu=cpu, memory=memory, pods=pods, labels=label_map,
            first_index=first_index, lease_interval=lease_interval,
        )  # fmt: skip
        task = asyncio.ensure_future(fake.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            await client.close()

    uvloop.run(main())
