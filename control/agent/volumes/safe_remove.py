"""Removing a pod's directory tree without ever descending into a mounted filesystem.

The manager unmounts first and checks the mount table, but a mount could
appear between the check and the removal (a runtime bind-mounting into the
tree, say). So the walk compares every directory's device with the root's and
stops at the first directory on another device, removing nothing there.
Symlinks are removed as links, never followed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class MountedDirectoryError(OSError):
    """A directory inside the tree is on another filesystem, so the tree is left partly removed."""


def remove_tree(root: Path) -> None:
    """Remove ``root`` and everything under it; raise MountedDirectoryError at a directory on another device."""
    device = os.lstat(root).st_dev
    _remove_children(root, device)
    os.rmdir(root)


def _remove_children(directory: Path, device: int) -> None:
    with os.scandir(directory) as entries:
        children = list(entries)
    for entry in children:
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            if info.st_dev != device:
                raise MountedDirectoryError(f"{entry.path} is on another filesystem (a mount); it was not removed")
            _remove_children(Path(entry.path), device)
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)
