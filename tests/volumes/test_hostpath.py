"""hostPath type checks and creation."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from pykube_control.agent.volumes.errors import VolumeError
from pykube_control.agent.volumes.hostpath import prepare_host_path


def test_directory_or_create(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert prepare_host_path("h", str(target), "DirectoryOrCreate") == target
    assert target.is_dir()
    assert target.stat().st_mode & 0o777 == 0o755


def test_file_or_create(tmp_path: Path) -> None:
    target = tmp_path / "f"
    prepare_host_path("h", str(target), "FileOrCreate")
    assert target.is_file()


def test_file_or_create_no_parent(tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="cannot create"):
        prepare_host_path("h", str(tmp_path / "missing" / "f"), "FileOrCreate")


def test_untyped_missing_ok(tmp_path: Path) -> None:
    assert prepare_host_path("h", str(tmp_path / "nothing"), "") == tmp_path / "nothing"


@pytest.mark.parametrize(
    ("kind", "path_type", "message"),
    [
        pytest.param("file", "Directory", "is not a directory", id="file as directory"),
        pytest.param("dir", "File", "is not a file", id="directory as file"),
        pytest.param("file", "Socket", "is not a socket file", id="file as socket"),
        pytest.param("file", "CharDevice", "is not a character device", id="file as char device"),
        pytest.param("file", "BlockDevice", "is not a block device", id="file as block device"),
        pytest.param("file", "DirectoryOrCreate", "is not a directory", id="file as directory or create"),
        pytest.param("missing", "File", "does not exist", id="missing file"),
    ],
)
def test_type_mismatch(tmp_path: Path, kind: str, path_type: str, message: str) -> None:
    target = tmp_path / "x"
    if kind == "file":
        target.write_text("")
    elif kind == "dir":
        target.mkdir()
    with pytest.raises(VolumeError, match=f'volume "h": hostPath type check failed: .*{message}'):
        prepare_host_path("h", str(target), path_type)


@pytest.mark.parametrize(
    ("path", "path_type"),
    [
        pytest.param("/dev/null", "CharDevice", id="char device"),
        pytest.param("/", "Directory", id="directory"),
    ],
)
def test_type_match(path: str, path_type: str) -> None:
    assert prepare_host_path("h", path, path_type) == Path(path)


def test_socket_match(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(os.fsdecode(path))
        assert prepare_host_path("h", str(path), "Socket") == path


def test_relative_path_rejected() -> None:
    with pytest.raises(VolumeError, match="not absolute"):
        prepare_host_path("h", "var/log", "")


def test_unknown_type_rejected() -> None:
    with pytest.raises(VolumeError, match="unknown hostPath type 'Dir'"):
        prepare_host_path("h", "/", "Dir")
