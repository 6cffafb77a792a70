"""The `pykube` command. Each daemon and tool is a subcommand."""

from __future__ import annotations

import click

from pykube_core import __version__
from pykube_control.cli.apiserver_command import apiserver_command
from pykube_control.cli.controller_manager_command import controller_manager_command
from pykube_control.cli.images_command import images_group
from pykube_control.cli.node_command import node_command
from pykube_control.cli.proxy_command import proxy_command
from pykube_control.cli.up_command import down_command, up_command
from pykube_control.cli.scheduler_command import scheduler_command
from pykube_control.cli.store_commands import store_group


@click.group()
@click.version_option(__version__, prog_name="pykube")
def cli() -> None:
    """pykube: a Kubernetes-compatible container orchestrator."""


@cli.command()
def version() -> None:
    """Print the pykube version and whether the native kernels are loaded."""
    from pykube_core import native_status

    click.echo(f"pykube {__version__}")
    for module, status in native_status().items():
        click.echo(f"{module}: {status}")


cli.add_command(store_group)
cli.add_command(apiserver_command)
cli.add_command(controller_manager_command)
cli.add_command(scheduler_command)
cli.add_command(node_command)
cli.add_command(up_command)
cli.add_command(down_command)
cli.add_command(images_group)
cli.add_command(proxy_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
