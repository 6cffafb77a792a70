"""Rotation of a running container's log on real containerd: renamed, reopened, and written again."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from pykube_control.agent.log_rotation import rotated_files, rotation_loop, running_log_paths
from tests.cri.containerd_env import MISSING_TOOLS_REASON, containerd_env, container_config, missing_tools

pytestmark = [pytest.mark.skipif(missing_tools(), reason=MISSING_TOOLS_REASON)]

CHATTY = ["sh", "-c", "while true; do echo 0123456789abcdef0123456789abcdef; sleep 0.001; done"]


async def test_running_log_rotates_and_reopens() -> None:
    async with containerd_env() as env:
        config = env.sandbox_config("chatty", uid="uid-chatty")
        sandbox = await env.cri.run_pod_sandbox(config)
        container = await env.cri.create_container(sandbox, container_config("talk", CHATTY), config)
        await env.cri.start_container(container)
        current = env.log_root / "default_chatty_uid-chatty" / "talk" / "0.log"

        paths = await running_log_paths(env.cri, env.log_root)
        assert paths == {current: container}

        loop = asyncio.create_task(rotation_loop(env.cri, env.log_root, max_bytes=16 * 1024, max_files=3, interval=0.2))
        try:
            for _ in range(100):
                if rotated_files(current):
                    break
                await asyncio.sleep(0.1)
            size_after_rotation = current.stat().st_size if current.exists() else 0
            await asyncio.sleep(0.5)
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        assert rotated_files(current)
        assert current.stat().st_size > size_after_rotation
