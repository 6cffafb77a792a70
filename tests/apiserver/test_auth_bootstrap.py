"""ensure_credentials(): first start, restart, and kubectl reaching a TLS server with the result."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509

from pykube_control.apiserver.auth import bootstrap, certs, kubeconfig, signing
from pykube_control.apiserver.auth.identity import AuthenticationError, authenticate, request_peer_certificate

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")


def test_first_start_creates_everything(tmp_path: Path) -> None:
    credentials = bootstrap.ensure_credentials(tmp_path, "https://127.0.0.1:6443")

    for path in (
        credentials.pki.ca_certificate,
        credentials.pki.ca_key,
        credentials.pki.serving_certificate,
        credentials.pki.serving_key,
        credentials.token_file,
        credentials.kubeconfig,
    ):
        assert path.is_file(), path
    assert credentials.kubeconfig == tmp_path / "kubeconfig"
    assert credentials.tokens.lookup(credentials.admin_token) is not None


def test_restart_loads_same(tmp_path: Path) -> None:
    first = bootstrap.ensure_credentials(tmp_path, "https://127.0.0.1:6443")
    files = sorted(path for path in tmp_path.rglob("*") if path.is_file())
    contents = [path.read_bytes() for path in files]

    second = bootstrap.ensure_credentials(tmp_path, "https://127.0.0.1:6443")

    assert second.admin_token == first.admin_token
    assert second.ca.certificate == first.ca.certificate
    assert [path.read_bytes() for path in files] == contents


def test_server_host_in_certificate(tmp_path: Path) -> None:
    credentials = bootstrap.ensure_credentials(tmp_path, "https://192.0.2.10:6443", ["api.example.com"])
    serving = x509.load_pem_x509_certificate(credentials.pki.serving_certificate.read_bytes())
    names = signing.SubjectNames.of(serving)

    assert ipaddress.ip_address("192.0.2.10") in names.ip_addresses
    assert "api.example.com" in names.dns_names


def test_new_port_rewrites_kubeconfig(tmp_path: Path) -> None:
    bootstrap.ensure_credentials(tmp_path, "https://127.0.0.1:6443")

    credentials = bootstrap.ensure_credentials(tmp_path, "https://127.0.0.1:7443")

    config = kubeconfig.load_kubeconfig(credentials.kubeconfig)
    assert [cluster["cluster"]["server"] for cluster in config["clusters"]] == ["https://127.0.0.1:7443"]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:6443", id="plain http"),
        pytest.param("127.0.0.1:6443", id="no scheme"),
        pytest.param("https://:6443", id="no host"),
    ],
)
def test_invalid_server_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="invalid server URL"):
        bootstrap.ensure_credentials(tmp_path, url)


def test_corrupt_ca_stops_start(tmp_path: Path) -> None:
    credentials = bootstrap.ensure_credentials(tmp_path, "https://127.0.0.1:6443")
    credentials.pki.ca_certificate.write_text("garbage")

    with pytest.raises(certs.CertificateFileError, match="ca.crt"):
        bootstrap.ensure_credentials(tmp_path, "https://127.0.0.1:6443")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[bootstrap.Credentials, int]]:
    """Start a TLS server serving /whoami; return credentials whose kubeconfig points at it, and its port."""
    placeholder = bootstrap.ensure_credentials(tmp_path, "https://127.0.0.1:6443")

    async def whoami(request: web.Request) -> web.Response:
        try:
            user = authenticate(request.headers, request_peer_certificate(request), tokens=placeholder.tokens)
        except AuthenticationError:
            raise web.HTTPUnauthorized() from None
        return web.json_response({"name": user.name if user else None})

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=certs.ssl_context(placeholder.pki))
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        yield bootstrap.ensure_credentials(tmp_path, f"https://127.0.0.1:{port}"), port
    finally:
        await runner.cleanup()


async def _kubectl_whoami(kubeconfig_path: Path) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(kubeconfig_path), "get", "--raw", "/whoami",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    loaded: dict[str, object] = json.loads(stdout)
    return loaded


@needs_kubectl
async def test_kubectl_with_admin_kubeconfig(server: tuple[bootstrap.Credentials, int]) -> None:
    credentials, _ = server

    assert await _kubectl_whoami(credentials.kubeconfig) == {"name": "admin"}


@needs_kubectl
async def test_kubectl_with_client_certificate(
    server: tuple[bootstrap.Credentials, int], tmp_path: Path
) -> None:
    credentials, port = server
    certificate_pem, key_pem = credentials.ca.issue_client_certificate("system:node:n1", ["system:nodes"])
    path = tmp_path / "node-kubeconfig"
    kubeconfig.write_kubeconfig(
        path,
        kubeconfig.build_kubeconfig(
            f"https://localhost:{port}",
            credentials.ca.certificate_pem,
            client_certificate_pem=certificate_pem,
            client_key_pem=key_pem,
        ),
    )

    assert await _kubectl_whoami(path) == {"name": "system:node:n1"}
