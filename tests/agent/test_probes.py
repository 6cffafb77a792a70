"""Tests of probe attempts (httpGet, tcpSocket, exec) and of the probe worker's thresholds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from pykube_control.agent.probes import ProbeKind, ProbeWorker, resolve_port, run_probe


@pytest.fixture
async def http_port() -> AsyncIterator[int]:
    """An HTTP server on 127.0.0.1: /ok answers 200, /fail 500, /redirect 302, /slow after 2 s."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("X-Probe", "ok"))

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500)

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/fail"})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response()

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/fail", fail)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def no_exec(command: list[str], timeout: float) -> tuple[int, bytes]:
    raise AssertionError("exec must not run for this probe")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/ok", True, id="200"),
        pytest.param("/fail", False, id="500"),
        pytest.param("/redirect", True, id="redirect not followed"),
    ],
)
async def test_http_probe(http_port: int, path: str, expected: bool) -> None:
    probe = {"httpGet": {"path": path, "port": http_port}, "timeoutSeconds": 1}
    ok, _ = await run_probe(probe, pod_ip="127.0.0.1", container={}, exec_probe=no_exec)
    assert ok is expected


async def test_http_probe_timeout(http_port: int) -> None:
    probe = {"httpGet": {"path": "/slow", "port": http_port}, "timeoutSeconds": 1}
    ok, message = await run_probe(probe, pod_ip="127.0.0.1", container={}, exec_probe=no_exec)
    assert not ok
    assert "timed out" in message


async def test_http_probe_named_port(http_port: int) -> None:
    container = {"name": "web", "ports": [{"name": "http", "containerPort": http_port}]}
    probe = {"httpGet": {"path": "/ok", "port": "http"}}
    ok, _ = await run_probe(probe, pod_ip="127.0.0.1", container=container, exec_probe=no_exec)
    assert ok


async def test_tcp_probe_open(http_port: int) -> None:
    ok, _ = await run_probe({"tcpSocket": {"port": http_port}}, pod_ip="127.0.0.1", container={}, exec_probe=no_exec)
    assert ok


async def test_tcp_probe_closed() -> None:
    # Bind and close a socket to find a port that nothing listens on.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    ok, _ = await run_probe({"tcpSocket": {"port": port}}, pod_ip="127.0.0.1", container={}, exec_probe=no_exec)
    assert not ok


@pytest.mark.parametrize(("code", "expected"), [pytest.param(0, True, id="exit 0"), pytest.param(1, False, id="exit 1")])
async def test_exec_probe(code: int, expected: bool) -> None:
    calls: list[list[str]] = []

    async def run(command: list[str], timeout: float) -> tuple[int, bytes]:
        calls.append(command)
        return code, b"out"

    ok, _ = await run_probe({"exec": {"command": ["cat", "/tmp/ready"]}}, pod_ip="", container={}, exec_probe=run)
    assert ok is expected
    assert calls == [["cat", "/tmp/ready"]]


def test_resolve_port_unknown_name() -> None:
    with pytest.raises(ValueError, match="metrics"):
        resolve_port("metrics", {"name": "web", "ports": []})


def worker(kind: ProbeKind, probe: dict[str, Any]) -> ProbeWorker:
    return ProbeWorker(kind, probe, container={}, pod_ip="", exec_probe=no_exec, on_change=lambda: None,
                       started_at=time.time())  # fmt: skip


def test_readiness_starts_failed() -> None:
    assert worker(ProbeKind.READINESS, {}).result is False


def test_readiness_success_threshold() -> None:
    probe = worker(ProbeKind.READINESS, {"successThreshold": 2})
    assert probe.record(True, "") is False
    assert probe.record(True, "") is True
    assert probe.result is True


def test_readiness_failure_threshold() -> None:
    probe = worker(ProbeKind.READINESS, {"failureThreshold": 2})
    probe.result = True
    assert probe.record(False, "") is False
    assert probe.record(False, "") is True
    assert probe.result is False
    assert probe.failed_for_good is False


def test_liveness_failure_kills() -> None:
    probe = worker(ProbeKind.LIVENESS, {"failureThreshold": 1})
    assert probe.record(False, "boom") is True
    assert probe.failed_for_good is True


def test_liveness_success_resets_failures() -> None:
    probe = worker(ProbeKind.LIVENESS, {"failureThreshold": 2})
    probe.record(False, "")
    probe.record(True, "")
    probe.record(False, "")
    assert probe.failed_for_good is False


async def test_worker_flips_and_calls_back() -> None:
    changes: list[bool] = []
    attempts = 0

    async def run(command: list[str], timeout: float) -> tuple[int, bytes]:
        nonlocal attempts
        attempts += 1
        return 0, b""

    probe = ProbeWorker(
        ProbeKind.READINESS, {"exec": {"command": ["true"]}, "periodSeconds": 0.05}, container={}, pod_ip="",
        exec_probe=run, on_change=lambda: changes.append(True), started_at=time.time(),
    )  # fmt: skip
    probe.start()
    try:
        for _ in range(100):
            if changes:
                break
            await asyncio.sleep(0.02)
    finally:
        await probe.stop()
    assert changes == [True]
    assert probe.result is True
