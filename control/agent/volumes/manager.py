"""The volume manager: prepares a pod's volumes before its containers start and removes them after.

Each volume lives in ``<pods_dir>/<pod-uid>/volumes/<plugin>/<name>``, with
the kubelet's plugin directory names (``kubernetes.io~empty-dir`` and so
on), except hostPath, which is the host path itself. Secret and projected
volumes sit on their own tmpfs, so secret bytes never reach a disk, and
so does an emptyDir with ``medium: Memory`` (its ``sizeLimit`` becomes
the tmpfs size). configMap, secret, downwardAPI and projected files are
written with the ``..data`` symlink swap (``atomic_writer``), which is also
how ``refresh`` updates them while containers read them.

Removal never deletes through a live mount: ``teardown`` unmounts every
mount point under the pod directory (read from /proc/self/mountinfo),
checks that none is left, and only then removes the directory. The removal
walk also stops at any directory on another filesystem (``safe_remove``).

With ``spec.securityContext.fsGroup`` set, volume files get that group
(``ownership``), after each write of API-backed files too.

Differences from Kubernetes: SELinux labels and emptyDir sizeLimit on disk
(which the kubelet enforces by eviction) are not applied.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pykube_core.quantity import parse_quantity

from pykube_control.agent.volumes import kernel_mounts
from pykube_control.agent.volumes.atomic_writer import write_payload
from pykube_control.agent.volumes.container_mounts import Mount, PodVolumes, PreparedVolume, container_mounts
from pykube_control.agent.volumes.downward import downward_payload
from pykube_control.agent.volumes.errors import VolumeError
from pykube_control.agent.volumes.gitrepo import clone_repository
from pykube_control.agent.volumes.hostpath import prepare_host_path
from pykube_control.agent.volumes.ownership import apply_fs_group
from pykube_control.agent.volumes.payload import Payload, configmap_payload, projected_payload, secret_payload
from pykube_control.agent.volumes.safe_remove import MountedDirectoryError, remove_tree
from pykube_control.client.api import APIClient
from pykube_control.client.errors import APIError, NotFound
from pykube_control.client.resource import CONFIGMAPS, SECRETS

log = logging.getLogger("pykube.agent.volumes")

Object = dict[str, Any]

PLUGIN_DIRECTORIES = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
    "gitRepo": "kubernetes.io~git-repo",
}

API_DATA_KINDS = ("configMap", "secret", "downwardAPI", "projected")
"""Volume kinds whose files come from API objects, always read-only, rewritten by ``refresh``."""

TMPFS_KINDS = ("secret", "projected")

EMPTY_DIR_MODE = 0o777
"""emptyDir permissions: any container user may write, as with the kubelet."""

API_DATA_MODE = 0o755

REFRESH_INTERVAL = 30.0
"""Seconds between rewrites of API-backed volumes in ``refresh_loop``.

