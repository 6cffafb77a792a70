"""The volume manager against a real API server, real tmpfs mounts and a real git clone."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pykube_control.agent.volumes import kernel_mounts
from pykube_control.agent.volumes.errors import VolumeError
from pykube_control.agent.volumes.manager import VolumeManager
from pykube_control.client.api import APIClient
from pykube_control.client.resource import CONFIGMAPS, SECRETS

from tests.volumes.conftest import new_uid


def pod_with(volumes: list[dict[str, Any]], uid: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": uid or new_uid(), "labels": labels or {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}], "volumes": volumes},
    }


async def create_config(client: APIClient, data: dict[str, str]) -> None:
    await client.create(CONFIGMAPS, {"metadata": {"name": "app"}, "data": data}, namespace="default")


async def create_secret(client: APIClient) -> None:
    encoded = base64.b64encode(b"hunter2").decode()
    await client.create(SECRETS, {"metadata": {"name": "creds"}, "data": {"password": encoded}}, namespace="default")


async def test_setup_disk_kinds(manager: VolumeManager, client: APIClient, tmp_path: Path) -> None:
    await create_config(client, {"app.yaml": "x: 1"})
    host = tmp_path / "host" / "logs"
    pod = pod_with([
        {"name": "scratch", "emptyDir": {}},
        {"name": "logs", "hostPath": {"path": str(host), "type": "DirectoryOrCreate"}},
        {"name": "cfg", "configMap": {"name": "app"}},
        {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
    ])
    volumes = await manager.setup(pod)
    scratch = volumes.volumes["scratch"].host_path
    assert scratch.is_dir()
    assert scratch.stat().st_mode & 0o777 == 0o777
    assert volumes.volumes["logs"].host_path == host
    assert host.is_dir()
    assert (volumes.volumes["cfg"].host_path / "app.yaml").read_text() == "x: 1"
    assert (volumes.volumes["info"].host_path / "labels").read_text() == 'app="web"'
    assert volumes.volumes["cfg"].readonly
    assert not volumes.volumes["scratch"].readonly


async def test_setup_layout(manager: VolumeManager, pods_dir: Path) -> None:
    uid = new_uid()
    volumes = await manager.setup(pod_with([{"name": "scratch", "emptyDir": {}}], uid))
    assert volumes.volumes["scratch"].host_path == pods_dir / uid / "volumes" / "kubernetes.io~empty-dir" / "scratch"


async def test_setup_missing_configmap(manager: VolumeManager) -> None:
    with pytest.raises(VolumeError, match='volume "cfg": configmap "absent" not found'):
        await manager.setup(pod_with([{"name": "cfg", "configMap": {"name": "absent"}}]))


async def test_setup_optional_configmap(manager: VolumeManager) -> None:
    volumes = await manager.setup(pod_with([{"name": "cfg", "configMap": {"name": "absent", "optional": True}}]))
    assert [p for p in os.listdir(volumes.volumes["cfg"].host_path) if not p.startswith("..")] == []


async def test_setup_hostpath_mismatch(manager: VolumeManager, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    with pytest.raises(VolumeError, match=r'volume "h": hostPath type check failed: .* is not a directory'):
        await manager.setup(pod_with([{"name": "h", "hostPath": {"path": str(tmp_path / "plain"), "type": "Directory"}}]))


async def test_setup_unsupported_kind(manager: VolumeManager) -> None:
    with pytest.raises(VolumeError, match="volume type persistentVolumeClaim is not supported"):
        await manager.setup(pod_with([{"name": "pvc", "persistentVolumeClaim": {"claimName": "c"}}]))


@pytest.mark.usefixtures("tmpfs_allowed")
async def test_secret_on_tmpfs(manager: VolumeManager, client: APIClient) -> None:
    await create_secret(client)
    volumes = await manager.setup(pod_with([{"name": "s", "secret": {"secretName": "creds", "defaultMode": 0o400}}]))
    path = volumes.volumes["s"].host_path
    assert kernel_mounts.is_mount_point(path)
    assert (path / "password").read_bytes() == b"hunter2"
    assert (path / "password").stat().st_mode & 0o777 == 0o400


@pytest.mark.usefixtures("tmpfs_allowed")
async def test_memory_empty_dir_size(manager: VolumeManager) -> None:
    volumes = await manager.setup(pod_with([{"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "2Mi"}}]))
    path = volumes.volumes["m"].host_path
    stats = os.statvfs(path)
    assert kernel_mounts.is_mount_point(path)
    assert stats.f_blocks * stats.f_frsize == 2 * 1024 * 1024


@pytest.mark.usefixtures("tmpfs_allowed")
async def test_setup_twice_mounts_once(manager: VolumeManager) -> None:
    pod = pod_with([{"name": "m", "emptyDir": {"medium": "Memory"}}])
    first = await manager.setup(pod)
    await manager.setup(pod)
    path = first.volumes["m"].host_path
    assert kernel_mounts.mount_points().count(Path(os.path.realpath(path))) == 1


@pytest.mark.usefixtures("tmpfs_allowed")
async def test_projected_volume(manager: VolumeManager, client: APIClient) -> None:
    await create_config(client, {"app.yaml": "x: 1"})
    await create_secret(client)
    pod = pod_with([{"name": "p", "projected": {"sources": [
        {"configMap": {"name": "app"}},
        {"secret": {"name": "creds", "items": [{"key": "password", "path": "auth/password"}]}},
        {"downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
    ]}}])
    path = (await manager.setup(pod)).volumes["p"].host_path
    assert kernel_mounts.is_mount_point(path)
    assert (path / "app.yaml").read_text() == "x: 1"
    assert (path / "auth" / "password").read_bytes() == b"hunter2"
    assert (path / "name").read_text() == "web"


async def test_refresh_configmap(manager: VolumeManager, client: APIClient) -> None:
    await create_config(client, {"app.yaml": "x: 1"})
    pod = pod_with([{"name": "cfg", "configMap": {"name": "app"}}, {"name": "scratch", "emptyDir": {}}])
    path = (await manager.setup(pod)).volumes["cfg"].host_path
    assert await manager.refresh(pod) == []

    current = await client.get(CONFIGMAPS, "app", namespace="default")
    current["data"] = {"app.yaml": "x: 2", "extra": "e"}
    await client.update(CONFIGMAPS, current, namespace="default")
    assert await manager.refresh(pod) == ["cfg"]
    assert (path / "app.yaml").read_text() == "x: 2"
    assert (path / "extra").read_text() == "e"


async def test_refresh_deleted_keeps(manager: VolumeManager, client: APIClient) -> None:
    await create_config(client, {"app.yaml": "x: 1"})
    pod = pod_with([{"name": "cfg", "configMap": {"name": "app"}}])
    path = (await manager.setup(pod)).volumes["cfg"].host_path
    await client.delete(CONFIGMAPS, "app", namespace="default")
    assert await manager.refresh(pod) == []
    assert (path / "app.yaml").read_text() == "x: 1"


async def test_refresh_labels(manager: VolumeManager) -> None:
    uid = new_uid()
    items = [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
    pod = pod_with([{"name": "info", "downwardAPI": {"items": items}}], uid)
    path = (await manager.setup(pod)).volumes["info"].host_path
    relabeled = pod_with([{"name": "info", "downwardAPI": {"items": items}}], uid, {"app": "web", "v": "2"})
    assert await manager.refresh(relabeled) == ["info"]
    assert (path / "labels").read_text() == 'app="web"\nv="2"'


@pytest.mark.usefixtures("tmpfs_allowed")
async def test_teardown_unmounts(manager: VolumeManager, client: APIClient, pods_dir: Path) -> None:
    await create_secret(client)
    uid = new_uid()
    await manager.setup(pod_with([
        {"name": "s", "secret": {"secretName": "creds"}},
        {"name": "m", "emptyDir": {"medium": "Memory"}},
    ], uid))
    assert len(kernel_mounts.mount_points_under(pods_dir / uid)) == 2
    await manager.teardown(uid)
    assert kernel_mounts.mount_points_under(pods_dir) == []
    assert not (pods_dir / uid).exists()


@pytest.mark.usefixtures("tmpfs_allowed")
async def test_teardown_busy_keeps(manager: VolumeManager, pods_dir: Path) -> None:
    uid = new_uid()
    volumes = await manager.setup(pod_with([{"name": "m", "emptyDir": {"medium": "Memory"}}], uid))
    path = volumes.volumes["m"].host_path
    (path / "data").write_text("kept")
    with open(path / "data") as busy:
        with pytest.raises(VolumeError, match="is kept"):
            await manager.teardown(uid)
        assert busy.read() == "kept"
    assert (path / "data").read_text() == "kept"
    await manager.teardown(uid)
    assert not (pods_dir / uid).exists()


async def test_teardown_host_path_untouched(manager: VolumeManager, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "keep").write_text("k")
    uid = new_uid()
    await manager.setup(pod_with([{"name": "h", "hostPath": {"path": str(host)}}], uid))
    await manager.teardown(uid)
    assert (host / "keep").read_text() == "k"


async def test_cleanup_orphans(manager: VolumeManager, pods_dir: Path) -> None:
    live, orphan = new_uid(), new_uid()
    for uid in (live, orphan):
        await manager.setup(pod_with([{"name": "scratch", "emptyDir": {}}], uid))
    assert await manager.cleanup_orphans([live]) == [orphan]
    assert (pods_dir / live).is_dir()
    assert not (pods_dir / orphan).exists()


def make_repository(path: Path) -> str:
    """Create a git repository with two commits; return the first commit's hash."""
    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *arguments],
            cwd=path, check=True, capture_output=True, text=True,
        ).stdout.strip()

    path.mkdir()
    git("init", "-q")
    (path / "README").write_text("v1")
    git("add", "README")
    git("commit", "-q", "-m", "one")
    first = git("rev-parse", "HEAD")
    (path / "README").write_text("v2")
    git("commit", "-q", "-am", "two")
    return first


