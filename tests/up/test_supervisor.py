"""The supervisor behind `pykube up`: start order, readiness, restarts and stop order, with real child processes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from pykube_control.cli.up_supervisor import Component, ComponentFailed, Supervisor


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def test_restarts_a_crashed_component(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs", initial_backoff=0.05, max_backoff=0.1)
    await supervisor.start([Component("crasher", python("import sys; print('up'); sys.exit(3)"))])
    try:
        for _ in range(200):
            if supervisor.restarts["crasher"] >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await supervisor.stop()
    assert supervisor.restarts["crasher"] >= 2


async def test_log_collects_every_run(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs", initial_backoff=0.05, max_backoff=0.05)
    await supervisor.start([Component("crasher", python("print('run')"))])
    try:
        for _ in range(200):
            if supervisor.log_path("crasher").read_text().count("run\n") >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await supervisor.stop()
    assert supervisor.log_path("crasher").read_text().count("run\n") >= 2


async def test_waits_for_readiness_before_the_next(tmp_path: Path) -> None:
    marker = tmp_path / "ready"
    order: list[str] = []

    async def ready() -> bool:
        if marker.exists():
            order.append("first ready")
            return True
        return False

    supervisor = Supervisor(tmp_path / "logs")
    first = Component("first", python(f"import time, pathlib; time.sleep(0.3); pathlib.Path({str(marker)!r}).touch(); time.sleep(60)"), ready=ready)
    second = Component("second", python("import time; time.sleep(60)"))
    await supervisor.start([first, second])
    try:
        order.append("second started" if supervisor.pid("second") else "second missing")
    finally:
        await supervisor.stop()
    assert order == ["first ready", "second started"]


async def test_component_exiting_before_ready_fails(tmp_path: Path) -> None:
    async def never() -> bool:
        return False

    supervisor = Supervisor(tmp_path / "logs")
    with pytest.raises(ComponentFailed, match=r"broken exited with code 2 before it was ready; see .*broken\.log"):
        await supervisor.start([Component("broken", python("import sys; sys.exit(2)"), ready=never)])
    await supervisor.stop()


async def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    supervisor = Supervisor(tmp_path / "logs")
    await supervisor.start([Component("stubborn", python(code), stop_grace=0.3)])
    pid = supervisor.pid("stubborn")
    await asyncio.sleep(0.2)
    await supervisor.stop()
    assert pid is not None
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


async def test_stops_in_reverse_order(tmp_path: Path) -> None:
    record = tmp_path / "order"
    code = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        f"    open({str(record)!r}, 'a').write(sys.argv[1] + '\\n'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "time.sleep(60)\n"
    )
    supervisor = Supervisor(tmp_path / "logs")
    await supervisor.start([Component(name, [sys.executable, "-c", code, name]) for name in ("a", "b", "c")])
    await asyncio.sleep(0.3)
    await supervisor.stop()
    assert record.read_text().split() == ["c", "b", "a"]
