"""One private containerd per test module, shared by its tests (each start costs time)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.cri.containerd_env import MISSING_TOOLS_REASON, ContainerdEnv, containerd_env, missing_tools


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env() -> AsyncIterator[ContainerdEnv]:
    """A running containerd with the pause and busybox images, removed after the module."""
    if missing_tools():
        pytest.skip(MISSING_TOOLS_REASON)
    async with containerd_env() as running:
        yield running
