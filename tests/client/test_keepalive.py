"""KeepAlivePool: small requests over reused HTTP/1.1 connections.

The edge cases (a server that closes idle connections, chunked bodies, a
cut response) need a server that misbehaves on purpose. They run against
a small raw HTTP server on loopback, and the normal path runs against the
real API server, with and without TLS.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from pykube_control.apiserver.app import RunningAPIServer
from pykube_control.client.api import APIClient
from pykube_control.client.errors import APIConnectionError, Conflict
from pykube_control.client.keepalive import ConnectionNotUsed, KeepAlivePool
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import PODS
from pykube_control.client.transport import RetryPolicy, Transport

Reply = Callable[[int], bytes]
"""Returns the raw response to the request number given (0-based, over the server's life)."""

JSON_REPLY = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


class RawServer:
    """A loopback HTTP server that replies to each request with ``reply`` and counts connections."""

    def __init__(self, reply: Reply, close_after_reply: bool = False) -> None:
        self.reply = reply
        self.close_after_reply = close_after_reply
        self.connections = 0
        self.requests = 0
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(self.reply(self.requests))
                self.requests += 1
                await writer.drain()
                if self.close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def raw_server(request: pytest.FixtureRequest) -> AsyncIterator[RawServer]:
    reply, close_after_reply = request.param
    raw = RawServer(reply, close_after_reply)
    raw.server = await asyncio.start_server(raw._serve, "127.0.0.1", 0)
    try:
        yield raw
    finally:
        raw.server.close()
        await raw.server.wait_closed()


def always(response: bytes) -> Reply:
    return lambda number: response


@pytest.mark.parametrize("raw_server", [pytest.param((always(JSON_REPLY), False), id="kept open")], indirect=True)
async def test_pool_reuses_connection(raw_server: RawServer) -> None:
    pool = KeepAlivePool(raw_server.url, None)
    try:
        for _ in range(5):
            response = await pool.send("POST", "/x", {}, b"{}")
            assert response.body == b'{"ok":true}'
    finally:
        await pool.close()
    assert raw_server.connections == 1


@pytest.mark.parametrize("raw_server", [pytest.param((always(JSON_REPLY), True), id="closed after reply")], indirect=True)
async def test_pool_resends_after_idle_close(raw_server: RawServer) -> None:
    pool = KeepAlivePool(raw_server.url, None)
    try:
        first = await pool.send("POST", "/x", {}, b"{}")
        await asyncio.sleep(0.05)  # the server's close reaches the client
        second = await pool.send("POST", "/x", {}, b"{}")
    finally:
        await pool.close()
    assert first.status == 200
    assert second.status == 200
    assert raw_server.requests == 2
    assert raw_server.connections == 2


CLOSE_REPLY = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
CHUNKED_REPLY = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"
NO_CONTENT_REPLY = b"HTTP/1.1 204 No Content\r\n\r\n"


@pytest.mark.parametrize(
    ("raw_server", "status", "body", "connections"),
    [
        pytest.param((always(CLOSE_REPLY), False), 200, b"{}", 2, id="connection close"),
        pytest.param((always(CHUNKED_REPLY), False), 201, b'{"a":1}', 1, id="chunked"),
        pytest.param((always(NO_CONTENT_REPLY), False), 204, b"", 1, id="no content"),
    ],
    indirect=["raw_server"],
)
async def test_pool_response_framing(raw_server: RawServer, status: int, body: bytes, connections: int) -> None:
    pool = KeepAlivePool(raw_server.url, None)
    try:
        responses = [await pool.send("POST", "/x", {}, b"{}") for _ in range(2)]
    finally:
        await pool.close()
    assert [response.status for response in responses] == [status, status]
    assert [response.body for response in responses] == [body, body]
    assert raw_server.connections == connections


CUT_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\""


@pytest.mark.parametrize("raw_server", [pytest.param((always(CUT_REPLY), True), id="cut body")], indirect=True)
async def test_pool_cut_body_raises(raw_server: RawServer) -> None:
    pool = KeepAlivePool(raw_server.url, None)
    try:
        with pytest.raises(asyncio.IncompleteReadError):
            await pool.send("POST", "/x", {}, b"{}")
    finally:
        await pool.close()
    assert raw_server.requests == 1


async def test_pool_refused_not_used() -> None:
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    pool = KeepAlivePool(f"http://127.0.0.1:{port}", None)

    with pytest.raises(ConnectionNotUsed):
        await pool.send("POST", "/x", {}, b"{}")


@pytest.mark.parametrize(
    "url", [pytest.param("ftp://127.0.0.1", id="scheme"), pytest.param("127.0.0.1:6443", id="no scheme")]
)
def test_pool_invalid_url(url: str) -> None:
    with pytest.raises(ValueError, match="not an http or https URL"):
        KeepAlivePool(url, None)


async def test_request_small_refused_raises() -> None:
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    retry = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05)
    transport = Transport(ClientConfig.for_url(f"http://127.0.0.1:{port}"), retry=retry, sleep=record)
    try:
        with pytest.raises(APIConnectionError, match="after 3 attempt"):
            await transport.request_small("POST", "/x", {})
    finally:
        await transport.close()
    assert len(delays) == 2


@pytest.mark.parametrize("tls", [pytest.param(True, id="tls"), pytest.param(False, id="plain")])
async def test_bind_over_pool(server: RunningAPIServer, plain_server: RunningAPIServer, tls: bool) -> None:
    if tls:
        assert server.kubeconfig is not None
        api = APIClient.from_kubeconfig(server.kubeconfig)
    else:
        api = APIClient(ClientConfig.for_url(plain_server.url))
    async with api:
        pod = {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        await api.create(PODS, pod, namespace="default")
        await api.bind("web", "node-1", namespace="default")
        with pytest.raises(Conflict):
            await api.bind("web", "node-2", namespace="default")
        bound = await api.get(PODS, "web", namespace="default")
    assert bound["spec"]["nodeName"] == "node-1"
