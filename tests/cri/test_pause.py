"""pykube-pause: exits on SIGTERM and SIGINT, and reaps orphans as PID 1 of a pod."""

from __future__ import annotations

import asyncio
import signal

import pytest

from pykube_control.agent.image_build import pause_binary
from pykube_control.cri.proto import api_pb2
from tests.cri.containerd_env import ContainerdEnv, container_config

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize(
    "stop_signal",
    [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")],
)
async def test_exits_on_signal(stop_signal: signal.Signals) -> None:
    process = await asyncio.create_subprocess_exec(
        str(pause_binary()), stderr=asyncio.subprocess.PIPE
    )
    try:
        # The warning about not being PID 1 shows the handlers are installed.
        await asyncio.wait_for(process.stderr.readline(), 10)  # type: ignore[union-attr]
        process.send_signal(stop_signal)
        status = await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert status == 0


async def test_version_flag() -> None:
    process = await asyncio.create_subprocess_exec(
        str(pause_binary()), "-v", stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert stdout.startswith(b"pykube-pause ")


async def test_reaps_orphans_in_pod(env: ContainerdEnv) -> None:
    sandbox_config = env.sandbox_config("reaper")
    sandbox_config.linux.security_context.namespace_options.pid = api_pb2.POD
    sandbox_id = await env.cri.run_pod_sandbox(sandbox_config)
    try:
        # Each subshell exits at once, so its sleep is re-parented to PID 1
        # of the pod's PID namespace, the pause process, which must reap it.
        config = container_config("orphans", ["sh", "-c", "for i in 1 2 3; do (sleep 0.2 &); done; sleep 30"])
        config.linux.security_context.namespace_options.pid = api_pb2.POD
        container_id = await env.cri.create_container(sandbox_id, config, sandbox_config)
        await env.cri.start_container(container_id)
        await asyncio.sleep(1.0)

        result = await env.cri.exec_sync(container_id, ["ps", "-o", "pid,stat,comm"], 5)
        rows = [line.split() for line in result.stdout.decode().splitlines()[1:]]
        assert result.exit_code == 0
        assert ["1", "S", "pause"] in [row[:3] for row in rows]
        assert [row for row in rows if row[1].startswith("Z")] == []
        assert "sleep" in [row[2] for row in rows]  # the container's own sleep 30
    finally:
        await env.cri.stop_pod_sandbox(sandbox_id)
        await env.cri.remove_pod_sandbox(sandbox_id)
