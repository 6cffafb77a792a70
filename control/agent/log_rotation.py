"""Rotating container logs by size, with the runtime reopening its log file.

When ``<n>.log`` reaches ``max_bytes`` it is renamed to
``<n>.log.<UTC time as 20261204-224001>`` and the runtime is asked to reopen
the log path (the CRI's ReopenContainerLog), so it starts a new file. At
most ``max_files`` files are kept, the current one included. Rotated files
older than the newest one are gzip-compressed, because the newest may still
be read by a ``kubectl logs -f`` that has not switched yet. This follows the
kubelet's container log manager (defaults 10 MiB and 5 files).
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from pykube_control.cri.client import CRIClient
from pykube_control.cri.errors import CRIError

log = logging.getLogger("pykube.agent.logs")

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 5

Reopen = Callable[[], Awaitable[None]]
"""Ask the runtime to reopen the container's log path (CRI ReopenContainerLog)."""


async def rotate(
    path: Path, max_bytes: int, max_files: int, reopen: Reopen, *, now: datetime.datetime | None = None
) -> bool:
    """Rotate ``path`` when its size is ``max_bytes`` or more; return True when it did.

    If ``reopen`` raises, the file is renamed back so the runtime keeps
    writing where readers look, and the error propagates.
    """
    if max_files < 2:
        raise ValueError(f"max_files={max_files} is invalid: rotation needs at least 2 (the current file and one old)")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size < max_bytes:
        return False

    old = rotated_files(path)
    for stale in old[: max(0, len(old) - (max_files - 2))]:
        stale.unlink(missing_ok=True)
        log.info("removed rotated log path=%s", stale)

    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{stamp}")
    suffix = 0
    while target.exists() or target.with_name(target.name + ".gz").exists():
        suffix += 1
        target = path.with_name(f"{path.name}.{stamp}-{suffix}")
    os.rename(path, target)
    try:
        await reopen()
    except BaseException:
        os.rename(target, path)
        log.warning("log reopen failed, rotation undone path=%s", path)
        raise
    for uncompressed in [entry for entry in rotated_files(path)[:-1] if entry.suffix != ".gz"]:
        _compress(uncompressed)
    log.info("rotated log path=%s size_bytes=%d rotated=%s", path, size, target.name)
    return True


def rotated_files(path: Path) -> list[Path]:
    """Return the rotated files of ``path`` (compressed or not), oldest first."""
    prefix = path.name + "."
    found = [entry for entry in path.parent.iterdir() if entry.name.startswith(prefix)]
    return sorted(found, key=lambda entry: entry.name.removesuffix(".gz"))


def _compress(path: Path) -> None:
    target = path.with_name(path.name + ".gz")
    with open(path, "rb") as source, gzip.open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)
    path.unlink()


async def rotate_all(
    logs_dir: Path, max_bytes: int, max_files: int, reopen_for: Callable[[Path], Reopen | None]
) -> list[Path]:
    """Rotate every current ``<n>.log`` under ``logs_dir`` that reached ``max_bytes``; return the paths rotated.

    ``reopen_for(path)`` returns the reopen callback of the container that
    writes ``path``, or None when no running container does (then the file
    is left alone, because no runtime would start a new one). A failed
    rotation is logged and the others go on; the next call retries it.
    """
    rotated = []
    for path in sorted(logs_dir.glob("*/*/*.log")):
        if not path.name.removesuffix(".log").isdigit():
            continue
        reopen = reopen_for(path)
        if reopen is None:
            continue
        try:
            if await rotate(path, max_bytes, max_files, reopen):
                rotated.append(path)
        except Exception as error:  # the runtime's reopen error, or an OSError of the files
            log.warning("log rotation failed path=%s error=%s", path, error)
    return rotated


ROTATION_INTERVAL = 10.0
"""Seconds between two passes of ``rotation_loop``, the kubelet's default log monitor period."""


async def running_log_paths(cri: CRIClient, logs_dir: Path) -> dict[Path, str]:
    """Return the current log file of every running container, mapped to the container's id.

    The pod worker gives each sandbox the log directory
    ``<logs_dir>/<namespace>_<pod>_<uid>`` and each container the log path
    ``<name>/<attempt>.log`` inside it, so both follow from CRI metadata.
    """
    from pykube_control.cri.proto import api_pb2

    sandboxes = {box.id: box.metadata for box in await cri.list_pod_sandbox()}
    paths = {}
    for container in await cri.list_containers(state=api_pb2.CONTAINER_RUNNING):
        pod = sandboxes.get(container.pod_sandbox_id)
        if pod is None:
            continue
        directory = logs_dir / f"{pod.namespace}_{pod.name}_{pod.uid}" / container.metadata.name
        paths[directory / f"{container.metadata.attempt}.log"] = container.id
    return paths


async def rotation_loop(
    cri: CRIClient,
    logs_dir: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    interval: float = ROTATION_INTERVAL,
) -> None:
    """Rotate the logs of the running containers every ``interval`` seconds, until cancelled."""
    while True:
        try:
            paths = await running_log_paths(cri, logs_dir)

            def reopen_for(path: Path) -> Reopen | None:
                container_id = paths.get(path)
                if container_id is None:
                    return None
                return lambda: cri.reopen_container_log(container_id)

            await rotate_all(logs_dir, max_bytes, max_files, reopen_for)
        except CRIError as error:
            log.warning("log rotation pass failed error=%s", error)
        await asyncio.sleep(interval)
