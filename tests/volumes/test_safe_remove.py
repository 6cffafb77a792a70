"""Removing a tree without crossing into a mounted filesystem."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykube_control.agent.volumes import kernel_mounts
from pykube_control.agent.volumes.safe_remove import MountedDirectoryError, remove_tree


def test_remove_nested(tmp_path: Path) -> None:
    root = tmp_path / "pod"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f").write_text("x")
    (root / "top").write_text("y")
    remove_tree(root)
    assert not root.exists()


def test_remove_keeps_symlink_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    root = tmp_path / "pod"
    root.mkdir()
    os.symlink(outside, root / "link")
    remove_tree(root)
    assert (outside / "keep").read_text() == "k"


@pytest.fixture
def mounted_tree(tmp_path: Path, tmpfs_allowed: None) -> Iterator[Path]:
    root = tmp_path / "pod"
    mount = root / "volume"
    mount.mkdir(parents=True)
    kernel_mounts.mount_tmpfs(mount, 1024 * 1024, 0o755)
    try:
        yield root
    finally:
        kernel_mounts.unmount(mount, lazy=True)


def test_remove_stops_at_mount(mounted_tree: Path) -> None:
    (mounted_tree / "volume" / "data").write_text("kept")
    with pytest.raises(MountedDirectoryError, match="on another filesystem"):
        remove_tree(mounted_tree)
    assert (mounted_tree / "volume" / "data").read_text() == "kept"
