"""CRI benchmarks: what one pod start, stop and exec costs through CRIClient and containerd.

A private containerd 1.6 with runc (tests/cri/containerd_env.py) runs on
the machine named in the section, with pykube's pause image and a busybox
image imported. Every pod is a host-network sandbox (no CNI) with one
busybox container running ``sleep 600``, so the figures are containerd's
and runc's own work plus the client, without any network setup.

- Version: one unary CRI call, the client's and gRPC's own overhead.
- ContainerStatus: one status call on a running container, which the pod
  worker makes on every sync.
- pod start: RunPodSandbox, CreateContainer and StartContainer, the three
  calls that take a pod from nothing to a running container.
- pod stop: StopContainer with a zero grace period, StopPodSandbox and
  RemovePodSandbox. Each round's pod is started untimed first.
- ExecSync: ``true`` in a running container, as an exec probe runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest

from pykube_control.cri.client import CRIClient
from tests.cri.containerd_env import (
    MISSING_TOOLS_REASON,
    ContainerdEnv,
    container_config,
    containerd_env,
    missing_tools,
)

ROUNDS = 20

pytestmark = pytest.mark.skipif(missing_tools(), reason=MISSING_TOOLS_REASON)


@pytest.fixture(scope="module")
def env(loop: asyncio.AbstractEventLoop) -> Iterator[ContainerdEnv]:
    manager = containerd_env()
    running = loop.run_until_complete(manager.__aenter__())
    try:
        yield running
    finally:
        loop.run_until_complete(manager.__aexit__(None, None, None))


async def start_pod(env: ContainerdEnv, name: str) -> tuple[str, str]:
    config = env.sandbox_config(name)
    sandbox_id = await env.cri.run_pod_sandbox(config)
    container_id = await env.cri.create_container(sandbox_id, container_config("main", ["sleep", "600"]), config)
    await env.cri.start_container(container_id)
    return sandbox_id, container_id


async def stop_pod(cri: CRIClient, sandbox_id: str, container_id: str) -> None:
    await cri.stop_container(container_id, 0)
    await cri.stop_pod_sandbox(sandbox_id)
    await cri.remove_pod_sandbox(sandbox_id)


@pytest.fixture(scope="module")
def running_pod(loop: asyncio.AbstractEventLoop, env: ContainerdEnv) -> Iterator[tuple[str, str]]:
    pod = loop.run_until_complete(start_pod(env, "bench-running"))
    try:
        yield pod
    finally:
        loop.run_until_complete(stop_pod(env.cri, *pod))


@pytest.mark.benchmark(group="CRI calls")
def bench_version(benchmark: Any, loop: asyncio.AbstractEventLoop, env: ContainerdEnv) -> None:
    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(lambda: loop.run_until_complete(env.cri.version()), rounds=ROUNDS * 5, iterations=1)


@pytest.mark.benchmark(group="CRI calls")
def bench_container_status(
    benchmark: Any, loop: asyncio.AbstractEventLoop, env: ContainerdEnv, running_pod: tuple[str, str]
) -> None:
    _, container_id = running_pod
    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(
        lambda: loop.run_until_complete(env.cri.container_status(container_id)), rounds=ROUNDS * 5, iterations=1
    )


@pytest.mark.benchmark(group="CRI calls")
def bench_exec_sync(
    benchmark: Any, loop: asyncio.AbstractEventLoop, env: ContainerdEnv, running_pod: tuple[str, str]
) -> None:
    _, container_id = running_pod
    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(
        lambda: loop.run_until_complete(env.cri.exec_sync(container_id, ["true"], 5)), rounds=ROUNDS, iterations=1
    )


@pytest.mark.benchmark(group="pod start and stop")
def bench_pod_start(benchmark: Any, loop: asyncio.AbstractEventLoop, env: ContainerdEnv) -> None:
    names = count()
    started: list[tuple[str, str]] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        # Remove the previous round's pod untimed, so every round starts on a node with the same pod count.
        if started:
            loop.run_until_complete(stop_pod(env.cri, *started.pop()))
        return (f"bench-start-{next(names)}",), {}

    def run(name: str) -> None:
        started.append(loop.run_until_complete(start_pod(env, name)))

    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    for pod in started:
        loop.run_until_complete(stop_pod(env.cri, *pod))


@pytest.mark.benchmark(group="pod start and stop")
def bench_pod_stop(benchmark: Any, loop: asyncio.AbstractEventLoop, env: ContainerdEnv) -> None:
    names = count()

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        sandbox_id, container_id = loop.run_until_complete(start_pod(env, f"bench-stop-{next(names)}"))
        return (sandbox_id, container_id), {}

    def run(sandbox_id: str, container_id: str) -> None:
        loop.run_until_complete(stop_pod(env.cri, sandbox_id, container_id))

    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
