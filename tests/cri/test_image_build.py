"""OCI image tarballs built from host files: layout, determinism, names."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from pykube_control.agent.image_build import (
    ImageConfig,
    LayerEntry,
    build_busybox_image,
    build_oci_archive,
    build_pause_image,
    busybox_entries,
    go_architecture,
    pause_binary,
    split_reference,
)
from pykube_control.agent.images import is_fully_qualified, qualify


def read_archive(data: bytes) -> dict[str, bytes]:
    """Return the regular files of a tarball by name."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            if extracted is not None:
                files[member.name] = extracted.read()
    return files


def blob(files: dict[str, bytes], digest: str) -> bytes:
    return files["blobs/sha256/" + digest.removeprefix("sha256:")]


def image_parts(data: bytes) -> tuple[dict[str, object], dict[str, object], list[tarfile.TarInfo]]:
    """Return the index, the config and the layer members of a one-image OCI archive."""
    files = read_archive(data)
    index = json.loads(files["index.json"])
    manifest = json.loads(blob(files, index["manifests"][0]["digest"]))
    config = json.loads(blob(files, manifest["config"]["digest"]))
    layer = blob(files, manifest["layers"][0]["digest"])
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = tar.getmembers()
    return index, config, members


def test_archive_layout() -> None:
    entries = [LayerEntry("hello.txt", mode=0o644, data=b"hi\n")]
    data = build_oci_archive("localhost/test/hello:2", entries, ImageConfig(cmd=("cat", "/hello.txt")))
    files = read_archive(data)
    index, config, members = image_parts(data)
    annotations = index["manifests"][0]["annotations"]  # type: ignore[index]

    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    assert annotations["io.containerd.image.name"] == "localhost/test/hello:2"
    assert annotations["org.opencontainers.image.ref.name"] == "2"
    assert config["config"]["Cmd"] == ["cat", "/hello.txt"]  # type: ignore[index]
    assert config["architecture"] == go_architecture()
    assert [member.name for member in members] == ["hello.txt"]


def test_archive_is_deterministic() -> None:
    entries = [LayerEntry("a", data=b"1"), LayerEntry("dir", is_dir=True)]
    first = build_oci_archive("localhost/x:1", entries, ImageConfig())
    second = build_oci_archive("localhost/x:1", list(reversed(entries)), ImageConfig())
    assert first == second


def test_layer_rejects_absolute_path() -> None:
    with pytest.raises(ValueError, match="relative"):
        build_oci_archive("localhost/x:1", [LayerEntry("/etc/passwd", data=b"")], ImageConfig())


def test_pause_image_has_only_pause() -> None:
    index, config, members = image_parts(build_pause_image())
    assert [member.name for member in members] == ["pause"]
    assert config["config"]["Entrypoint"] == ["/pause"]  # type: ignore[index]
    assert members[0].mode == 0o755


def test_pause_binary_is_static() -> None:
    data = pause_binary().read_bytes()
    assert data[:4] == b"\x7fELF"
    # A dynamically linked program names its loader in a PT_INTERP segment.
    assert b"/lib64/ld-linux" not in data
    assert b"/lib/ld-linux" not in data


@pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="needs /bin/busybox (Debian: busybox-static)")
def test_busybox_image_links_applets() -> None:
    _, config, members = image_parts(build_busybox_image("localhost/bb:1"))
    by_name = {member.name: member for member in members}
    assert by_name["bin/sh"].issym()
    assert by_name["bin/sh"].linkname == "/bin/busybox"
    assert by_name["bin/busybox"].isfile()
    assert by_name["tmp"].mode == 0o1777
    assert "etc/passwd" in by_name
    assert config["config"]["Cmd"] == ["sh"]  # type: ignore[index]


def test_busybox_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="busybox-static"):
        busybox_entries(tmp_path / "busybox")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        pytest.param("localhost/pykube/pause:1.0", ("localhost/pykube/pause", "1.0"), id="tagged"),
        pytest.param("localhost/app", ("localhost/app", "latest"), id="untagged"),
        pytest.param("host:5000/app", ("host:5000/app", "latest"), id="registry port, no tag"),
        pytest.param("host:5000/app:2", ("host:5000/app", "2"), id="registry port and tag"),
    ],
)
def test_split_reference(reference: str, expected: tuple[str, str]) -> None:
    assert split_reference(reference) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("busybox:1", "localhost/busybox:1", id="bare name"),
        pytest.param("pykube/pause:1.0", "localhost/pykube/pause:1.0", id="user and name"),
        pytest.param("localhost/app:1", "localhost/app:1", id="localhost"),
        pytest.param("docker.io/library/busybox:1", "docker.io/library/busybox:1", id="docker hub"),
        pytest.param("host:5000/app", "host:5000/app", id="registry with port"),
    ],
)
def test_qualify(name: str, expected: str) -> None:
    assert qualify(name) == expected
    assert is_fully_qualified(expected)
