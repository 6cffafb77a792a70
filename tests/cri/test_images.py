"""Image import, renaming, the images folder, pulls, pull policies and `pykube images`, on a real containerd."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from pykube_control.agent.image_build import PAUSE_IMAGE, ImageConfig, LayerEntry, build_busybox_image, build_layer, build_oci_archive
from pykube_control.agent.images import (
    ImageError,
    ImageNeverPullError,
    ensure_image,
    import_archive,
    import_images_dir,
    import_node_images,
    run_ctr,
)
from pykube_control.cri.errors import CRIError
from tests.cri.containerd_env import BUSYBOX_IMAGE, ContainerdEnv
from tests.cri.registry import LoopbackRegistry

pytestmark = pytest.mark.asyncio(loop_scope="module")


def docker_archive(repo_tag: str) -> bytes:
    """Return a docker-archive tarball (the `docker save` format) of a one-file image."""
    layer = build_layer([LayerEntry("hello.txt", mode=0o644, data=b"hello\n")])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["cat", "/hello.txt"]},
         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = hashlib.sha256(layer).hexdigest() + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [repo_tag], "Layers": [layer_name]}]).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in ((config_name, config), (layer_name, layer), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def ctr_image_names(env: ContainerdEnv) -> set[str]:
    output = await run_ctr(env.socket, ["images", "list", "--quiet"])
    return set(output.split())


async def run_cli(*args: str) -> tuple[int, str, str]:
    """Run `pykube ARGS` as a user would and return its exit status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pykube_control.cli.main", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_unqualified_name_renamed(env: ContainerdEnv) -> None:
    archive = env.directory / "unqualified.tar"
    name = f"pykube-unqualified:{env.suffix}"
    archive.write_bytes(build_oci_archive(name, [LayerEntry("a", data=b"a")], ImageConfig()))

    names = await import_archive(env.socket, archive)

    assert names == [f"localhost/{name}"]
    assert await env.cri.image_status(f"localhost/{name}") is not None
    assert name not in await ctr_image_names(env)


async def test_docker_archive_import(env: ContainerdEnv) -> None:
    archive = env.directory / "docker.tar"
    archive.write_bytes(docker_archive(f"pykube-docker:{env.suffix}"))

    names = await import_archive(env.socket, archive)

    assert names == [f"docker.io/library/pykube-docker:{env.suffix}"]
    # CRI normalizes the short name the way a pod spec would use it.
    assert await env.cri.image_status(f"pykube-docker:{env.suffix}") is not None


async def test_oci_base_name(env: ContainerdEnv) -> None:
    archive = env.directory / "tag-only.tar"
    data = build_oci_archive(f"localhost/ignored:{env.suffix}", [LayerEntry("b", data=b"b")], ImageConfig())
    # Keep only the tag annotation, as many OCI tools write it.
    archive.write_bytes(_drop_name_annotation(data))

    names = await import_archive(env.socket, archive, base_name="localhost/pykube/based")

    assert names == [f"localhost/pykube/based:{env.suffix}"]


def _drop_name_annotation(data: bytes) -> bytes:
    source = tarfile.open(fileobj=io.BytesIO(data))
    buffer = io.BytesIO()
    with source, tarfile.open(fileobj=buffer, mode="w") as target:
        for member in source.getmembers():
            content = source.extractfile(member)
            payload = content.read() if content is not None else b""
            if member.name == "index.json":
                index = json.loads(payload)
                del index["manifests"][0]["annotations"]["io.containerd.image.name"]
                payload = json.dumps(index).encode()
                member.size = len(payload)
            target.addfile(member, io.BytesIO(payload) if member.isfile() else None)
    return buffer.getvalue()


async def test_import_missing_file(env: ContainerdEnv) -> None:
    with pytest.raises(ImageError, match="not found"):
        await import_archive(env.socket, env.directory / "absent.tar")


async def test_images_dir_imported(env: ContainerdEnv) -> None:
    data_dir = env.directory / "node"
    (data_dir / "images").mkdir(parents=True)
    name = f"localhost/pykube/dropped:{env.suffix}"
    (data_dir / "images" / "dropped.tar").write_bytes(build_busybox_image(name))
    (data_dir / "images" / "broken.tar").write_bytes(b"not a tarball")

    names = await import_images_dir(env.socket, data_dir)

    assert names == [name]
    assert await env.cri.image_status(name) is not None


async def test_node_images_imported(env: ContainerdEnv) -> None:
    data_dir = env.directory / "node-start"
    (data_dir / "images").mkdir(parents=True)
    name = f"localhost/pykube/at-start:{env.suffix}"
    (data_dir / "images" / "at-start.tar").write_bytes(build_busybox_image(name))

    names = await import_node_images(env.socket, data_dir)

    assert names == [PAUSE_IMAGE, name]


async def test_images_dir_missing(env: ContainerdEnv) -> None:
    assert await import_images_dir(env.socket, env.directory / "no-such-node") == []


