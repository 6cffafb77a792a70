"""The ..data symlink swap: layout, no-op rewrites, updates and removed keys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pykube_control.agent.volumes.atomic_writer import DATA_LINK, write_payload
from pykube_control.agent.volumes.errors import VolumeError


def test_writer_layout(tmp_path: Path) -> None:
    write_payload("v", tmp_path, {"a": (b"1", 0o600), "dir/b": (b"2", 0o644)})
    assert os.readlink(tmp_path / "a") == f"{DATA_LINK}/a"
    assert os.readlink(tmp_path / "dir") == f"{DATA_LINK}/dir"
    assert (tmp_path / "dir" / "b").read_bytes() == b"2"
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o600


def test_writer_same_payload_noop(tmp_path: Path) -> None:
    payload = {"a": (b"1", 0o644)}
    assert write_payload("v", tmp_path, payload)
    version = os.readlink(tmp_path / DATA_LINK)
    assert not write_payload("v", tmp_path, payload)
    assert os.readlink(tmp_path / DATA_LINK) == version


def test_writer_update_swaps(tmp_path: Path) -> None:
    write_payload("v", tmp_path, {"a": (b"1", 0o644), "old": (b"x", 0o644)})
    old_version = os.readlink(tmp_path / DATA_LINK)
    with open(tmp_path / "a", "rb") as reader:
        assert write_payload("v", tmp_path, {"a": (b"2", 0o644)})
        # A file opened before the swap keeps reading the old version.
        assert reader.read() == b"1"
    assert (tmp_path / "a").read_bytes() == b"2"
    assert not os.path.lexists(tmp_path / "old")
    assert not (tmp_path / old_version).exists()


def test_writer_mode_change(tmp_path: Path) -> None:
    write_payload("v", tmp_path, {"a": (b"1", 0o644)})
    assert write_payload("v", tmp_path, {"a": (b"1", 0o400)})
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o400


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("a/../../b", id="dot dot"),
        pytest.param("..data", id="reserved prefix"),
        pytest.param("", id="empty"),
    ],
)
def test_writer_invalid_path(tmp_path: Path, path: str) -> None:
    with pytest.raises(VolumeError, match="invalid file path"):
        write_payload("v", tmp_path, {path: (b"x", 0o644)})


def test_writer_fs_group(tmp_path: Path) -> None:
    assert write_payload("v", tmp_path, {"a": (b"1", 0o400)}, fs_group=4321)
    target = os.path.realpath(tmp_path / "a")
    assert os.stat(target).st_gid == 4321
    assert os.stat(target).st_mode & 0o777 == 0o440
    assert not write_payload("v", tmp_path, {"a": (b"1", 0o400)}, fs_group=4321)
