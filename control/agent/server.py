"""The agent's HTTPS endpoint, which the API server calls for ``kubectl logs``.

It serves ``GET /containerLogs/{namespace}/{pod}/{container}`` with the
kubelet's query parameters (follow, previous, timestamps, tailLines,
sinceSeconds, sinceTime, limitBytes) as ``text/plain``, streamed while
``follow`` is set. Only the API server may call it: the TLS handshake
accepts client certificates signed by the cluster CA, and the handler
responds with 401 without one and 403 unless the certificate's user is in
``allowed_users`` or one of its groups in ``allowed_groups``.

Which file holds which container's log, and whether that container still
runs, comes from a ``LogSource``. ``LogDirectory`` finds files in the
kubelet's layout; the pod worker may provide one that knows its containers.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from pykube_control.agent.logs import POLL_INTERVAL, LogOptions, log_files, parse_timestamp, read_log

log = logging.getLogger("pykube.agent")

APISERVER_CLIENT_USER = "kube-apiserver-kubelet-client"
"""The user name in the client certificate the API server presents to node agents."""

ADMIN_GROUP = "system:masters"

_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
"""Namespace, pod and container names (DNS-1123, dots allowed for pod names); rules out "..", "/" and globs."""


class LogUnavailable(Exception):
    """No log to serve; ``status`` is the HTTP status (400 or 404) and the message gives the reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LogSource(Protocol):
    def log_path(self, namespace: str, pod: str, container: str, previous: bool) -> Path:
        """Return the log file of the container's current (or previous) run; raise LogUnavailable."""
        ...

    def running(self, namespace: str, pod: str, container: str) -> bool:
        """Return whether the container's current run may still write to its log."""
        ...


class LogDirectory:
    """Log files in ``<logs_dir>/<namespace>_<pod>_<uid>/<container>/<restart count>.log``.

    The current run is the highest restart count and the previous run the
    one before it. When several pods of the same name left directories,
    the most recently modified one wins. ``is_running`` defaults to
    "always", which suits logs that no runtime writes (tests).
    """

    def __init__(self, logs_dir: Path, is_running: Callable[[str, str, str], bool] | None = None) -> None:
        self.logs_dir = logs_dir
        self.is_running = is_running

    def log_path(self, namespace: str, pod: str, container: str, previous: bool) -> Path:
        pod_dirs = sorted(self.logs_dir.glob(f"{_glob_escape(namespace)}_{_glob_escape(pod)}_*"), key=_modified)
        if not pod_dirs:
            raise LogUnavailable(404, f'pod "{pod}" in namespace "{namespace}" has no logs on this node')
        files = log_files(pod_dirs[-1] / container)
        if previous:
            if len(files) < 2:
                raise LogUnavailable(400, f'previous terminated container "{container}" in pod "{pod}" not found')
            return files[-2]
        if not files:
            raise LogUnavailable(400, f'container "{container}" in pod "{pod}" has no log yet; it may be waiting to start')
        return files[-1]

    def running(self, namespace: str, pod: str, container: str) -> bool:
        return True if self.is_running is None else self.is_running(namespace, pod, container)


