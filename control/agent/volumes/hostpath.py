"""hostPath volumes: the type check (and creation) that the volume's ``type`` requests.

The empty type checks nothing, as in Kubernetes. DirectoryOrCreate makes the
directory with its parents (mode 0755); FileOrCreate makes an empty file
(mode 0644) but not its parent directory, as the kubelet does. The other
types require an existing path of that kind.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from pykube_control.agent.volumes.errors import VolumeError

HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice")

_KIND_CHECKS = {
    "Directory": (stat.S_ISDIR, "a directory"),
    "File": (stat.S_ISREG, "a file"),
    "Socket": (stat.S_ISSOCK, "a socket file"),
    "CharDevice": (stat.S_ISCHR, "a character device"),
    "BlockDevice": (stat.S_ISBLK, "a block device"),
}


def prepare_host_path(volume: str, path: str, path_type: str) -> Path:
    """Check (and for the *OrCreate types create) ``path``; return it.

    Raise VolumeError when the type is unknown, the path is not absolute, or
    the path is missing or of another kind than ``path_type`` requires.
    """
    if path_type not in HOST_PATH_TYPES:
        raise VolumeError(volume, f"unknown hostPath type {path_type!r}; use one of {', '.join(HOST_PATH_TYPES[1:])}")
    if not path.startswith("/"):
        raise VolumeError(volume, f"hostPath {path!r} is not absolute; give a path that starts with /")
    host = Path(path)
    if path_type == "DirectoryOrCreate":
        _create(volume, host, lambda: host.mkdir(mode=0o755, parents=True, exist_ok=True))
        path_type = "Directory"
    elif path_type == "FileOrCreate" and not host.exists():
        _create(volume, host, lambda: _create_empty_file(host))
        path_type = "File"
    if path_type:
        _check_kind(volume, host, path_type)
    return host


def _create_empty_file(path: Path) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(descriptor)


def _create(volume: str, path: Path, create: Callable[[], None]) -> None:
    try:
        create()
    except FileExistsError:
        pass  # a file where a directory is asked for: the kind check names it
    except OSError as error:
        raise VolumeError(volume, f"hostPath type check failed: cannot create {path}: {error.strerror}") from None


def _check_kind(volume: str, path: Path, path_type: str) -> None:
    check, noun = _KIND_CHECKS[path_type]
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise VolumeError(volume, f"hostPath type check failed: {path} does not exist, but type {path_type} requires it") from None
    if not check(mode):
        raise VolumeError(volume, f"hostPath type check failed: {path} is not {noun}")
