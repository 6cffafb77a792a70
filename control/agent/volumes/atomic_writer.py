"""Writing a payload into a volume directory so that readers see each update as one step.

The layout is the kubelet's, because programs in containers (and tools
built for Kubernetes) rely on it::

    <volume>/..2026_12_04_22_40_01.123456789/<files>   one directory per version
    <volume>/..data -> ..2026_12_04_22_40_01.123456789
    <volume>/<top-level name> -> ..data/<top-level name>

An update writes a new version directory, points a ``..data_tmp`` symlink at
it and renames that over ``..data``. rename(2) replaces the link
atomically, so a reader that opens ``<volume>/key`` sees the old or the new
file, never a mix. Then the top-level links are brought in line and the old
version directory is removed.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
from pathlib import Path, PurePosixPath

from pykube_control.agent.volumes.errors import VolumeError
from pykube_control.agent.volumes.ownership import READ_ONLY_BITS, apply_fs_group
from pykube_control.agent.volumes.payload import Payload

log = logging.getLogger("pykube.agent.volumes")

DATA_LINK = "..data"
DATA_LINK_TMP = "..data_tmp"


def write_payload(volume: str, directory: Path, payload: Payload, *, fs_group: int | None = None) -> bool:
    """Make ``directory`` show exactly ``payload``; return False when it already did (nothing written).

    With ``fs_group``, the files get that group and group read, as
    ``ownership.apply_fs_group`` gives read-only volumes. Raise VolumeError
    for a path that is absolute, contains "..", or starts with ".." (the
    names reserved for the version directories).
    """
    for path in payload:
        check_payload_path(volume, path)
    directory.mkdir(parents=True, exist_ok=True)
    old_version = _current_version(directory)
    group_bits = READ_ONLY_BITS if fs_group is not None else 0
    if old_version is not None and _same_content(directory / old_version, payload, group_bits):
        return False

    new_version = _new_version_dir(directory)
    for path, (content, mode) in payload.items():
        target = directory / new_version / path
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        target.write_bytes(content)
        os.chmod(target, mode)

    tmp_link = directory / DATA_LINK_TMP
    tmp_link.unlink(missing_ok=True)
    os.symlink(new_version, tmp_link)
    os.rename(tmp_link, directory / DATA_LINK)

    _update_visible_links(directory, {PurePosixPath(path).parts[0] for path in payload})
    if old_version is not None and old_version != new_version:
        shutil.rmtree(directory / old_version, ignore_errors=True)
    if fs_group is not None:
        apply_fs_group(directory, fs_group, readonly=True)
    log.info("wrote volume files volume=%s directory=%s files=%d", volume, directory, len(payload))
    return True


def check_payload_path(volume: str, path: str) -> None:
    """Raise VolumeError unless ``path`` is a relative path that stays inside the volume."""
    parts = PurePosixPath(path).parts
    if not path or path.startswith("/") or ".." in parts or parts[0].startswith(".."):
        raise VolumeError(volume, f"invalid file path {path!r}: it must be relative, without '..' and not start with '..'")


def _current_version(directory: Path) -> str | None:
    try:
        return os.readlink(directory / DATA_LINK)
    except FileNotFoundError:
        return None


def _same_content(version_dir: Path, payload: Payload, group_bits: int) -> bool:
    existing: set[str] = set()
    for root, _, files in os.walk(version_dir):
        for name in files:
            existing.add(os.path.relpath(os.path.join(root, name), version_dir))
    if existing != set(payload):
        return False
    for path, (content, mode) in payload.items():
        target = version_dir / path
        if target.read_bytes() != content or (target.stat().st_mode & 0o7777) != mode | group_bits:
            return False
    return True


def _new_version_dir(directory: Path) -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc)
    base = f"..{stamp:%Y_%m_%d_%H_%M_%S}.{stamp.microsecond:06d}"
    name, suffix = base, 0
    while (directory / name).exists():
        suffix += 1
        name = f"{base}{suffix}"
    (directory / name).mkdir(mode=0o755)
    return name


def _update_visible_links(directory: Path, names: set[str]) -> None:
    for name in names:
        link = directory / name
        if not link.is_symlink():
            os.symlink(f"{DATA_LINK}/{name}", link)
    for entry in os.listdir(directory):
        if entry.startswith("..") or entry in names:
            continue
        stale = directory / entry
        if stale.is_symlink():
            stale.unlink()