@pytest.mark.parametrize(
    ("policy", "image", "error"),
    [
        pytest.param("Never", "localhost/pykube/absent:1", ImageNeverPullError, id="never and missing"),
        pytest.param("Always", "127.0.0.1:1/pykube/absent:1", CRIError, id="always and unreachable"),
        pytest.param("IfNotPresent", "127.0.0.1:1/pykube/absent:1", CRIError, id="missing and unreachable"),
        pytest.param("Sometimes", BUSYBOX_IMAGE, ValueError, id="invalid policy"),
    ],
)
async def test_ensure_image_fails(env: ContainerdEnv, policy: str, image: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        await ensure_image(env.cri, image, policy)


@pytest.mark.parametrize("policy", [pytest.param("IfNotPresent", id="if not present"), pytest.param("Never", id="never")])
async def test_ensure_image_present(env: ContainerdEnv, policy: str) -> None:
    status = await env.cri.image_status(BUSYBOX_IMAGE)
    assert status is not None
    assert await ensure_image(env.cri, BUSYBOX_IMAGE, policy) == status.id


async def test_cli_list(env: ContainerdEnv) -> None:
    status, stdout, stderr = await run_cli("images", "list", "--data-dir", str(env.directory))
    assert status == 0, stderr
    assert BUSYBOX_IMAGE in stdout


async def test_cli_import_running(env: ContainerdEnv) -> None:
    name = f"localhost/pykube/cli:{env.suffix}"
    archive = env.directory / "cli.tar"
    archive.write_bytes(build_busybox_image(name))

    status, stdout, stderr = await run_cli("images", "import", str(archive), "--data-dir", str(env.directory))

    assert status == 0, stderr
    assert f"imported {name}" in stdout
    assert await env.cri.image_status(name) is not None


async def test_cli_build_busybox(env: ContainerdEnv) -> None:
    name = f"localhost/pykube/clibusybox:{env.suffix}"
    status, stdout, stderr = await run_cli("images", "build-busybox", name, "--data-dir", str(env.directory))
    assert status == 0, stderr
    assert await env.cri.image_status(name) is not None


async def test_cli_build_busybox_unqualified(env: ContainerdEnv) -> None:
    status, _, stderr = await run_cli("images", "build-busybox", "busybox:1", "--data-dir", str(env.directory))
    assert status == 2
    assert "localhost/busybox:1" in stderr


async def test_cli_import_queued(tmp_path: Path) -> None:
    archive = tmp_path / "queued.tar"
    archive.write_bytes(build_oci_archive("localhost/q:1", [LayerEntry("q", data=b"q")], ImageConfig()))
    data_dir = tmp_path / "stopped-node"

    status, stdout, stderr = await run_cli("images", "import", str(archive), "--data-dir", str(data_dir))

    assert status == 0, stderr
    assert "queued" in stdout
    assert (data_dir / "images" / "queued.tar").read_bytes() == archive.read_bytes()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def registry() -> AsyncIterator[LoopbackRegistry]:
    """A registry on 127.0.0.1 serving the busybox image as pykube/busybox:1."""
    served = LoopbackRegistry()
    served.add_archive("pykube/busybox", "1", build_busybox_image("localhost/pykube/busybox:1"))
    await served.start()
    try:
        yield served
    finally:
        await served.stop()


async def test_pull_from_registry(env: ContainerdEnv, registry: LoopbackRegistry) -> None:
    image = f"{registry.host}/pykube/busybox:1"
    image_ref = await env.cri.pull_image(image)
    status = await env.cri.image_status(image)
    assert status is not None
    assert image_ref == status.id
    assert registry.requests["pykube/busybox:1"] >= 1


async def test_pull_policy_requests(env: ContainerdEnv, registry: LoopbackRegistry) -> None:
    image = f"{registry.host}/pykube/busybox:1"
    await ensure_image(env.cri, image, "Always")
    before = registry.requests["pykube/busybox:1"]

    await ensure_image(env.cri, image, "IfNotPresent")
    assert registry.requests["pykube/busybox:1"] == before

    await ensure_image(env.cri, image, "Always")
    assert registry.requests["pykube/busybox:1"] > before


async def test_pull_unknown_tag(env: ContainerdEnv, registry: LoopbackRegistry) -> None:
    image = f"{registry.host}/pykube/busybox:absent"
    with pytest.raises(CRIError) as caught:
        await env.cri.pull_image(image)
    assert image in str(caught.value)


async def test_pull_through_hosts_file(env: ContainerdEnv, registry: LoopbackRegistry) -> None:
    # "pykube-mirror.test" does not resolve; only the hosts.toml file
    # sends its pulls to the loopback registry.
    hosts_dir = env.containerd.paths.registry_hosts / "pykube-mirror.test"
    hosts_dir.mkdir(parents=True)
    (hosts_dir / "hosts.toml").write_text(
        f'server = "http://{registry.host}"\n\n'
        f'[host."http://{registry.host}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )

    image_ref = await env.cri.pull_image("pykube-mirror.test/pykube/busybox:1")

    assert image_ref.startswith("sha256:")