@pytest.mark.parametrize(
    ("directory", "checkout"),
    [
        pytest.param(".", "", id="into volume"),
        pytest.param("", "origin", id="repository name"),
        pytest.param("src", "src", id="named directory"),
    ],
)
async def test_git_repo(manager: VolumeManager, tmp_path: Path, directory: str, checkout: str) -> None:
    first = make_repository(tmp_path / "origin")
    source = {"repository": f"file://{tmp_path / 'origin'}", "revision": first, "directory": directory}
    volumes = await manager.setup(pod_with([{"name": "code", "gitRepo": source}]))
    assert (volumes.volumes["code"].host_path / checkout / "README").read_text() == "v1"


async def test_git_repo_bad_url(manager: VolumeManager, tmp_path: Path) -> None:
    source = {"repository": f"file://{tmp_path / 'nothing'}"}
    with pytest.raises(VolumeError, match='volume "code": git clone failed'):
        await manager.setup(pod_with([{"name": "code", "gitRepo": source}]))


async def test_refresh_loop_rewrites(manager: VolumeManager, client: APIClient) -> None:
    await create_config(client, {"app.yaml": "x: 1"})
    pod = pod_with([{"name": "cfg", "configMap": {"name": "app"}}])
    path = (await manager.setup(pod)).volumes["cfg"].host_path
    current = await client.get(CONFIGMAPS, "app", namespace="default")
    current["data"] = {"app.yaml": "x: 2"}
    await client.update(CONFIGMAPS, current, namespace="default")

    loop = asyncio.create_task(manager.refresh_loop(lambda: [pod], interval=0.01))
    try:
        for _ in range(500):
            if (path / "app.yaml").read_text() == "x: 2":
                break
            await asyncio.sleep(0.01)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert (path / "app.yaml").read_text() == "x: 2"