class AgentServer:
    """The agent's HTTPS server; ``start`` returns the port, ``stop`` closes it."""

    def __init__(
        self,
        logs: LogSource,
        *,
        ca_file: Path | None = None,
        ca_data: bytes | None = None,
        certificate: Path,
        key: Path,
        allowed_users: Sequence[str] = (APISERVER_CLIENT_USER,),
        allowed_groups: Sequence[str] = (ADMIN_GROUP,),
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        """Take the cluster CA from ``ca_file`` or from PEM ``ca_data`` (a kubeconfig's certificate-authority-data)."""
        self.logs = logs
        self.ssl_context = server_ssl_context(certificate, key, ca_file=ca_file, ca_data=ca_data)
        self.allowed_users = frozenset(allowed_users)
        self.allowed_groups = frozenset(allowed_groups)
        self.poll_interval = poll_interval
        self.active_streams = 0
        """Log responses being sent now; a follow stream ends when its client disconnects."""
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_logs)
        app.router.add_get("/healthz", _healthz)
        return app

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0: any free port); return the port."""
        self._runner = web.AppRunner(self.application(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            sock.close()
            raise OSError(f"agent server cannot listen on {host}:{port}: {error.strerror}; choose another port") from None
        sock.listen(128)
        sock.setblocking(False)
        bound = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock, ssl_context=self.ssl_context).start()
        log.info("agent server started host=%s port=%d", host, bound)
        return bound

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            log.info("agent server stopped")

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/healthz":
            response: web.StreamResponse = await handler(request)
            return response
        user, groups = client_identity(request)
        if user is None:
            return web.Response(status=401, text="Unauthorized: a client certificate signed by the cluster CA is required")
        if user not in self.allowed_users and not self.allowed_groups.intersection(groups):
            log.warning("rejected agent request user=%s path=%s", user, request.path)
            return web.Response(status=403, text=f"Forbidden (user={user}, verb=get, resource=nodes, subresource=proxy)")
        response = await handler(request)
        return response

    async def _container_logs(self, request: web.Request) -> web.StreamResponse:
        namespace, pod, container = (request.match_info[key] for key in ("namespace", "pod", "container"))
        for name in (namespace, pod, container):
            if not _NAME.fullmatch(name):
                return web.Response(status=400, text=f"invalid name {name!r}: expected a DNS-1123 label such as web-0")
        try:
            options, previous = parse_log_query(request.query)
            path = self.logs.log_path(namespace, pod, container, previous)
        except LogUnavailable as error:
            return web.Response(status=error.status, text=str(error))

        def running() -> bool:
            transport = request.transport
            if transport is None or transport.is_closing():
                return False  # the client went away
            return not previous and self.logs.running(namespace, pod, container)

        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        self.active_streams += 1
        try:
            async for chunk in read_log(path, options, running=running, poll_interval=self.poll_interval):
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionResetError, FileNotFoundError) as error:
            log.info("log stream ended pod=%s/%s container=%s error=%s", namespace, pod, container, error)
        finally:
            self.active_streams -= 1
        return response


def parse_log_query(query: Any) -> tuple[LogOptions, bool]:
    """Parse the kubelet's containerLogs query into (options, previous); raise LogUnavailable(400) when invalid."""
    since_ns = None
    since_seconds = _integer(query, "sinceSeconds", minimum=1)
    if since_seconds is not None:
        since_ns = time.time_ns() - since_seconds * 1_000_000_000
    if query.get("sinceTime"):
        if since_ns is not None:
            raise LogUnavailable(400, "at most one of sinceSeconds or sinceTime may be specified")
        try:
            since_ns = parse_timestamp(query["sinceTime"])
        except ValueError as error:
            raise LogUnavailable(400, f"invalid sinceTime: {error}") from None
    options = LogOptions(
        tail_lines=_integer(query, "tailLines", minimum=0),
        since_ns=since_ns,
        limit_bytes=_integer(query, "limitBytes", minimum=1),
        timestamps=_flag(query, "timestamps"),
        follow=_flag(query, "follow"),
    )
    return options, _flag(query, "previous")


def client_identity(request: web.Request) -> tuple[str | None, list[str]]:
    """Return the verified client certificate's user (CN) and groups (O), or (None, []) without one."""
    transport = request.transport
    certificate = transport.get_extra_info("peercert") if transport is not None else None
    if not certificate:
        return None, []
    user, groups = None, []
    for relative_name in certificate.get("subject", ()):
        for field, value in relative_name:
            if field == "commonName":
                user = value
            elif field == "organizationName":
                groups.append(value)
    return user, groups


def server_ssl_context(
    certificate: Path, key: Path, *, ca_file: Path | None = None, ca_data: bytes | None = None
) -> ssl.SSLContext:
    """Serve ``certificate`` and verify client certificates against the cluster CA (``ca_file`` or PEM ``ca_data``).

    A client without a certificate still completes the handshake, so the
    handler can respond with 401 and a message instead of a TLS alert.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    if ca_file is None and ca_data is None:
        raise ValueError("the agent server needs the cluster CA to verify the API server; pass ca_file or ca_data")
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    if ca_data is not None:
        context.load_verify_locations(cadata=ca_data.decode("ascii"))
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _flag(query: Any, name: str) -> bool:
    return str(query.get(name, "")).lower() in ("true", "1")


def _integer(query: Any, name: str, *, minimum: int) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise LogUnavailable(400, f"invalid {name} {text!r}: expected an integer") from None
    if value < minimum:
        raise LogUnavailable(400, f"invalid {name} {value}: must be greater than or equal to {minimum}")
    return value


def _modified(path: Path) -> float:
    return path.stat().st_mtime


def _glob_escape(text: str) -> str:
    return "".join(f"[{char}]" if char in "*?[" else char for char in text)
