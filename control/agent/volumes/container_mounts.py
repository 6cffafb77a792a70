"""A container's mounts: each volumeMount resolved to a host path, with subPath kept inside its volume.

``subPath`` selects a path inside the volume. It must be relative and free
of "..", and after following symlinks it must still lie inside the volume,
so a container cannot plant a symlink in a shared volume that makes the
next container mount a host directory. A missing subPath is created as a
directory (mode 0755), as the kubelet does. ``subPathExpr`` expands
``$(VAR)`` from the container's literal ``env`` values.

configMap, secret, downwardAPI and projected volumes are always read-only,
whatever ``readOnly`` is set to, as in Kubernetes since 1.10.

Differences from Kubernetes: the symlink check and the bind mount are two
steps, so a container that swaps a component for a symlink in between could
still escape.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from pykube_control.agent.volumes.errors import VolumeError

Object = dict[str, Any]

_VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


@dataclasses.dataclass(frozen=True, slots=True)
class Mount:
    """One bind mount into a container, as the CRI's Mount message takes it."""

    host_path: Path
    container_path: str
    readonly: bool
    propagation: str = "None"
    """volumeMounts[].mountPropagation: None, HostToContainer or Bidirectional (the CRI's PROPAGATION_* values)."""


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedVolume:
    """A volume ready on the host: where it is and whether containers may only read it."""

    name: str
    kind: str
    """The volume source's field name, such as "emptyDir" or "configMap"."""
    host_path: Path
    readonly: bool


@dataclasses.dataclass(frozen=True, slots=True)
class PodVolumes:
    """The prepared volumes of one pod, by volume name."""

    pod_uid: str
    volumes: dict[str, PreparedVolume]


def container_mounts(container: Object, volumes: PodVolumes) -> list[Mount]:
    """Resolve every volumeMount of ``container``; raise VolumeError for an unknown volume or a bad subPath."""
    mounts = []
    for volume_mount in container.get("volumeMounts") or []:
        name = volume_mount.get("name", "")
        prepared = volumes.volumes.get(name)
        if prepared is None:
            raise VolumeError(
                name, f"container {container.get('name')!r} mounts a volume that is not in spec.volumes; add it there"
            )
        host_path = prepared.host_path
        sub_path = volume_mount.get("subPath") or _expand(name, volume_mount.get("subPathExpr") or "", container)
        if sub_path:
            host_path = resolve_sub_path(name, prepared.host_path, sub_path)
        readonly = bool(volume_mount.get("readOnly")) or prepared.readonly
        propagation = str(volume_mount.get("mountPropagation") or "None")
        mounts.append(Mount(host_path, str(volume_mount.get("mountPath", "")), readonly, propagation))
    return mounts


def resolve_sub_path(volume: str, root: Path, sub_path: str) -> Path:
    """Return the real path of ``sub_path`` inside ``root``, creating it as a directory when missing."""
    parts = PurePosixPath(sub_path).parts
    if sub_path.startswith("/") or ".." in parts:
        raise VolumeError(volume, f"invalid subPath {sub_path!r}: it must be a relative path without '..'")
    real_root = Path(os.path.realpath(root))
    candidate = real_root.joinpath(*parts)
    if not os.path.lexists(candidate):
        _check_inside(volume, real_root, Path(os.path.realpath(candidate.parent)), sub_path)
        candidate.mkdir(mode=0o755, parents=True, exist_ok=True)
    resolved = Path(os.path.realpath(candidate))
    _check_inside(volume, real_root, resolved, sub_path)
    return resolved


def _check_inside(volume: str, root: Path, path: Path, sub_path: str) -> None:
    if path != root and root not in path.parents:
        raise VolumeError(volume, f"subPath {sub_path!r} resolves to {path}, outside the volume; remove the symlink")


def _expand(volume: str, expression: str, container: Object) -> str:
    values = {str(env.get("name")): env.get("value") for env in container.get("env") or [] if "value" in env}

    def substitute(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            # NOTE: only literal env values expand; valueFrom (downward API, ConfigMap keys) does not yet.
            raise VolumeError(volume, f"subPathExpr {expression!r} uses $({match.group(1)}), which has no literal env value")
        return str(value)

    return _VARIABLE.sub(substitute, expression)