async def test_fs_group_ownership(manager: VolumeManager, client: APIClient) -> None:
    await create_config(client, {"app.yaml": "x: 1"})
    pod = pod_with([
        {"name": "cfg", "configMap": {"name": "app", "defaultMode": 0o400}},
        {"name": "scratch", "emptyDir": {}},
    ])
    pod["spec"]["securityContext"] = {"fsGroup": 4321}
    volumes = await manager.setup(pod)
    config_file = os.path.realpath(volumes.volumes["cfg"].host_path / "app.yaml")
    scratch = volumes.volumes["scratch"].host_path
    assert os.stat(config_file).st_gid == 4321
    assert os.stat(config_file).st_mode & 0o777 == 0o440
    assert scratch.stat().st_gid == 4321
    assert scratch.stat().st_mode & 0o2000

    assert await manager.refresh(pod) == []

    current = await client.get(CONFIGMAPS, "app", namespace="default")
    current["data"] = {"app.yaml": "x: 2"}
    await client.update(CONFIGMAPS, current, namespace="default")
    assert await manager.refresh(pod) == ["cfg"]
    refreshed = os.path.realpath(volumes.volumes["cfg"].host_path / "app.yaml")
    assert os.stat(refreshed).st_gid == 4321


async def test_refresh_skips_unmounted_secret(manager: VolumeManager, client: APIClient, pods_dir: Path) -> None:
    await create_secret(client)
    uid = new_uid()
    pod = pod_with([{"name": "s", "secret": {"secretName": "creds"}}], uid)
    directory = manager.volume_dir(uid, "secret", "s")
    directory.mkdir(parents=True)
    assert await manager.refresh(pod) == []
    assert list(directory.iterdir()) == []


@pytest.mark.parametrize(
    "source",
    [
        pytest.param({"repository": "--upload-pack=touch /tmp/x"}, id="repository option"),
        pytest.param({"repository": "file:///nowhere", "revision": "--orphan"}, id="revision option"),
        pytest.param({"repository": "file:///nowhere", "directory": "../up"}, id="directory escape"),
    ],
)
async def test_git_repo_rejects_options(manager: VolumeManager, source: dict[str, str]) -> None:
    with pytest.raises(VolumeError, match="gitRepo"):
        await manager.setup(pod_with([{"name": "code", "gitRepo": source}]))
