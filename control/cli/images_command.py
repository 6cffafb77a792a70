"""`pykube images`: put images on a node without a registry, and list them.

The commands talk to the node agent's containerd on
``<data-dir>/containerd/containerd.sock``. When it is not running,
``import`` and ``build-busybox`` copy the tarball into
``<data-dir>/images/`` instead, and the node agent imports it at its next
start, so the commands work before the node is up.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from pykube_control.agent.containerd import ContainerdPaths
from pykube_control.agent.image_build import BUSYBOX, build_busybox_image
from pykube_control.agent.images import IMAGES_DIR, ImageError, import_archive, is_fully_qualified
from pykube_control.cli.config import default_data_dir
from pykube_control.cri.client import CRIClient
from pykube_control.cri.errors import CRIError

RUNNING_CHECK_TIMEOUT = 2.0
"""Seconds to wait for containerd's CRI Version reply before treating it as stopped."""


async def _containerd_running(socket: Path) -> bool:
    if not socket.exists():
        return False
    async with CRIClient(socket, timeout=RUNNING_CHECK_TIMEOUT) as cri:
        try:
            await cri.version()
        except CRIError:
            return False
    return True


def _import_or_queue(data_dir: Path, archive: Path, base_name: str | None) -> None:
    """Import ``archive`` now if containerd runs, else copy it into the images folder."""
    socket = ContainerdPaths.under(data_dir).socket
    if asyncio.run(_containerd_running(socket)):
        try:
            names = asyncio.run(import_archive(socket, archive, base_name=base_name))
        except ImageError as exc:
            click.echo(f"pykube images: {exc}", err=True)
            sys.exit(1)
        for name in names:
            click.echo(f"imported {name}")
        return
    if base_name:
        click.echo(
            "pykube images: --base-name needs the node's containerd running; "
            f"start the node agent for {data_dir} first",
            err=True,
        )
        sys.exit(1)
    folder = data_dir / IMAGES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (archive.name if archive.name.endswith(".tar") else archive.name + ".tar")
    if archive.resolve() != target.resolve():
        shutil.copyfile(archive, target)
    click.echo(f"containerd is not running for {data_dir}; queued {target} for import at the next node start")


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PYKUBE_DATA_DIR",
    default=default_data_dir,
    show_default="/var/lib/pykube as root, else ~/.local/share/pykube",
    help="Data directory of the node whose containerd gets the images.",
)


@click.group("images")
def images_group() -> None:
    """Import, build and list the node's container images."""


@images_group.command("import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--base-name",
    help="Image name for an OCI archive whose index has only tags, like localhost/myapp.",
)
@data_dir_option
def import_command(archive: Path, base_name: str | None, data_dir: Path) -> None:
    """Import ARCHIVE, an OCI image layout or docker-archive tarball.

    Unqualified names are renamed to localhost/<name>; refer to the image
    by that name in pod specs.
    """
    _import_or_queue(data_dir, archive, base_name)


@images_group.command("build-busybox")
@click.argument("name")
@click.option(
    "--busybox",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=BUSYBOX,
    show_default=True,
    help="Static busybox binary to package.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the OCI tarball to this file instead of importing it.",
)
@data_dir_option
def build_busybox_command(name: str, busybox: Path, output: Path | None, data_dir: Path) -> None:
    """Build a busybox image called NAME (like localhost/busybox:1) and import it.

    The tarball stays in the data directory's images folder, so the node
    imports it again whenever its containerd starts on an empty root.
    """
    if not is_fully_qualified(name):
        raise click.BadParameter(
            f"{name!r} has no registry host; use a fully qualified name like localhost/{name}",
            param_hint="NAME",
        )
    archive_bytes = build_busybox_image(name, busybox)
    if output is not None:
        output.write_bytes(archive_bytes)
        click.echo(f"wrote {output}")
        return
    folder = data_dir / IMAGES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / (name.rsplit("/", 1)[-1].replace(":", "_") + ".tar")
    archive.write_bytes(archive_bytes)
    _import_or_queue(data_dir, archive, None)


@images_group.command("list")
@data_dir_option
def list_command(data_dir: Path) -> None:
    """List the images of the node's containerd."""
    socket = ContainerdPaths.under(data_dir).socket

    async def list_images() -> list[tuple[str, str, int]]:
        async with CRIClient(socket, timeout=10.0) as cri:
            images = await cri.list_images()
        return [
            (", ".join(image.repo_tags) or "<none>", image.id.removeprefix("sha256:")[:12], image.size)
            for image in images
        ]

    try:
        rows = asyncio.run(list_images())
    except CRIError as exc:
        click.echo(f"pykube images: {exc}", err=True)
        sys.exit(1)
    table = Table("NAME", "IMAGE ID", "SIZE", box=None)
    for names, image_id, size in sorted(rows):
        table.add_row(names, image_id, f"{size / 1e6:.1f} MB")
    Console(width=200).print(table)
