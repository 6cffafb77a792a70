"""The `pykube` command. Each daemon and tool is a subcommand.

Subcommands load lazily: `pykube` imports a subcommand's module only when
that subcommand runs (or when --help lists them all). Every daemon of
`pykube up` is a separate `pykube <subcommand>` process, so importing only
what one daemon needs shortens each start, the API server's first of all.
"""

from __future__ import annotations

import importlib

import click

from pykube_core import __version__

SUBCOMMANDS = {
    "apiserver": "pykube_control.cli.apiserver_command:apiserver_command",
    "controller-manager": "pykube_control.cli.controller_manager_command:controller_manager_command",
    "down": "pykube_control.cli.up_command:down_command",
    "images": "pykube_control.cli.images_command:images_group",
    "node": "pykube_control.cli.node_command:node_command",
    "proxy": "pykube_control.cli.proxy_command:proxy_command",
    "scheduler": "pykube_control.cli.scheduler_command:scheduler_command",
    "store": "pykube_control.cli.store_commands:store_group",
    "up": "pykube_control.cli.up_command:up_command",
}
"""Subcommand name to "module:attribute" of its click command."""


class LazyGroup(click.Group):
    """A click group whose SUBCOMMANDS are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS:
            module, _, attribute = SUBCOMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command), f"{SUBCOMMANDS[cmd_name]} is not a click command"
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup)
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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
