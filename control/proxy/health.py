"""The proxy's HTTP endpoint: /healthz and /metrics.

/healthz answers 200 while syncs succeed and 503 once they stop: before
the first successful sync, or when the last sync failed and the last
success is older than the health timeout. A proxy whose transactions keep
failing serves stale rules, so its supervisor should see it as unhealthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

HEALTH_TIMEOUT = 60.0
"""Seconds a proxy may keep failing syncs before /healthz reports it unhealthy."""


def is_healthy(last_success: float | None, last_failure: float | None, timeout: float, now: float) -> bool:
    """Return whether syncs count as succeeding; times are time.time() values."""
    if last_success is None:
        return False
    if last_failure is None or last_failure < last_success:
        return True
    return now - last_success < timeout


class HealthServer:
    """Serve /healthz from a health check and /metrics from a registry."""

    def __init__(self, check: Callable[[], bool], registry: CollectorRegistry, host: str, port: int) -> None:
        self.check = check
        self.registry = registry
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on host:port; port 0 picks a free port, stored back in ``port``."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        if self.check():
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"syncs are not succeeding (checked at {time.time():.0f})\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
