"""fsGroup: giving a pod's supplemental group access to the files of its volumes.

With ``spec.securityContext.fsGroup`` set, every file and directory of an
emptyDir, gitRepo, configMap, secret, downwardAPI or projected volume gets
that group. Files gain group read (and write, unless the volume is
read-only), and directories also gain group search and the setgid bit, so
files that containers create later inherit the group. Symlinks get the group
but keep their mode. These are the kubelet's rules (SetVolumeOwnership in
pkg/volume/volume_linux.go, Kubernetes 1.30).

Differences from Kubernetes: fsGroupChangePolicy OnRootMismatch is treated
as Always, so large volumes are walked on every setup and refresh.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

READ_WRITE_BITS = 0o660
READ_ONLY_BITS = 0o440
DIRECTORY_SEARCH_BITS = 0o110


def apply_fs_group(root: Path, group_id: int, *, readonly: bool) -> None:
    """Set the group of everything under ``root`` (``root`` included) to ``group_id`` and widen group modes."""
    _change(root, group_id, readonly)
    for directory, subdirectories, files in os.walk(root):
        for name in (*subdirectories, *files):
            _change(Path(directory) / name, group_id, readonly)


def _change(path: Path, group_id: int, readonly: bool) -> None:
    info = os.lstat(path)
    os.lchown(path, -1, group_id)
    if stat.S_ISLNK(info.st_mode):
        return
    bits = READ_ONLY_BITS if readonly else READ_WRITE_BITS
    if stat.S_ISDIR(info.st_mode):
        bits |= stat.S_ISGID | DIRECTORY_SEARCH_BITS
    os.chmod(path, stat.S_IMODE(info.st_mode) | bits)
