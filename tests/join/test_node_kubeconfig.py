"""When a node reuses its node-kubeconfig on restart, and when it bootstraps again."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509

from pykube_control.agent.node_kubeconfig import build_node_kubeconfig, reusable_reason, write_node_kubeconfig
from pykube_control.pki.csr import build_node_request, new_node_key
from pykube_control.pki.issue import sign_request

SERVER = "https://192.0.2.10:6443"
NOW = datetime.datetime.now(datetime.timezone.utc)


def self_signed_ca() -> tuple[x509.Certificate, object]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = new_node_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return certificate, key


def write_config(path: Path, node: str = "worker-1", valid_for: datetime.timedelta = datetime.timedelta(days=30),
                 other_ca: bool = False) -> None:  # fmt: skip
    """Write a node kubeconfig whose certificate is for ``node``, signed by its CA or, with ``other_ca``, another."""
    from cryptography.hazmat.primitives import serialization

    ca, ca_key = self_signed_ca()
    signer, signer_key = self_signed_ca() if other_ca else (ca, ca_key)
    key = new_node_key()
    request = x509.load_pem_x509_csr(build_node_request(node, key))
    certificate = sign_request(request, ["digital signature", "client auth"], signer, signer_key, valid_for)  # type: ignore[arg-type]
    config = build_node_kubeconfig(
        SERVER,
        ca.public_bytes(serialization.Encoding.PEM),
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    write_node_kubeconfig(path, config)


def test_valid_config_reused(tmp_path: Path) -> None:
    write_config(tmp_path / "node-kubeconfig")
    assert reusable_reason(tmp_path / "node-kubeconfig", "worker-1", SERVER) is None


def test_config_private(tmp_path: Path) -> None:
    write_config(tmp_path / "node-kubeconfig")
    assert (tmp_path / "node-kubeconfig").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("node", "server", "valid_for", "other_ca", "reason"),
    [
        pytest.param("worker-2", SERVER, datetime.timedelta(days=30), False, "not for system:node:worker-1", id="other node"),
        pytest.param("worker-1", "https://192.0.2.11:6443", datetime.timedelta(days=30), False, "server changed", id="other server"),
        pytest.param("worker-1", SERVER, datetime.timedelta(minutes=30), False, "expires", id="expiring"),
        pytest.param("worker-1", SERVER, datetime.timedelta(days=30), True, "not issued by", id="other CA"),
    ],
)
def test_config_not_reused(
    tmp_path: Path, node: str, server: str, valid_for: datetime.timedelta, other_ca: bool, reason: str
) -> None:
    write_config(tmp_path / "node-kubeconfig", node, valid_for, other_ca)
    found = reusable_reason(tmp_path / "node-kubeconfig", "worker-1", server)
    assert found is not None
    assert reason in found


def test_missing_config(tmp_path: Path) -> None:
    assert reusable_reason(tmp_path / "node-kubeconfig", "worker-1", SERVER) == "missing"


def test_corrupt_config(tmp_path: Path) -> None:
    (tmp_path / "node-kubeconfig").write_text("clusters: [\n")
    found = reusable_reason(tmp_path / "node-kubeconfig", "worker-1", SERVER)
    assert found is not None
    assert found.startswith("unreadable")
