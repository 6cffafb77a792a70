"""Supervise the cluster's daemons as child processes for `pykube up`.

Each component is a `pykube <subcommand>` child process with its output
appended to ``<data-dir>/logs/<component>.log``. Components start in the
given order. A component with a readiness check delays the ones after it
until the check passes, so the controllers never start against an API
server that is not ready yet. A component that exits on its own is
restarted after a back-off that doubles from 1 s to 30 s and resets once
the component has run for a minute, because the scheduler and the
controller manager exit by design when they lose their Lease and must come
back.

Stopping sends SIGTERM in reverse start order, so the node agent stops
before the API server it reports to, waits up to the component's grace
period, then sends SIGKILL. Children run in their own process group: a
Ctrl-C in the terminal reaches `pykube up` alone, which then stops them in
order instead of all at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

log = logging.getLogger("pykube.up")

ReadyCheck = Callable[[], Awaitable[bool]]

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 30.0
HEALTHY_RUN = 60.0
"""Seconds of uptime after which a restarted component's back-off starts again from INITIAL_BACKOFF."""


@dataclasses.dataclass(frozen=True, slots=True)
class Component:
    """One supervised daemon: its command line, optional readiness check and stop grace period."""

    name: str
    argv: Sequence[str]
    ready: ReadyCheck | None = None
    ready_timeout: float = 60.0
    stop_grace: float = 15.0
    env: dict[str, str] | None = None


class ComponentFailed(Exception):
    """A component did not become ready in time; the message names it and its log file."""


@dataclasses.dataclass(slots=True)
class _Running:
    component: Component
    process: asyncio.subprocess.Process
    started: float
    restarts: int = 0


class Supervisor:
    """Start components in order, restart the ones that exit, stop them in reverse order."""

    def __init__(self, log_dir: Path, *, initial_backoff: float = INITIAL_BACKOFF, max_backoff: float = MAX_BACKOFF) -> None:
        self._log_dir = log_dir
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._running: dict[str, _Running] = {}
        self._order: list[str] = []
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False
        self.restarts: dict[str, int] = {}

    def log_path(self, name: str) -> Path:
        """Return the log file of component ``name``."""
        return self._log_dir / f"{name}.log"

    def pid(self, name: str) -> int | None:
        """Return the process id of the running component ``name``, or None."""
        running = self._running.get(name)
        return None if running is None else running.process.pid

    async def start(self, components: Sequence[Component]) -> None:
        """Start each component in order, waiting for its readiness check before the next one."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        for component in components:
            await self._spawn(component)
            self._order.append(component.name)
            self.restarts.setdefault(component.name, 0)
            if component.ready is not None:
                await self._wait_ready(component)
            self._watchers.append(asyncio.create_task(self._watch(component.name), name=f"watch-{component.name}"))

    async def stop(self) -> None:
        """Stop every component in reverse start order: SIGTERM, then SIGKILL after its grace period."""
        self._stopping = True
        for task in self._watchers:
            task.cancel()
        for task in self._watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for name in reversed(self._order):
            running = self._running.pop(name, None)
            if running is not None:
                await _terminate(running.process, name, running.component.stop_grace)

    async def _spawn(self, component: Component) -> None:
        log_file = self.log_path(component.name)
        env = dict(os.environ)
        if component.env:
            env.update(component.env)
        with log_file.open("ab") as out:
            out.write(f"--- pykube up: starting {component.name}: {' '.join(component.argv)}\n".encode())
            out.flush()
            process = await asyncio.create_subprocess_exec(
                *component.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        previous = self._running.get(component.name)
        restarts = 0 if previous is None else previous.restarts
        self._running[component.name] = _Running(component, process, time.monotonic(), restarts)
        log.info("component started component=%s pid=%d log=%s", component.name, process.pid, log_file)

    async def _wait_ready(self, component: Component) -> None:
        assert component.ready is not None
        deadline = time.monotonic() + component.ready_timeout
        process = self._running[component.name].process
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise ComponentFailed(
                    f"{component.name} exited with code {process.returncode} before it was ready; "
                    f"see {self.log_path(component.name)}"
                )
            if await component.ready():
                log.info("component ready component=%s", component.name)
                return
            await asyncio.sleep(0.05)
        raise ComponentFailed(
            f"{component.name} was not ready within {component.ready_timeout:.0f} s; see {self.log_path(component.name)}"
        )

    async def _watch(self, name: str) -> None:
        backoff = self._initial_backoff
        while True:
            running = self._running[name]
            code = await running.process.wait()
            if self._stopping:
                return
            uptime = time.monotonic() - running.started
            if uptime >= HEALTHY_RUN:
                backoff = self._initial_backoff
            log.warning(
                "component exited component=%s code=%s uptime=%.1fs restart_in=%.1fs log=%s",
                name, code, uptime, backoff, self.log_path(name),
            )  # fmt: skip
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)
            running.restarts += 1
            self.restarts[name] = running.restarts
            await self._spawn(running.component)


async def _terminate(process: asyncio.subprocess.Process, name: str, grace: float) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
        log.info("component stopped component=%s code=%s", name, process.returncode)
    except asyncio.TimeoutError:
        log.warning("component ignored SIGTERM for %.0fs; killing component=%s", grace, name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
