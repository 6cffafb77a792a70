"""Build small OCI image tarballs from host files, with no registry and no builder.

A pykube cluster must run with no registry at hand, so the two images it
needs before any user image are built here from files on the machine. The
sandbox ("pause") image contains pykube's own static ``pykube-pause``
binary. The busybox image, for examples and tests, contains the OS's
static busybox (Debian's busybox-static).

Each image is one uncompressed layer written with ``tarfile`` and packed as
an OCI image layout tarball (oci-layout, index.json, blobs/sha256/...), the
format ``ctr images import`` reads. The image name goes into two annotations
of index.json: ``io.containerd.image.name`` carries the full reference,
which containerd's importer uses as is, and
``org.opencontainers.image.ref.name`` carries the tag, as the OCI image
layout specification expects.

Every timestamp, owner and ordering is fixed, so the same input files give
byte-identical tarballs and the same image id on every node and every run:
re-importing the pause image at each agent start changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import subprocess
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pykube_control.agent

PAUSE_IMAGE = "localhost/pykube/pause:1.0"
"""Reference of the sandbox image, fully qualified because containerd's CRI
plugin looks images up by normalized name, and an unqualified
"pykube/pause" would normalize to docker.io/pykube/pause. The agent
imports the image at every start, which points this name at the installed
build even when the tag stays the same."""

PAUSE_BINARY_NAME = "pykube-pause"
"""File name of the static sandbox binary that setup.py's build_ext builds
into the pykube_control.agent package directory."""

BUSYBOX = Path("/bin/busybox")
"""The OS's static busybox (Debian: busybox-static)."""

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"

_GO_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class LayerEntry:
    """One file, directory or symlink of the image's root filesystem.

    ``path`` is relative to the root ("bin/sh"). A file sets ``source`` (a
    host file whose bytes are copied) or ``data`` (literal bytes), a
    symlink sets ``link`` (its target), and a directory sets ``is_dir``.
    """

    path: str
    mode: int = 0o755
    source: Path | None = None
    data: bytes | None = None
    link: str | None = None
    is_dir: bool = False


@dataclass(frozen=True)
class ImageConfig:
    """The runtime settings an image carries (the OCI config's "config" object)."""

    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    working_dir: str = "/"
    labels: dict[str, str] = field(default_factory=dict)


def go_architecture(machine: str | None = None) -> str:
    """Return the OCI (Go) name of this machine's architecture, "amd64" for x86_64."""
    machine = machine or platform.machine()
    return _GO_ARCHITECTURES.get(machine, machine)


def split_reference(reference: str) -> tuple[str, str]:
    """Split "localhost/pykube/pause:1.0" into ("localhost/pykube/pause", "1.0")."""
    last_slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > last_slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, "latest"


