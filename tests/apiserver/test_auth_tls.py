"""Real TLS handshakes on loopback against a tiny aiohttp server using certs.ssl_context.

The server returns the identity ``authenticate`` found, so each test checks
what a request's credentials authenticate as after a real handshake.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from pykube_control.apiserver.auth import certs
from pykube_control.apiserver.auth.certs import PKI, CertificateAuthority
from pykube_control.apiserver.auth.identity import (
    AuthenticationError,
    UserInfo,
    authenticate,
    request_peer_certificate,
)
from pykube_control.apiserver.auth.tokens import TokenEntry, TokenFile

TOKEN = "s3cr3t-token"
TOKENS = TokenFile([TokenEntry(TOKEN, UserInfo("admin", "uid-1", ("system:masters",)))])

Serve = Callable[[str], Awaitable[int]]


async def _whoami(request: web.Request) -> web.Response:
    try:
        user = authenticate(request.headers, request_peer_certificate(request), tokens=TOKENS)
    except AuthenticationError:
        return web.json_response({"error": "Unauthorized"}, status=401)
    if user is None:
        return web.json_response({"anonymous": True})
    return web.json_response({"name": user.name, "groups": list(user.groups)})


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    pki = PKI.in_data_dir(tmp_path)
    certs.ensure_serving_certificate(pki, certs.ensure_ca(pki))
    return pki


@pytest.fixture
def ca(pki: PKI) -> CertificateAuthority:
    return certs.load_ca(pki)


@pytest.fixture
async def serve(pki: PKI) -> AsyncIterator[Serve]:
    """Start the server on a loopback address; return its port."""
    app = web.Application()
    app.router.add_get("/whoami", _whoami)
    runner = web.AppRunner(app)
    await runner.setup()

    async def start(host: str) -> int:
        site = web.TCPSite(runner, host, 0, ssl_context=certs.ssl_context(pki))
        await site.start()
        return int(runner.addresses[-1][1])

    try:
        yield start
    finally:
        await runner.cleanup()


def _client_context(
    ca_file: Path, tmp_path: Path, certificate: tuple[bytes, bytes] | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    if certificate is not None:
        certificate_file, key_file = tmp_path / "client.crt", tmp_path / "client.key"
        certificate_file.write_bytes(certificate[0])
        key_file.write_bytes(certificate[1])
        context.load_cert_chain(certificate_file, key_file)
    return context


async def _get(
    url: str, context: ssl.SSLContext, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, ssl=context, headers=headers) as response:
            return response.status, await response.json()


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def test_client_certificate_identity(
    serve: Serve, pki: PKI, ca: CertificateAuthority, tmp_path: Path
) -> None:
    port = await serve("127.0.0.1")
    issued = ca.issue_client_certificate("system:node:n1", ["system:nodes"])
    context = _client_context(pki.ca_certificate, tmp_path, issued)

    status, body = await _get(f"https://127.0.0.1:{port}/whoami", context)

    assert status == 200
    assert body == {"name": "system:node:n1", "groups": ["system:nodes", "system:authenticated"]}


async def test_no_credentials_anonymous(serve: Serve, pki: PKI, tmp_path: Path) -> None:
    port = await serve("127.0.0.1")

    status, body = await _get(f"https://localhost:{port}/whoami", _client_context(pki.ca_certificate, tmp_path))

    assert status == 200
    assert body == {"anonymous": True}


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_loopback_name(serve: Serve, pki: PKI, tmp_path: Path) -> None:
    port = await serve("::1")

    status, _ = await _get(f"https://[::1]:{port}/whoami", _client_context(pki.ca_certificate, tmp_path))

    assert status == 200


async def test_bearer_token_over_tls(serve: Serve, pki: PKI, tmp_path: Path) -> None:
    port = await serve("127.0.0.1")
    context = _client_context(pki.ca_certificate, tmp_path)

    status, body = await _get(
        f"https://127.0.0.1:{port}/whoami", context, {"Authorization": f"Bearer {TOKEN}"}
    )

    assert status == 200
    assert body == {"name": "admin", "groups": ["system:masters", "system:authenticated"]}


async def test_unknown_token_unauthorized(serve: Serve, pki: PKI, tmp_path: Path) -> None:
    port = await serve("127.0.0.1")
    context = _client_context(pki.ca_certificate, tmp_path)

    status, _ = await _get(f"https://127.0.0.1:{port}/whoami", context, {"Authorization": "Bearer nope"})

    assert status == 401


async def test_expired_client_certificate_rejected(
    serve: Serve, pki: PKI, ca: CertificateAuthority, tmp_path: Path
) -> None:
    port = await serve("127.0.0.1")
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    expired = ca.issue_client_certificate(
        "alice", valid_for=datetime.timedelta(days=1), now=long_ago
    )
    context = _client_context(pki.ca_certificate, tmp_path, expired)

    with pytest.raises(aiohttp.ClientError):
        await _get(f"https://127.0.0.1:{port}/whoami", context)


async def test_other_ca_client_certificate_rejected(serve: Serve, pki: PKI, tmp_path: Path) -> None:
    port = await serve("127.0.0.1")
    other_ca = certs.ensure_ca(PKI(tmp_path / "other"))
    foreign = other_ca.issue_client_certificate("admin", ["system:masters"])
    context = _client_context(pki.ca_certificate, tmp_path, foreign)

    with pytest.raises(aiohttp.ClientError):
        await _get(f"https://127.0.0.1:{port}/whoami", context)


async def test_server_unknown_to_other_ca(serve: Serve, tmp_path: Path) -> None:
    port = await serve("127.0.0.1")
    other = PKI(tmp_path / "other")
    certs.ensure_ca(other)

    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _get(f"https://127.0.0.1:{port}/whoami", _client_context(other.ca_certificate, tmp_path))


async def test_server_name_not_in_certificate(serve: Serve, pki: PKI, tmp_path: Path) -> None:
    port = await serve("127.0.0.1")
    context = _client_context(pki.ca_certificate, tmp_path)

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(
                f"https://127.0.0.1:{port}/whoami", ssl=context, server_hostname="api.example.com"
            )
