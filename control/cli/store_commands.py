"""`pykube store`: inspect and maintain a store directly.

These commands open the store themselves, so for the SQLite store they work
only while no API server has it open (the store allows one process at a time).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from rich.table import Table

from pykube_control.cli.config import default_data_dir, store_url
from pykube_control.store import open_store
from pykube_control.store.errors import StoreError
from pykube_control.store.interface import Store

T = TypeVar("T")


def run_with_store(url: str, action: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = await open_store(url)
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except StoreError as exc:
        click.echo(f"pykube store: {exc}", err=True)
        sys.exit(1)


@click.group("store")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PYKUBE_DATA_DIR",
    default=default_data_dir,
    show_default="/var/lib/pykube as root, else ~/.local/share/pykube",
    help="Data directory whose SQLite store to open.",
)
@click.option(
    "--etcd-endpoints",
    envvar="PYKUBE_ETCD_ENDPOINTS",
    help="Comma-separated etcd host:port list; use etcd instead of SQLite.",
)
@click.pass_context
def store_group(ctx: click.Context, data_dir: Path, etcd_endpoints: str | None) -> None:
    """Inspect and maintain the object store."""
    ctx.obj = store_url(data_dir, etcd_endpoints)


@store_group.command("info")
@click.pass_obj
def info(url: str) -> None:
    """Print the store URL and its current revision."""

    async def action(store: Store) -> int:
        return await store.current_revision()

    revision = run_with_store(url, action)
    click.echo(f"store: {url}\nrevision: {revision}")


@store_group.command("list")
@click.argument("prefix", default="/")
@click.option("--limit", type=int, default=0, help="Maximum number of keys to print (0: all).")
@click.pass_obj
def list_keys(url: str, prefix: str, limit: int) -> None:
    """List keys under PREFIX with their revisions."""

    async def action(store: Store) -> list[tuple[str, str, str, str]]:
        result = await store.list(prefix, limit=limit)
        return [(kv.key, str(kv.create_revision), str(kv.mod_revision), str(len(kv.value))) for kv in result.items]

    rows = run_with_store(url, action)
    if not sys.stdout.isatty():
        # Plain tab-separated lines keep long keys whole for pipes and scripts.
        for row in rows:
            click.echo("\t".join(row))
        return
    table = Table("key", "create revision", "mod revision", "bytes")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@store_group.command("get")
@click.argument("key")
@click.pass_obj
def get(url: str, key: str) -> None:
    """Print the value stored under KEY."""

    async def action(store: Store) -> bytes:
        return (await store.get(key)).value

    sys.stdout.buffer.write(run_with_store(url, action) + b"\n")


@store_group.command("compact")
@click.option("--keep", type=int, default=1000, show_default=True, help="Revisions of history to keep.")
@click.pass_obj
def compact(url: str, keep: int) -> None:
    """Discard history older than the last KEEP revisions."""

    async def action(store: Store) -> int:
        target = await store.current_revision() - keep
        if target > 0:
            await store.compact(target)
        return target

    target = run_with_store(url, action)
    click.echo(f"compacted to revision {target}" if target > 0 else "nothing to compact")
