"""Container mounts: volume lookup, readOnly, subPath and subPathExpr."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pykube_control.agent.volumes.container_mounts import Mount, PodVolumes, PreparedVolume, container_mounts
from pykube_control.agent.volumes.errors import VolumeError


def volumes_at(tmp_path: Path) -> PodVolumes:
    data = tmp_path / "data"
    config = tmp_path / "config"
    data.mkdir()
    config.mkdir()
    return PodVolumes("uid", {
        "data": PreparedVolume("data", "emptyDir", data, False),
        "config": PreparedVolume("config", "configMap", config, True),
    })


def test_mounts_readonly(tmp_path: Path) -> None:
    volumes = volumes_at(tmp_path)
    container = {"name": "c", "volumeMounts": [
        {"name": "data", "mountPath": "/data"},
        {"name": "data", "mountPath": "/ro", "readOnly": True},
        {"name": "config", "mountPath": "/etc/app"},
        {"name": "data", "mountPath": "/shared", "mountPropagation": "HostToContainer"},
    ]}
    assert container_mounts(container, volumes) == [
        Mount(tmp_path / "data", "/data", False),
        Mount(tmp_path / "data", "/ro", True),
        Mount(tmp_path / "config", "/etc/app", True),
        Mount(tmp_path / "data", "/shared", False, "HostToContainer"),
    ]


def test_mounts_unknown_volume(tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match='volume "nope": container \'c\' mounts a volume that is not in spec.volumes'):
        container_mounts({"name": "c", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, volumes_at(tmp_path))


def test_sub_path_created(tmp_path: Path) -> None:
    container = {"name": "c", "volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "a/b"}]}
    [mount] = container_mounts(container, volumes_at(tmp_path))
    assert mount.host_path == tmp_path / "data" / "a" / "b"
    assert mount.host_path.is_dir()


def test_sub_path_expr(tmp_path: Path) -> None:
    container = {"name": "c", "env": [{"name": "POD", "value": "web-0"}],
                 "volumeMounts": [{"name": "data", "mountPath": "/x", "subPathExpr": "logs/$(POD)"}]}
    [mount] = container_mounts(container, volumes_at(tmp_path))
    assert mount.host_path == tmp_path / "data" / "logs" / "web-0"


def test_sub_path_file_through_symlink(tmp_path: Path) -> None:
    volumes = volumes_at(tmp_path)
    (tmp_path / "config" / "..v1").mkdir()
    (tmp_path / "config" / "..v1" / "app.yaml").write_text("x")
    os.symlink("..v1", tmp_path / "config" / "..data")
    os.symlink("..data/app.yaml", tmp_path / "config" / "app.yaml")
    container = {"name": "c", "volumeMounts": [{"name": "config", "mountPath": "/app.yaml", "subPath": "app.yaml"}]}
    [mount] = container_mounts(container, volumes)
    assert mount.host_path == tmp_path / "config" / "..v1" / "app.yaml"


@pytest.mark.parametrize(
    "sub_path",
    [
        pytest.param("../etc", id="dot dot"),
        pytest.param("/etc", id="absolute"),
        pytest.param("escape", id="symlink out"),
        pytest.param("escape/deeper", id="under symlink out"),
    ],
)
def test_sub_path_escape(tmp_path: Path, sub_path: str) -> None:
    volumes = volumes_at(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "data" / "escape")
    container = {"name": "c", "volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": sub_path}]}
    with pytest.raises(VolumeError, match="subPath"):
        container_mounts(container, volumes)
    assert not (outside / "deeper").exists()