def build_layer(entries: Iterable[LayerEntry]) -> bytes:
    """Return an uncompressed layer tar of ``entries``, owned by root, dated 0, sorted by path."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(entries, key=lambda item: item.path):
            _add_entry(tar, entry)
    return buffer.getvalue()


def _add_entry(tar: tarfile.TarFile, entry: LayerEntry) -> None:
    path = str(PurePosixPath(entry.path))
    if path.startswith("/") or path.startswith(".."):
        raise ValueError(f"layer entry path {entry.path!r} must be relative to the image root, like 'bin/sh'")
    info = tarfile.TarInfo(path)
    info.mode = entry.mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if entry.is_dir:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif entry.link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = entry.link
        tar.addfile(info)
    else:
        data = entry.data if entry.data is not None else _read_source(entry)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def _read_source(entry: LayerEntry) -> bytes:
    if entry.source is None:
        raise ValueError(f"layer entry {entry.path!r} needs source, data, link or is_dir")
    return entry.source.read_bytes()


def build_oci_archive(reference: str, entries: Iterable[LayerEntry], config: ImageConfig) -> bytes:
    """Return an OCI image layout tarball holding one single-layer image named ``reference``."""
    layer = build_layer(entries)
    layer_digest = _digest(layer)
    config_blob = _json_bytes(
        {
            "architecture": go_architecture(),
            "os": "linux",
            "config": _config_object(config),
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created_by": "pykube image_build", "created": "1970-01-01T00:00:00Z"}],
            "created": "1970-01-01T00:00:00Z",
        }
    )
    manifest_blob = _json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": _digest(config_blob), "size": len(config_blob)},
            "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": len(layer)}],
        }
    )
    _, tag = split_reference(reference)
    index_blob = _json_bytes(
        {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [
                {
                    "mediaType": MANIFEST_MEDIA_TYPE,
                    "digest": _digest(manifest_blob),
                    "size": len(manifest_blob),
                    "platform": {"architecture": go_architecture(), "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": reference,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
    )
    files = {
        "oci-layout": _json_bytes({"imageLayoutVersion": "1.0.0"}),
        "index.json": index_blob,
    }
    for blob in (layer, config_blob, manifest_blob):
        files["blobs/sha256/" + _digest(blob).removeprefix("sha256:")] = blob
    return _archive(files)


def _config_object(config: ImageConfig) -> dict[str, object]:
    result: dict[str, object] = {"Env": list(config.env), "WorkingDir": config.working_dir}
    if config.entrypoint:
        result["Entrypoint"] = list(config.entrypoint)
    if config.cmd:
        result["Cmd"] = list(config.cmd)
    if config.labels:
        result["Labels"] = dict(config.labels)
    return result


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- the two built-in images ----


def pause_binary() -> Path:
    """Return the path of the static pykube-pause binary that the build installed.

    Raises FileNotFoundError with the build command when it is missing
    (a source checkout where build_ext has not run).
    """
    path = Path(pykube_control.agent.__file__).parent / PAUSE_BINARY_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"sandbox binary {path} not found; build it with "
            "'python setup.py build_ext --inplace' in the source tree, or reinstall pykube"
        )
    return path


def build_pause_image(binary: Path | None = None, reference: str = PAUSE_IMAGE) -> bytes:
    """Return the OCI tarball of the sandbox image: /pause and nothing else."""
    source = binary or pause_binary()
    entries = [LayerEntry("pause", mode=0o755, source=source)]
    return build_oci_archive(reference, entries, ImageConfig(entrypoint=("/pause",), env=()))


def busybox_applets(busybox: Path = BUSYBOX) -> list[str]:
    """Return the applet paths busybox installs, relative to the root ("bin/sh", "usr/bin/awk")."""
    output = subprocess.run(
        [str(busybox), "--list-full"], check=True, capture_output=True, text=True
    ).stdout
    return sorted({line.strip().lstrip("/") for line in output.splitlines() if line.strip()})


def busybox_entries(busybox: Path = BUSYBOX) -> list[LayerEntry]:
    """Return the root filesystem of a busybox image: the binary, its applet links, /etc and /tmp."""
    if not busybox.is_file():
        raise FileNotFoundError(
            f"busybox binary {busybox} not found; install a static busybox "
            "(Debian: apt-get install busybox-static)"
        )
    entries = [LayerEntry("bin/busybox", mode=0o755, source=busybox)]
    directories = {"bin", "etc", "tmp", "root", "proc", "sys", "dev", "var", "home"}
    for applet in busybox_applets(busybox):
        if applet == "bin/busybox":
            continue
        parent = os.path.dirname(applet)
        while parent:
            directories.add(parent)
            parent = os.path.dirname(parent)
        entries.append(LayerEntry(applet, mode=0o777, link="/bin/busybox"))
    for directory in directories:
        entries.append(LayerEntry(directory, mode=0o1777 if directory == "tmp" else 0o755, is_dir=True))
    entries.append(LayerEntry("etc/passwd", mode=0o644, data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"))
    entries.append(LayerEntry("etc/group", mode=0o644, data=b"root:x:0:\nnobody:x:65534:\n"))
    return entries


def build_busybox_image(reference: str, busybox: Path = BUSYBOX) -> bytes:
    """Return the OCI tarball of a busybox image whose default command is ``sh``."""
    return build_oci_archive(reference, busybox_entries(busybox), ImageConfig(cmd=("sh",)))
