"""Small requests over kept-alive HTTP/1.1 connections, without aiohttp's per-request machinery.

The scheduler sends one pods/binding POST per placed pod. In py-spy
samples of bench/bench_scheduler_e2e.py at 5,000 nodes (2 cores), 41-47 %
of the scheduler's GIL-holding time was inside aiohttp's client for these
requests: request and response objects, a writer task per body and the
tracing hooks. ``KeepAlivePool`` sends such a
request as one buffer on an idle connection it keeps, reads the status
line, the headers and a Content-Length or chunked body, and returns the
connection to the pool unless the server asked to close it.

It is built for requests whose body and response fit in memory, with no
redirects, no compression (it sends no Accept-Encoding) and no proxy,
which is what talking to the API server needs. Retries, authentication
and errors stay in transport.py.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import ssl
import urllib.parse

MAX_IDLE = 64
"""Idle connections kept per pool; more are closed once their response is read."""
MAX_HEADER_BYTES = 64 * 1024
"""Bytes of status line and headers accepted in one response."""


class ConnectionNotUsed(Exception):
    """The request could not be sent: connecting failed, or a reused connection was closed before any response."""


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    """Header names in lower case; a repeated header keeps its last value."""
    body: bytes


@dataclasses.dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class KeepAlivePool:
    """Connections to the one server in ``base_url``; see the module docstring."""

    def __init__(self, base_url: str, ssl_context: ssl.SSLContext | None, *, max_idle: int = MAX_IDLE) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"server URL {base_url!r} is not an http or https URL; check the kubeconfig's server")
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._prefix = parsed.path.rstrip("/")
        self._host_header = parsed.netloc
        self._ssl = ssl_context if parsed.scheme == "https" else None
        self._max_idle = max_idle
        self._idle: collections.deque[_Connection] = collections.deque()

    async def close(self) -> None:
        while self._idle:
            connection = self._idle.pop()
            connection.writer.close()

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """Send one request and read its response; raise ConnectionNotUsed when the server cannot have processed it.

        A kept-alive connection that the server closed while idle shows up
        as an end of stream before any response byte. The request is then
        sent once more on a new connection, because the server never read it.
        Any other failure after sending raises OSError or
        asyncio.IncompleteReadError, since the server may have acted on it.
        NOTE: a server that read the request and exited without replying
        looks the same as an idle close, so its restarted self may get the
        request twice; a repeated binding then fails with 409 Conflict.
        """
        request = self._encode(method, path, headers, body)
        while self._idle:
            connection = self._idle.pop()
            if connection.writer.is_closing():
                continue
            try:
                return await self._exchange(connection, request)
            except _ClosedBeforeResponse:
                connection.writer.close()
        try:
            connection = await self._connect()
        except OSError as error:
            raise ConnectionNotUsed(f"connecting to {self._host}:{self._port} failed: {error}") from error
        try:
            return await self._exchange(connection, request)
        except _ClosedBeforeResponse as error:
            raise ConnectionNotUsed(f"{self._host}:{self._port} closed a new connection without a response") from error

    async def _connect(self) -> _Connection:
        server_hostname = self._host if self._ssl is not None else None
        reader, writer = await asyncio.open_connection(
            self._host, self._port, ssl=self._ssl, server_hostname=server_hostname, limit=MAX_HEADER_BYTES
        )
        return _Connection(reader, writer)

    def _encode(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        lines = [f"{method} {self._prefix}{path} HTTP/1.1", f"Host: {self._host_header}", f"Content-Length: {len(body)}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def _exchange(self, connection: _Connection, request: bytes) -> Response:
        """Write ``request`` and read the response; put the connection back when it stays open."""
        try:
            connection.writer.write(request)
            try:
                head = await connection.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as error:
                if not error.partial:
                    raise _ClosedBeforeResponse() from error
                raise
            status, headers = _parse_head(head)
            body = await _read_body(connection.reader, status, headers)
        except _ClosedBeforeResponse:
            raise
        except BaseException:
            # A half-read response leaves the stream unusable, and so does a cancellation.
            connection.writer.close()
            raise
        if headers.get("connection", "").lower() == "close" or len(self._idle) >= self._max_idle:
            connection.writer.close()
        else:
            self._idle.append(connection)
        return Response(status, headers, body)


class _ClosedBeforeResponse(Exception):
    """The connection ended before the first byte of a response."""


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise OSError(f"invalid HTTP status line from the server: {lines[0][:200]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, status: int, headers: dict[str, str]) -> bytes:
    if status in (204, 304) or status < 200:
        return b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # the API server sends no trailers
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = headers.get("content-length")
    if length is None or not length.isdigit():
        # A body delimited by the connection's end would need a read to EOF;
        # the API server always sends a length or chunks, so this is a fault.
        raise OSError(f"the server sent a response with Content-Length {length!r} and no chunked encoding")
    return await reader.readexactly(int(length))
