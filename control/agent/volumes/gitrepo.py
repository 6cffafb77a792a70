"""gitRepo volumes: clone a repository into the volume with the git command.

gitRepo is deprecated in Kubernetes because git runs as the node agent on
a URL the pod's author chooses. It stays for compatibility. ``directory``
"" clones into a subdirectory named after the repository, "." into the
volume itself, anything else into that subdirectory. ``revision`` is checked
out after the clone. A volume that already contains the clone is left alone,
so the agent may call this again after a restart.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path, PurePosixPath
from typing import Any

from pykube_control.agent.volumes.errors import VolumeError

GIT_TIMEOUT = 120.0
"""Seconds one git command may run; a clone of a large repository over a slow link needs minutes."""


async def clone_repository(volume: str, source: dict[str, Any], target: Path, timeout: float = GIT_TIMEOUT) -> None:
    """Clone ``source["repository"]`` into ``target`` and check out ``source["revision"]``."""
    repository = str(source.get("repository") or "")
    directory = str(source.get("directory") or "")
    if not repository:
        raise VolumeError(volume, "gitRepo.repository is empty; give a repository URL")
    if repository.startswith("-") or str(source.get("revision") or "").startswith("-"):
        raise VolumeError(volume, "gitRepo repository and revision must not start with '-', which git reads as an option")
    if directory.startswith("/") or ".." in PurePosixPath(directory).parts:
        raise VolumeError(volume, f"invalid gitRepo.directory {directory!r}: it must be relative, without '..'")
    target.mkdir(parents=True, exist_ok=True, mode=0o750)
    if any(target.iterdir()):
        return

    await _git(volume, target, timeout, "clone", "--", repository, *([directory] if directory else []))
    revision = str(source.get("revision") or "")
    if not revision:
        return
    if directory == ".":
        checkout = target
    elif directory:
        checkout = target / directory
    else:
        entries = list(target.iterdir())
        if len(entries) != 1:
            raise VolumeError(volume, f"expected one directory after git clone in {target}, found {len(entries)}")
        checkout = entries[0]
    await _git(volume, checkout, timeout, "checkout", revision)
    await _git(volume, checkout, timeout, "reset", "--hard")


async def _git(volume: str, cwd: Path, timeout: float, *arguments: str) -> None:
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    process = await asyncio.create_subprocess_exec(
        "git", *arguments, cwd=cwd, env=environment,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise VolumeError(volume, f"git {arguments[0]} timed out after {timeout:g}s in {cwd}") from None
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise VolumeError(volume, f"git {arguments[0]} failed with exit code {process.returncode}: {message[0]}")
