"""The CertificateSigningRequest API, bootstrap token authentication and cluster-info on a real TLS API server."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
import yaml

from pykube_control.client.errors import Forbidden, Invalid, Unauthorized
from pykube_control.client.resource import CONFIGMAPS, NODES, SECRETS
from tests.join.conftest import CSRS, TOKEN, Cluster, csr_body, token_secret


async def test_bootstrap_token_creates_csr(token_cluster: Cluster) -> None:
    async with token_cluster.client(token=TOKEN) as joiner:
        created = await joiner.create(CSRS, csr_body())
    assert created["spec"]["username"] == "system:bootstrap:abcdef"
    assert created["spec"]["groups"] == ["system:bootstrappers", "system:authenticated"]


async def test_requester_fields_overwritten(token_cluster: Cluster) -> None:
    body: dict[str, Any] = csr_body()
    body["spec"].update(username="admin", groups=["system:masters"], extra={"a": ["b"]})
    async with token_cluster.client(token=TOKEN) as joiner:
        created = await joiner.create(CSRS, body)
    assert created["spec"]["username"] == "system:bootstrap:abcdef"
    assert "system:masters" not in created["spec"]["groups"]
    assert "extra" not in created["spec"]


async def test_bootstrapper_reads_csrs(token_cluster: Cluster) -> None:
    async with token_cluster.client(token=TOKEN) as joiner:
        await joiner.create(CSRS, csr_body())
        listed = await joiner.list(CSRS)
        fetched = await joiner.get(CSRS, "node-csr-test")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["node-csr-test"]
    assert fetched["metadata"]["name"] == "node-csr-test"


@pytest.mark.parametrize(
    "action",
    [
        pytest.param("list secrets", id="secrets"),
        pytest.param("list nodes", id="nodes"),
        pytest.param("approve", id="approval subresource"),
        pytest.param("delete", id="delete csr"),
    ],
)
async def test_bootstrapper_forbidden(token_cluster: Cluster, action: str) -> None:
    await token_cluster.admin.create(CSRS, csr_body())
    async with token_cluster.client(token=TOKEN) as joiner:
        with pytest.raises(Forbidden):
            if action == "list secrets":
                await joiner.list(SECRETS, namespace="kube-system")
            elif action == "list nodes":
                await joiner.list(NODES)
            elif action == "approve":
                patch = {"status": {"conditions": [{"type": "Approved", "status": "True"}]}}
                await joiner.patch(CSRS, "node-csr-test", patch, subresource="approval")
            else:
                await joiner.delete(CSRS, "node-csr-test")


async def test_wrong_token_unauthorized(token_cluster: Cluster) -> None:
    async with token_cluster.client(token="abcdef.ffffffffffffffff") as joiner:
        with pytest.raises(Unauthorized):
            await joiner.create(CSRS, csr_body())


async def test_expired_token_unauthorized(cluster: Cluster) -> None:
    await cluster.admin.create(SECRETS, token_secret("expird", expires_in=datetime.timedelta(minutes=-1)))
    await cluster.wait_for_secret_cache("bootstrap-token-expird")
    async with cluster.client(token="expird.0123456789abcdef") as joiner:
        with pytest.raises(Unauthorized):
            await joiner.create(CSRS, csr_body())


async def test_deleted_token_unauthorized(token_cluster: Cluster) -> None:
    await token_cluster.admin.delete(SECRETS, "bootstrap-token-abcdef", namespace="kube-system")
    for _ in range(200):
        if not any(k.endswith("bootstrap-token-abcdef") for k in token_cluster.server.ctx.caches["secrets"].objects):
            break
        import asyncio

        await asyncio.sleep(0.01)
    async with token_cluster.client(token=TOKEN) as joiner:
        with pytest.raises(Unauthorized):
            await joiner.list(CSRS)


async def test_cluster_info_anonymous(cluster: Cluster) -> None:
    async with cluster.client() as anonymous:
        info = await anonymous.get(CONFIGMAPS, "cluster-info", namespace="kube-public")
    config = yaml.safe_load(info["data"]["kubeconfig"])
    assert config["clusters"][0]["cluster"]["server"] == cluster.server.url
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == cluster.ca_pem


async def test_other_configmap_not_anonymous(cluster: Cluster) -> None:
    async with cluster.client() as anonymous:
        with pytest.raises(Unauthorized):
            await anonymous.get(CONFIGMAPS, "kube-root-ca.crt", namespace="kube-public")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(csr_body(b"not a request"), "spec.request", id="request not PEM"),
        pytest.param(csr_body(signer=""), "spec.signerName: Required value", id="signer missing"),
        pytest.param(csr_body(signer="kubelet"), "fully qualified domain and path", id="signer without domain"),
        pytest.param(csr_body(usages=()), "spec.usages: Required value", id="usages missing"),
        pytest.param(csr_body(usages=("client auth", "flying")), "Unsupported value: \"flying\"", id="unknown usage"),
        pytest.param(csr_body(usages=("client auth", "client auth")), "Duplicate value", id="repeated usage"),
    ],
)
async def test_invalid_csr(cluster: Cluster, body: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid) as raised:
        await cluster.admin.create(CSRS, body)
    assert message in str(raised.value)


async def test_spec_immutable(cluster: Cluster) -> None:
    created = await cluster.admin.create(CSRS, csr_body())
    created["spec"]["usages"] = ["digital signature", "client auth", "key encipherment"]
    with pytest.raises(Invalid) as raised:
        await cluster.admin.update(CSRS, created)
    assert "field is immutable" in str(raised.value)


async def test_certificate_needs_approval(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body())
    patch = {"status": {"certificate": base64.b64encode(cluster.ca_pem).decode()}}
    with pytest.raises(Invalid) as raised:
        await cluster.admin.patch(CSRS, "node-csr-test", patch, subresource="status")
    assert "approved" in str(raised.value)


async def test_approval_sets_condition(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body())
    patch = {"status": {"conditions": [{"type": "Approved", "status": "True", "reason": "Test"}]}}
    approved = await cluster.admin.patch(CSRS, "node-csr-test", patch, subresource="approval")
    condition = approved["status"]["conditions"][0]
    assert condition["type"] == "Approved"
    assert condition["lastUpdateTime"]


async def test_status_cannot_approve(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body())
    patch = {"status": {"conditions": [{"type": "Approved", "status": "True", "reason": "Test"}]}}
    result = await cluster.admin.patch(CSRS, "node-csr-test", patch, subresource="status")
    assert result["status"].get("conditions") is None


async def test_approved_and_denied_rejected(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body())
    approve = {"status": {"conditions": [{"type": "Approved", "status": "True"}]}}
    await cluster.admin.patch(CSRS, "node-csr-test", approve, subresource="approval")
    both = {"status": {"conditions": [{"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"}]}}
    with pytest.raises(Invalid) as raised:
        await cluster.admin.patch(CSRS, "node-csr-test", both, subresource="approval")
    assert "mutually exclusive" in str(raised.value)


async def test_approval_not_removable(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body())
    approve = {"status": {"conditions": [{"type": "Approved", "status": "True"}]}}
    await cluster.admin.patch(CSRS, "node-csr-test", approve, subresource="approval")
    with pytest.raises(Invalid) as raised:
        await cluster.admin.patch(CSRS, "node-csr-test", {"status": {"conditions": []}}, subresource="approval")
    assert "may not remove" in str(raised.value)
