"""The kernel fixture: every scheduler test runs against both kernels."""

from __future__ import annotations

import pytest

from pykube_core.scheduler import SchedulerKernel
from tests.scheduler.builders import load_kernel


@pytest.fixture(params=["py", "native"], scope="module")
def kernel(request: pytest.FixtureRequest) -> SchedulerKernel:
    return load_kernel(str(request.param))