An update of a ConfigMap or Secret then reaches the files within a minute, API round trips included."""


class VolumeManager:
    """Sets up, refreshes and removes the volumes of the pods on one node."""

    def __init__(self, pods_dir: Path, client: APIClient, *, allocatable: Mapping[str, str] | None = None) -> None:
        """``allocatable`` is the node's allocatable resources (such as {"cpu": "4", "memory": "8Gi"}).

        It is what a downwardAPI resourceFieldRef reads for an unset limit.
        """
        self.pods_dir = pods_dir
        self.client = client
        self.allocatable: Mapping[str, str] = dict(allocatable or {})

    async def setup(self, pod: Object) -> PodVolumes:
        """Prepare every volume of ``pod``; raise VolumeError naming the first volume that fails."""
        uid = _pod_uid(pod)
        prepared: dict[str, PreparedVolume] = {}
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name", ""))
            kind = _volume_kind(volume)
            prepared[name] = await self._prepare(pod, uid, name, kind, volume[kind])
        log.info("volumes ready pod_uid=%s volumes=%d", uid, len(prepared))
        return PodVolumes(uid, prepared)

    def mounts(self, pod: Object, container: Object, volumes: PodVolumes) -> list[Mount]:
        """Return the bind mounts of ``container`` (one per volumeMount, subPath resolved)."""
        del pod  # the mounts depend on the container and the prepared volumes only
        return container_mounts(container, volumes)

    async def refresh(self, pod: Object) -> list[str]:
        """Rewrite the configMap, secret, downwardAPI and projected volumes of ``pod``; return those that changed.

        A volume whose source cannot be read now (a deleted ConfigMap, say)
        keeps its current files, and the error is logged.
        """
        uid = _pod_uid(pod)
        changed = []
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name", ""))
            kind = _volume_kind(volume)
            if kind not in API_DATA_KINDS:
                continue
            directory = self.volume_dir(uid, kind, name)
            if not directory.is_dir():
                continue
            if kind in TMPFS_KINDS and not kernel_mounts.is_mount_point(directory):
                # Not set up yet (or torn down): writing now would put secret bytes on the disk.
                continue
            try:
                if await self._write_api_data(pod, name, kind, volume[kind], directory):
                    changed.append(name)
            except VolumeError as error:
                log.warning("kept old volume files pod_uid=%s volume=%s error=%s", uid, name, error)
        return changed

    async def refresh_loop(self, pods: Callable[[], Iterable[Object]], interval: float = REFRESH_INTERVAL) -> None:
        """Call ``refresh`` on every pod that ``pods()`` returns, every ``interval`` seconds, until cancelled.

        ``pods`` should return the running pods of this node (an informer's
        cache). A pod whose refresh fails is logged and tried again next round.
        """
        while True:
            await asyncio.sleep(interval)
            for pod in list(pods()):
                try:
                    await self.refresh(pod)
                except (VolumeError, OSError) as error:
                    uid = (pod.get("metadata") or {}).get("uid")
                    log.warning("volume refresh failed pod_uid=%s error=%s", uid, error)

    async def teardown(self, pod_uid: str) -> None:
        """Unmount every mount under the pod's directory, then remove the directory.

        Raise VolumeError, leaving the directory in place, when a mount
        cannot be unmounted (EBUSY while a container still uses it).
        """
        pod_dir = self.pods_dir / _checked_uid(pod_uid)
        if not pod_dir.exists():
            return
        for point in kernel_mounts.mount_points_under(pod_dir):
            try:
                kernel_mounts.unmount(point)
            except kernel_mounts.MountError as error:
                raise VolumeError("", f"{error}; the pod directory {pod_dir} is kept, retry after its containers stop") from None
            log.info("unmounted pod_uid=%s path=%s", pod_uid, point)
        left = kernel_mounts.mount_points_under(pod_dir)
        if left:
            raise VolumeError("", f"{left[0]} is still mounted after unmount; the pod directory {pod_dir} is kept")
        try:
            await asyncio.to_thread(remove_tree, pod_dir)
        except MountedDirectoryError as error:
            raise VolumeError("", f"{error}; the rest of {pod_dir} is kept, unmount it and retry") from None
        log.info("removed pod volumes pod_uid=%s path=%s", pod_uid, pod_dir)

    async def cleanup_orphans(self, live_uids: Iterable[str]) -> list[str]:
        """Tear down the directories of pods not in ``live_uids``; return the uids removed.

        A directory that cannot be removed now is logged and retried on the next call.
        """
        live = set(live_uids)
        if not self.pods_dir.is_dir():
            return []
        removed = []
        for entry in sorted(os.listdir(self.pods_dir)):
            if entry in live or not (self.pods_dir / entry).is_dir():
                continue
            try:
                await self.teardown(entry)
            except (VolumeError, OSError) as error:
                log.warning("orphaned pod directory not removed pod_uid=%s error=%s", entry, error)
                continue
            removed.append(entry)
        return removed

    def volume_dir(self, pod_uid: str, kind: str, name: str) -> Path:
        return self.pods_dir / _checked_uid(pod_uid) / "volumes" / PLUGIN_DIRECTORIES[kind] / name

    async def _prepare(self, pod: Object, uid: str, name: str, kind: str, source: Object) -> PreparedVolume:
        if kind == "hostPath":
            path = prepare_host_path(name, str(source.get("path", "")), str(source.get("type") or ""))
            return PreparedVolume(name, kind, path, False)
        if kind not in PLUGIN_DIRECTORIES:
            raise VolumeError(name, f"volume type {kind} is not supported by this node agent; use a supported type")
        directory = self.volume_dir(uid, kind, name)
        directory.mkdir(parents=True, exist_ok=True)
        if kind == "emptyDir":
            await self._prepare_empty_dir(name, source, directory)
        elif kind == "gitRepo":
            await clone_repository(name, source, directory)
        else:
            if kind in TMPFS_KINDS:
                self._mount_tmpfs(name, directory, None, API_DATA_MODE)
            await self._write_api_data(pod, name, kind, source, directory)
        readonly = kind in API_DATA_KINDS
        if not readonly:
            # API-backed volumes get their group from write_payload on every write.
            await self._apply_fs_group(pod, directory, readonly)
        return PreparedVolume(name, kind, directory, readonly)

    async def _prepare_empty_dir(self, name: str, source: Object, directory: Path) -> None:
        if source.get("medium") == "Memory":
            limit = source.get("sizeLimit") or self.allocatable.get("memory")
            size = parse_quantity(str(limit)).value() if limit else None
            self._mount_tmpfs(name, directory, size, EMPTY_DIR_MODE)
        else:
            os.chmod(directory, EMPTY_DIR_MODE)

    def _mount_tmpfs(self, name: str, directory: Path, size: int | None, mode: int) -> None:
        if kernel_mounts.is_mount_point(directory):
            return
        try:
            kernel_mounts.mount_tmpfs(directory, size, mode)
        except kernel_mounts.MountError as error:
            raise VolumeError(name, f"{error}; the node agent needs CAP_SYS_ADMIN to mount tmpfs") from None
        log.info("mounted tmpfs volume=%s path=%s size_bytes=%s", name, directory, size)

    async def _apply_fs_group(self, pod: Object, directory: Path, readonly: bool) -> None:
        group = _fs_group(pod)
        if group is not None:
            await asyncio.to_thread(apply_fs_group, directory, group, readonly=readonly)

    async def _write_api_data(self, pod: Object, name: str, kind: str, source: Object, directory: Path) -> bool:
        payload = await self._payload(pod, name, kind, source)
        return await asyncio.to_thread(write_payload, name, directory, payload, fs_group=_fs_group(pod))

    async def _payload(self, pod: Object, name: str, kind: str, source: Object) -> Payload:
        namespace = str((pod.get("metadata") or {}).get("namespace") or "default")

        def downward(volume: str, items: list[Object], mode: int) -> Payload:
            return downward_payload(volume, items, mode, pod, self.allocatable)

        if kind == "configMap":
            return configmap_payload(name, source, await self._fetch(name, "configmap", namespace, source.get("name")))
        if kind == "secret":
            return secret_payload(name, source, await self._fetch(name, "secret", namespace, source.get("secretName")))
        if kind == "downwardAPI":
            mode = source.get("defaultMode")
            return downward(name, source.get("items") or [], 0o644 if mode is None else int(mode))
        fetched: dict[tuple[str, str], Object | None] = {}
        for projection in source.get("sources") or []:
            for field, object_kind in (("configMap", "configmap"), ("secret", "secret")):
                if field in projection:
                    object_name = str(projection[field].get("name", ""))
                    fetched[(object_kind, object_name)] = await self._fetch(name, object_kind, namespace, object_name)
        return projected_payload(name, source, fetched, downward)

    async def _fetch(self, volume: str, kind: str, namespace: str, object_name: Any) -> Object | None:
        resource = CONFIGMAPS if kind == "configmap" else SECRETS
        try:
            return await self.client.get(resource, str(object_name or ""), namespace=namespace)
        except NotFound:
            return None
        except APIError as error:
            raise VolumeError(volume, f'cannot read {kind} "{namespace}/{object_name}": {error}') from None


def _fs_group(pod: Object) -> int | None:
    group = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    return None if group is None else int(group)


def _volume_kind(volume: Object) -> str:
    kinds = [key for key in volume if key != "name"]
    if len(kinds) != 1:
        raise VolumeError(str(volume.get("name", "")), f"a volume needs exactly one source type, found {kinds}")
    return kinds[0]


def _pod_uid(pod: Object) -> str:
    return _checked_uid(str((pod.get("metadata") or {}).get("uid") or ""))


def _checked_uid(uid: str) -> str:
    if not uid or "/" in uid or uid in (".", ".."):
        raise VolumeError("", f"invalid pod uid {uid!r}; the pod must be read from the API server")
    return uid
