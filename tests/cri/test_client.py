"""CRIClient against a real containerd: sandboxes, containers, exec, logs, images and errors."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import grpc
import pytest

from pykube_control.agent.image_build import PAUSE_IMAGE, build_busybox_image
from pykube_control.agent.images import import_archive
from pykube_control.cri.client import CRIClient
from pykube_control.cri.errors import CRIError, CRINotFoundError, CRITimeoutError, CRIUnavailableError
from pykube_control.cri.proto import api_pb2
from tests.cri.containerd_env import BUSYBOX_IMAGE, ContainerdEnv, container_config, mounts_under

pytestmark = pytest.mark.asyncio(loop_scope="module")

CRI_LOG_LINE = re.compile(r"^\S+Z (stdout|stderr) [FP] (.*)$")


async def wait_for_state(cri: CRIClient, container_id: str, state: int, timeout: float = 10.0) -> api_pb2.ContainerStatus:
    """Poll ContainerStatus until the container reaches ``state``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await cri.container_status(container_id)
        if status.state == state or loop.time() > deadline:
            return status
        await asyncio.sleep(0.05)


async def wait_for_file_text(path: Path, text: str, timeout: float = 10.0) -> str:
    """Poll a file until it contains ``text``; return its content."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        content = path.read_text() if path.exists() else ""
        if text in content or loop.time() > deadline:
            return content
        await asyncio.sleep(0.05)


async def run_pod(env: ContainerdEnv, name: str, command: list[str]) -> tuple[str, str, api_pb2.PodSandboxConfig]:
    """Run a host-network sandbox with one started busybox container; return both ids and the config."""
    sandbox_config = env.sandbox_config(name)
    sandbox_id = await env.cri.run_pod_sandbox(sandbox_config)
    container_id = await env.cri.create_container(sandbox_id, container_config("main", command), sandbox_config)
    await env.cri.start_container(container_id)
    return sandbox_id, container_id, sandbox_config


async def test_version_names_containerd(env: ContainerdEnv) -> None:
    version = await env.cri.version()
    assert version.runtime_name == "containerd"
    assert version.runtime_api_version == "v1"


async def test_status_runtime_ready(env: ContainerdEnv) -> None:
    status = await env.cri.status()
    conditions = {condition.type: condition.status for condition in status.status.conditions}
    assert conditions.get("RuntimeReady") is True


async def test_pod_lifecycle(env: ContainerdEnv) -> None:
    cri = env.cri
    sandbox_id, container_id, sandbox_config = await run_pod(env, "hello", ["sh", "-c", "echo hello; echo oops >&2; sleep 30"])

    sandbox = await cri.pod_sandbox_status(sandbox_id)
    assert sandbox.state == api_pb2.SANDBOX_READY
    assert sandbox.metadata.name == "hello"
    assert sandbox.linux.namespaces.options.network == api_pb2.NODE

    status = await wait_for_state(cri, container_id, api_pb2.CONTAINER_RUNNING)
    assert status.state == api_pb2.CONTAINER_RUNNING
    assert status.metadata.name == "main"
    assert status.image.image == BUSYBOX_IMAGE
    assert status.image_ref.startswith("sha256:")
    assert status.started_at >= status.created_at > 0
    assert status.finished_at == 0

    log_path = Path(sandbox_config.log_directory) / "main" / "0.log"
    assert status.log_path == str(log_path)
    content = await wait_for_file_text(log_path, "oops")
    lines = [CRI_LOG_LINE.match(line) for line in content.splitlines()]
    assert all(lines), content
    assert ("stdout", "hello") in [(match.group(1), match.group(2)) for match in lines if match]
    assert ("stderr", "oops") in [(match.group(1), match.group(2)) for match in lines if match]

    result = await cri.exec_sync(container_id, ["sh", "-c", "echo out; echo err >&2; exit 3"], 5)
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert result.exit_code == 3

    listed = await cri.list_containers(sandbox_id=sandbox_id)
    assert [container.id for container in listed] == [container_id]

    await cri.stop_container(container_id, 5)
    stopped = await cri.container_status(container_id)
    assert stopped.state == api_pb2.CONTAINER_EXITED
    assert stopped.exit_code == 143  # sh killed by SIGTERM: 128 + 15
    assert stopped.finished_at >= stopped.started_at

    await cri.remove_container(container_id)
    assert await cri.list_containers(sandbox_id=sandbox_id) == []

    await cri.stop_pod_sandbox(sandbox_id)
    assert (await cri.pod_sandbox_status(sandbox_id)).state == api_pb2.SANDBOX_NOTREADY
    await cri.remove_pod_sandbox(sandbox_id)
    assert await cri.list_pod_sandbox(sandbox_id=sandbox_id) == []


async def test_stop_remove_idempotent(env: ContainerdEnv) -> None:
    sandbox_id, container_id, _ = await run_pod(env, "twice", ["sleep", "30"])
    await env.cri.remove_pod_sandbox(sandbox_id)
    # Both objects are gone now; the CRI spec makes repeats succeed.
    await env.cri.stop_container(container_id, 0)
    await env.cri.remove_container(container_id)
    await env.cri.stop_pod_sandbox(sandbox_id)
    await env.cri.remove_pod_sandbox(sandbox_id)


async def test_list_sandbox_filters(env: ContainerdEnv) -> None:
    config = env.sandbox_config("filtered", labels={"app": "filtered"})
    sandbox_id = await env.cri.run_pod_sandbox(config)
    try:
        by_label = await env.cri.list_pod_sandbox(labels={"app": "filtered"})
        ready = await env.cri.list_pod_sandbox(state=api_pb2.SANDBOX_READY)
        not_ready = await env.cri.list_pod_sandbox(state=api_pb2.SANDBOX_NOTREADY)
        assert [sandbox.id for sandbox in by_label] == [sandbox_id]
        assert sandbox_id in [sandbox.id for sandbox in ready]
        assert sandbox_id not in [sandbox.id for sandbox in not_ready]
    finally:
        await env.cri.stop_pod_sandbox(sandbox_id)
        await env.cri.remove_pod_sandbox(sandbox_id)


async def test_reopen_log_and_resources(env: ContainerdEnv) -> None:
    sandbox_id, container_id, config = await run_pod(env, "rotate", ["sh", "-c", "sleep 0.5; echo after; sleep 30"])
    try:
        log_path = Path(config.log_directory) / "main" / "0.log"
        log_path.rename(log_path.with_suffix(".log.1"))
        await env.cri.reopen_container_log(container_id)
        assert "after" in await wait_for_file_text(log_path, "after")

        await env.cri.update_container_resources(container_id, api_pb2.LinuxContainerResources(cpu_shares=512))
        status = await env.cri.container_status(container_id)
        assert status.resources.linux.cpu_shares == 512
    finally:
        await env.cri.stop_pod_sandbox(sandbox_id)
        await env.cri.remove_pod_sandbox(sandbox_id)


async def test_error_names_pod_and_container(env: ContainerdEnv) -> None:
    sandbox_config = env.sandbox_config("broken")
    sandbox_id = await env.cri.run_pod_sandbox(sandbox_config)
    try:
        config = container_config("app", ["true"], image="localhost/pykube/absent:1")
        with pytest.raises(CRIError) as caught:
            await env.cri.create_container(sandbox_id, config, sandbox_config)
        message = str(caught.value)
        assert "CreateContainer" in message
        assert "container app" in message
        assert "pod default/broken" in message
        assert "localhost/pykube/absent:1" in message
        assert caught.value.pod == "default/broken"
        assert caught.value.container == "app"
    finally:
        await env.cri.stop_pod_sandbox(sandbox_id)
        await env.cri.remove_pod_sandbox(sandbox_id)


async def test_exec_error_names_container(env: ContainerdEnv) -> None:
    sandbox_id, container_id, _ = await run_pod(env, "exited", ["true"])
    try:
        await wait_for_state(env.cri, container_id, api_pb2.CONTAINER_EXITED)
        with pytest.raises(CRIError) as caught:
            await env.cri.exec_sync(container_id, ["true"], 5)
        message = str(caught.value)
        assert "ExecSync" in message
        assert "container main" in message
        assert "pod default/exited" in message
    finally:
        await env.cri.stop_pod_sandbox(sandbox_id)
        await env.cri.remove_pod_sandbox(sandbox_id)


async def test_exec_deadline_names_container(env: ContainerdEnv) -> None:
    sandbox_id, container_id, _ = await run_pod(env, "slow", ["sleep", "30"])
    try:
        # timeout_seconds=0 sends no limit to the runtime, so the client's
        # 0.5 s deadline alone ends the call.
        with pytest.raises(CRITimeoutError) as caught:
            await env.cri.exec_sync(container_id, ["sleep", "10"], 0, timeout=0.5)
        message = str(caught.value)
        assert "timed out after 0.5 s" in message
        assert "container main" in message
        assert "pod default/slow" in message
    finally:
        await env.cri.stop_pod_sandbox(sandbox_id)
        await env.cri.remove_pod_sandbox(sandbox_id)


async def test_names_learned_from_lists(env: ContainerdEnv) -> None:
    sandbox_id, container_id, _ = await run_pod(env, "relisted", ["true"])
    try:
        await wait_for_state(env.cri, container_id, api_pb2.CONTAINER_EXITED)
        # A new client, as after an agent restart, knows only ids until it lists.
        async with CRIClient(env.socket, timeout=10) as fresh:
            with pytest.raises(CRIError) as before:
                await fresh.exec_sync(container_id, ["true"], 5)
            await fresh.list_pod_sandbox()
            await fresh.list_containers()
            with pytest.raises(CRIError) as after:
                await fresh.exec_sync(container_id, ["true"], 5)
        assert "container with id" in str(before.value)
        assert "container main" in str(after.value)
        assert "pod default/relisted" in str(after.value)
    finally:
        await env.cri.stop_pod_sandbox(sandbox_id)
        await env.cri.remove_pod_sandbox(sandbox_id)


async def test_status_of_unknown_container(env: ContainerdEnv) -> None:
    with pytest.raises(CRINotFoundError) as caught:
        await env.cri.container_status("0" * 64)
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert "0000000000000" in str(caught.value)


async def test_images_list_and_status(env: ContainerdEnv) -> None:
    tags = {tag for image in await env.cri.list_images() for tag in image.repo_tags}
    assert BUSYBOX_IMAGE in tags
    assert PAUSE_IMAGE in tags

    image = await env.cri.image_status(BUSYBOX_IMAGE)
    assert image is not None
    assert image.id.startswith("sha256:")
    assert image.size > 0
    assert await env.cri.image_status("localhost/pykube/absent:1") is None


async def test_remove_image(env: ContainerdEnv) -> None:
    name = f"localhost/pykube/removable:{env.suffix}"
    archive = env.directory / "removable.tar"
    archive.write_bytes(build_busybox_image(name))
    await import_archive(env.socket, archive)
    assert await env.cri.image_status(name) is not None

    await env.cri.remove_image(name)
    assert await env.cri.image_status(name) is None
    await env.cri.remove_image(name)


async def test_pull_unreachable_registry(env: ContainerdEnv) -> None:
    # Port 1 on loopback refuses connections, so the pull fails fast and
    # sends nothing off the machine.
    image = "127.0.0.1:1/pykube/nothing:1"
    with pytest.raises(CRIError) as caught:
        await env.cri.pull_image(image, timeout=20)
    assert image in str(caught.value)
    assert "PullImage" in str(caught.value)


async def test_unreachable_socket(tmp_path: Path) -> None:
    socket = tmp_path / "none.sock"
    async with CRIClient(socket, timeout=2) as cri:
        with pytest.raises(CRIUnavailableError) as caught:
            await cri.version()
    assert str(socket) in str(caught.value)


@pytest.mark.parametrize(
    ("grace", "message"),
    [
        pytest.param(-1, "grace_seconds", id="negative grace period"),
    ],
)
async def test_stop_rejects_invalid_grace(env: ContainerdEnv, grace: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await env.cri.stop_container("0" * 64, grace)


async def test_exec_rejects_empty_command(env: ContainerdEnv) -> None:
    with pytest.raises(ValueError, match="needs a command"):
        await env.cri.exec_sync("0" * 64, [], 1)


# CNI plugins that configure nothing: one reports an address, the other
# stands in for "loopback", which containerd 1.6 runs for every pod
# network sandbox. They let a sandbox with its own network namespace run
# without pykube's real plugin, whose own tests cover the networking.
STATIC_CNI_PLUGIN = """#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
ADD) printf '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.250.0.7/24"}]}' ;;
VERSION) printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}' ;;
esac
"""
NOOP_LOOPBACK_PLUGIN = """#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
ADD) printf '{"cniVersion":"0.4.0"}' ;;
VERSION) printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}' ;;
esac
"""


async def wait_network_ready(cri: CRIClient, timeout: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        status = await cri.status()
        if any(c.type == "NetworkReady" and c.status for c in status.status.conditions):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_pod_network_sandbox(env: ContainerdEnv) -> None:
    bin_dir, conf_dir = env.containerd.cni_bin_dir, env.containerd.cni_conf_dir
    bin_dir.mkdir(parents=True, exist_ok=True)
    conf_dir.mkdir(parents=True, exist_ok=True)
    for name, script in (("pykube-static-cni", STATIC_CNI_PLUGIN), ("loopback", NOOP_LOOPBACK_PLUGIN)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    (conf_dir / "10-static.conf").write_text('{"cniVersion":"0.4.0","name":"static","type":"pykube-static-cni"}')
    assert await wait_network_ready(env.cri)

    sandbox_id = await env.cri.run_pod_sandbox(env.sandbox_config("networked", host_network=False))
    try:
        status = await env.cri.pod_sandbox_status(sandbox_id)
        assert status.network.ip == "10.250.0.7"
        assert status.linux.namespaces.options.network == api_pb2.POD
        netns_mounts = [point for point in mounts_under(env.containerd.paths.state) if "netns" in point]
        assert len(netns_mounts) == 1
    finally:
        await env.cri.stop_pod_sandbox(sandbox_id)
        await env.cri.remove_pod_sandbox(sandbox_id)
    assert [point for point in mounts_under(env.containerd.paths.state) if "netns" in point] == []
