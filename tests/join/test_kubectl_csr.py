"""kubectl against CertificateSigningRequests: the table and `kubectl certificate approve`."""

from __future__ import annotations

import asyncio

import pytest

from tests.apiserver.server_thread import kubectl_binary
from tests.join.conftest import CSRS, Cluster, csr_body

KUBECTL = kubectl_binary() or kubectl_binary("1.20")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="no kubectl: scripts/setup unpacks Debian's 1.20 into .cache/")


async def kubectl(cluster: Cluster, *args: str) -> str:
    assert KUBECTL is not None
    process = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", str(cluster.server.kubeconfig), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


async def test_get_csr_pending(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body())
    output = await kubectl(cluster, "get", "csr", "--no-headers")
    assert output.split()[0] == "node-csr-test"
    assert output.split()[-1] == "Pending"


async def test_certificate_approve(cluster: Cluster) -> None:
    await cluster.admin.create(CSRS, csr_body())
    await kubectl(cluster, "certificate", "approve", "node-csr-test")
    csr = await cluster.admin.get(CSRS, "node-csr-test")
    assert [c["type"] for c in csr["status"]["conditions"]] == ["Approved"]
