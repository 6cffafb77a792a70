"""csrapproving and csrsigning against a real API server: what gets approved, signed, left pending or failed."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from pykube_control.client.api import APIClient
from tests.join.conftest import CSRS, TOKEN, Cluster, csr_body, request_pem

pytestmark = pytest.mark.usefixtures("controllers")

SETTLE_SECONDS = 1.0
"""How long a test waits to see that the controllers leave a request alone."""


async def wait_for(client: APIClient, name: str, predicate: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll CSR ``name`` until it has a certificate ("signed") or a True condition of type ``predicate``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        csr = await client.get(CSRS, name)
        status = csr.get("status") or {}
        types = {c["type"] for c in status.get("conditions") or [] if c.get("status") == "True"}
        if (predicate == "signed" and status.get("certificate")) or predicate in types:
            return csr
        if loop.time() >= deadline:
            raise TimeoutError(f"CSR {name} did not become {predicate}: {status}")
        await asyncio.sleep(0.1)


def certificate_of(csr: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(base64.b64decode(csr["status"]["certificate"]))


async def test_bootstrapper_request_signed(token_cluster: Cluster) -> None:
    async with token_cluster.client(token=TOKEN) as joiner:
        await joiner.create(CSRS, csr_body())
        csr = await wait_for(joiner, "node-csr-test", "signed")
    approved = [c for c in csr["status"]["conditions"] if c["type"] == "Approved"]
    assert approved[0]["reason"] == "AutoApproved"
    certificate = certificate_of(csr)
    assert certificate.subject.rfc4514_string() == "CN=system:node:worker-1,O=system:nodes"
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]


async def test_signed_by_cluster_ca(token_cluster: Cluster) -> None:
    async with token_cluster.client(token=TOKEN) as joiner:
        await joiner.create(CSRS, csr_body())
        csr = await wait_for(joiner, "node-csr-test", "signed")
    certificate_of(csr).verify_directly_issued_by(x509.load_pem_x509_certificate(token_cluster.ca_pem))


async def test_expiration_seconds_honoured(token_cluster: Cluster) -> None:
    body: dict[str, Any] = csr_body()
    body["spec"]["expirationSeconds"] = 3600
    async with token_cluster.client(token=TOKEN) as joiner:
        await joiner.create(CSRS, body)
        csr = await wait_for(joiner, "node-csr-test", "signed")
    certificate = certificate_of(csr)
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    # notBefore is backdated by five minutes for clock skew.
    assert lifetime.total_seconds() <= 3600 + 300


async def test_admin_request_not_approved(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body())
    await asyncio.sleep(SETTLE_SECONDS)
    csr = await cluster.admin.get(CSRS, "node-csr-test")
    assert (csr.get("status") or {}).get("conditions") is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(csr_body(request_pem("system:node:worker-1", ("system:masters",))), id="organization masters"),
        pytest.param(csr_body(request_pem("admin")), id="common name not a node"),
        pytest.param(csr_body(request_pem("system:node:worker-1", dns_name="worker-1")), id="with DNS name"),
        pytest.param(csr_body(usages=("digital signature", "server auth")), id="server usage"),
        pytest.param(csr_body(signer="example.com/other"), id="other signer"),
    ],
)
async def test_unfit_request_pending(token_cluster: Cluster, body: dict[str, Any]) -> None:
    async with token_cluster.client(token=TOKEN) as joiner:
        await joiner.create(CSRS, body)
        await asyncio.sleep(SETTLE_SECONDS)
        csr = await joiner.get(CSRS, "node-csr-test")
    assert (csr.get("status") or {}).get("conditions") is None


async def test_manual_approval_of_unfit_fails(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body(request_pem("system:node:worker-1", ("system:masters",))))
    approve = {"status": {"conditions": [{"type": "Approved", "status": "True", "reason": "Manual"}]}}
    await cluster.admin.patch(CSRS, "node-csr-test", approve, subresource="approval")
    csr = await wait_for(cluster.admin, "node-csr-test", "Failed")
    failed = [c for c in csr["status"]["conditions"] if c["type"] == "Failed"]
    assert failed[0]["reason"] == "SignerValidationFailure"
    assert "certificate" not in csr["status"]


async def test_manual_approval_signed(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body())
    approve = {"status": {"conditions": [{"type": "Approved", "status": "True", "reason": "Manual"}]}}
    await cluster.admin.patch(CSRS, "node-csr-test", approve, subresource="approval")
    csr = await wait_for(cluster.admin, "node-csr-test", "signed")
    assert certificate_of(csr).subject.rfc4514_string() == "CN=system:node:worker-1,O=system:nodes"


async def test_denied_request_not_signed(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body())
    deny = {"status": {"conditions": [{"type": "Denied", "status": "True", "reason": "Manual"}]}}
    await cluster.admin.patch(CSRS, "node-csr-test", deny, subresource="approval")
    await asyncio.sleep(SETTLE_SECONDS)
    csr = await cluster.admin.get(CSRS, "node-csr-test")
    assert "certificate" not in csr["status"]
