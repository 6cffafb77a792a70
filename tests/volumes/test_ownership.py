"""fsGroup ownership: group, group mode bits and setgid directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pykube_control.agent.volumes.ownership import apply_fs_group


@pytest.mark.parametrize(
    ("readonly", "file_mode", "directory_mode"),
    [
        pytest.param(False, 0o660, 0o2770, id="read write"),
        pytest.param(True, 0o640, 0o2750, id="read only"),
    ],
)
def test_fs_group_modes(tmp_path: Path, readonly: bool, file_mode: int, directory_mode: int) -> None:
    root = tmp_path / "volume"
    (root / "sub").mkdir(parents=True, mode=0o700)
    os.chmod(root / "sub", 0o700)
    (root / "sub" / "file").write_text("x")
    os.chmod(root / "sub" / "file", 0o600)
    apply_fs_group(root, 4321, readonly=readonly)
    assert (root / "sub" / "file").stat().st_gid == 4321
    assert (root / "sub" / "file").stat().st_mode & 0o7777 == file_mode
    assert (root / "sub").stat().st_mode & 0o7777 == directory_mode


def test_fs_group_symlink_mode_kept(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("x")
    os.chmod(outside, 0o600)
    root = tmp_path / "volume"
    root.mkdir()
    os.symlink(outside, root / "link")
    apply_fs_group(root, 4321, readonly=False)
    assert os.lstat(root / "link").st_gid == 4321
    assert outside.stat().st_gid != 4321
    assert outside.stat().st_mode & 0o777 == 0o600
