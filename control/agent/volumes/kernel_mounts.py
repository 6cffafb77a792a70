"""tmpfs mounts through mount(2) and umount2(2), and reading the mount table.

This is the only module of the volume manager that changes kernel state,
so tests can run it for real on a temporary directory. The mount table is
/proc/self/mountinfo, whose mount point field escapes space, tab, newline
and backslash as octal (\\040 and so on).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


class MountError(OSError):
    """mount(2) or umount2(2) failed; ``errno`` gives the reason (EPERM: no CAP_SYS_ADMIN)."""


def mount_tmpfs(target: Path, size_bytes: int | None, mode: int) -> None:
    """Mount a new tmpfs on ``target`` (a directory) with an optional size limit in bytes."""
    options = f"mode={mode:o}" + (f",size={size_bytes}" if size_bytes else "")
    result = _libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs", 0, options.encode())
    if result != 0:
        code = ctypes.get_errno()
        raise MountError(code, f"mount tmpfs on {target} failed: {os.strerror(code)}")


def unmount(target: Path, *, lazy: bool = False) -> None:
    """Unmount ``target``; a busy mount raises MountError with EBUSY and stays mounted.

    ``lazy`` (MNT_DETACH) detaches even a busy mount at once and frees it
    when the last user goes; only test cleanup uses it.
    """
    flags = MNT_DETACH if lazy else 0
    if _libc.umount2(os.fsencode(target), flags) != 0:
        code = ctypes.get_errno()
        raise MountError(code, f"unmount {target} failed: {os.strerror(code)}")


def mount_points() -> list[Path]:
    """Return every mount point in this process's mount namespace, in mount order."""
    points = []
    for line in MOUNTINFO.read_text().splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.append(Path(_unescape(fields[4])))
    return points


def mount_points_under(directory: Path) -> list[Path]:
    """Return the mount points at or below ``directory``, deepest (last mounted) first."""
    root = Path(os.path.realpath(directory))
    found = [point for point in mount_points() if point == root or root in point.parents]
    return list(reversed(found))


def is_mount_point(path: Path) -> bool:
    return Path(os.path.realpath(path)) in mount_points()


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    out, index = [], 0
    while index < len(field):
        digits = field[index + 1 : index + 4]
        if field[index] == "\\" and len(digits) == 3 and digits.isdigit():
            out.append(chr(int(digits, 8)))
            index += 4
        else:
            out.append(field[index])
            index += 1
    return "".join(out)

