"""A TLS API server, an admin client, bootstrap tokens and the two CSR controllers, in the test's event loop."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime
from collections.abc import AsyncIterator, Sequence
from typing import Any
from pathlib import Path

import pytest
from cryptography import x509

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig, load_client_config
from pykube_control.client.resource import SECRETS, resource_for
from pykube_control.controllers.manager import run_controllers
from pykube_control.pki.issue import public_key_pin

CSRS = resource_for("certificates.k8s.io", "v1", "certificatesigningrequests")
TOKEN_ID = "abcdef"
TOKEN_SECRET = "0123456789abcdef"
TOKEN = f"{TOKEN_ID}.{TOKEN_SECRET}"


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def token_secret(
    token_id: str = TOKEN_ID,
    secret: str = TOKEN_SECRET,
    *,
    expires_in: datetime.timedelta | None = datetime.timedelta(hours=1),
    extra_groups: Sequence[str] = (),
    usage: str = "true",
) -> dict[str, Any]:
    """Build a bootstrap token Secret; ``expires_in`` may be negative (expired) or None (never expires)."""
    data = {"token-id": encoded(token_id), "token-secret": encoded(secret), "usage-bootstrap-authentication": encoded(usage)}
    if expires_in is not None:
        moment = datetime.datetime.now(datetime.timezone.utc) + expires_in
        data["expiration"] = encoded(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if extra_groups:
        data["auth-extra-groups"] = encoded(",".join(extra_groups))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": data,
    }


@dataclasses.dataclass
class Cluster:
    server: RunningAPIServer
    admin: APIClient
    data_dir: Path

    @property
    def ca_pem(self) -> bytes:
        return (self.data_dir / "pki" / "ca.crt").read_bytes()

    @property
    def ca_cert_hash(self) -> str:
        return public_key_pin(x509.load_pem_x509_certificate(self.ca_pem))

    @property
    def signing_files(self) -> tuple[Path, Path]:
        return self.data_dir / "pki" / "ca.crt", self.data_dir / "pki" / "ca.key"

    def client(self, *, token: str | None = None) -> APIClient:
        """Return a client of the server with ``token`` as bearer token, or anonymous without one."""
        return APIClient(ClientConfig(server=self.server.url, ca_data=self.ca_pem, token=token))

    async def wait_for_secret_cache(self, name: str) -> None:
        """Wait until the server's secrets cache contains ``name``, which the bootstrap authenticator reads."""
        for _ in range(200):
            if any(key.endswith(f"/kube-system/{name}") for key in self.server.ctx.caches["secrets"].objects):
                return
            await asyncio.sleep(0.01)
        raise TimeoutError(f"secret {name} did not reach the watch cache")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    data_dir = tmp_path / "server"
    running = await start_apiserver(APIServerConfig(data_dir=data_dir, host="127.0.0.1", port=0))
    assert running.kubeconfig is not None
    admin = APIClient(load_client_config(running.kubeconfig))
    try:
        yield Cluster(running, admin, data_dir)
    finally:
        await admin.close()
        await running.stop()


@pytest.fixture
async def token_cluster(cluster: Cluster) -> Cluster:
    """The cluster with the bootstrap token TOKEN, valid for an hour."""
    await cluster.admin.create(SECRETS, token_secret())
    await cluster.wait_for_secret_cache(f"bootstrap-token-{TOKEN_ID}")
    return cluster


@pytest.fixture
async def controllers(cluster: Cluster) -> AsyncIterator[None]:
    """Run csrapproving and csrsigning against the cluster, signing with its CA."""
    client = APIClient(load_client_config(cluster.server.kubeconfig))
    task = asyncio.ensure_future(
        run_controllers(client, ["csrapproving", "csrsigning"], workers=1, cluster_signing_files=cluster.signing_files)
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


def request_pem(common_name: str, organizations: Sequence[str] = ("system:nodes",), *, dns_name: str | None = None) -> bytes:
    """Build a PEM certificate request with a fresh key for any subject, optionally with one DNS SAN."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    from pykube_control.pki.csr import new_node_key

    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if dns_name is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
    return builder.sign(new_node_key(), hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def csr_body(
    request: bytes | None = None,
    *,
    name: str = "node-csr-test",
    signer: str = "kubernetes.io/kube-apiserver-client-kubelet",
    usages: Sequence[str] = ("digital signature", "client auth"),
) -> dict[str, Any]:
    pem = request if request is not None else request_pem("system:node:worker-1")
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {"request": base64.b64encode(pem).decode(), "signerName": signer, "usages": list(usages)},
    }
