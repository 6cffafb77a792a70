"""The cluster PKI on disk: creation, reload, renewal of the serving certificate, corrupt files."""

from __future__ import annotations

import datetime
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pykube_control.apiserver.auth import certs, signing
from pykube_control.apiserver.auth.certs import PKI, CertificateFileError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    return PKI.in_data_dir(tmp_path)


def test_ca_created_then_reloaded(pki: PKI) -> None:
    created = certs.ensure_ca(pki)
    reloaded = certs.ensure_ca(pki)

    assert reloaded.certificate == created.certificate
    assert reloaded.key.private_numbers() == created.key.private_numbers()


def test_ca_is_ten_year_ca(pki: PKI) -> None:
    ca = certs.ensure_ca(pki).certificate
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value

    assert constraints.ca
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= datetime.timedelta(days=3650)
    assert ca.issuer == ca.subject


def test_file_modes(pki: PKI) -> None:
    ca = certs.ensure_ca(pki)
    certs.ensure_serving_certificate(pki, ca)

    assert _mode(pki.ca_key) == 0o600
    assert _mode(pki.serving_key) == 0o600
    assert _mode(pki.ca_certificate) == 0o644
    assert _mode(pki.serving_certificate) == 0o644


def test_serving_names(pki: PKI) -> None:
    ca = certs.ensure_ca(pki)
    certs.ensure_serving_certificate(pki, ca, ["api.example.com", "192.0.2.10"])
    names = signing.SubjectNames.of(_load(pki.serving_certificate))

    for dns_name in ("localhost", "kubernetes.default.svc", "api.example.com"):
        assert dns_name in names.dns_names
    for address in ("127.0.0.1", "::1", "192.0.2.10"):
        assert ipaddress.ip_address(address) in names.ip_addresses


def test_serving_signed_by_ca(pki: PKI) -> None:
    ca = certs.ensure_ca(pki)
    certs.ensure_serving_certificate(pki, ca)
    serving = _load(pki.serving_certificate)
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value

    serving.verify_directly_issued_by(ca.certificate)
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_serving_kept_when_unchanged(pki: PKI) -> None:
    ca = certs.ensure_ca(pki)
    certs.ensure_serving_certificate(pki, ca, ["api.example.com"])
    before = pki.serving_certificate.read_bytes()

    written = certs.ensure_serving_certificate(pki, ca, ["API.example.com"])

    assert not written
    assert pki.serving_certificate.read_bytes() == before


def test_serving_renewed_on_new_name(pki: PKI) -> None:
    ca = certs.ensure_ca(pki)
    certs.ensure_serving_certificate(pki, ca)

    written = certs.ensure_serving_certificate(pki, ca, ["10.43.0.1"])

    assert written
    assert ipaddress.ip_address("10.43.0.1") in signing.SubjectNames.of(_load(pki.serving_certificate)).ip_addresses


def test_serving_renewed_when_expiring(pki: PKI) -> None:
    ca = certs.ensure_ca(pki)
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=340)
    certs.ensure_serving_certificate(pki, ca, now=long_ago)

    written = certs.ensure_serving_certificate(pki, ca)

    assert written
    remaining = _load(pki.serving_certificate).not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert remaining > datetime.timedelta(days=360)


def test_serving_renewed_for_new_ca(pki: PKI, tmp_path: Path) -> None:
    ca = certs.ensure_ca(pki)
    certs.ensure_serving_certificate(pki, ca)
    other_ca = certs.ensure_ca(PKI(tmp_path / "other"))

    written = certs.ensure_serving_certificate(pki, other_ca)

    assert written
    _load(pki.serving_certificate).verify_directly_issued_by(other_ca.certificate)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("bad_name", id="underscore"),
        pytest.param("-leading.example.com", id="leading dash"),
        pytest.param("a" * 64 + ".com", id="label too long"),
    ],
)
def test_serving_invalid_name(pki: PKI, name: str) -> None:
    ca = certs.ensure_ca(pki)

    with pytest.raises(ValueError, match=name[:10]):
        certs.ensure_serving_certificate(pki, ca, [name])


def test_wildcard_name_accepted() -> None:
    names = signing.SubjectNames.parse(["*.apps.example.com"])

    assert names.dns_names == frozenset({"*.apps.example.com"})


@pytest.mark.parametrize(
    "file_name",
    [
        pytest.param("ca.crt", id="ca certificate"),
        pytest.param("ca.key", id="ca key"),
    ],
)
def test_corrupt_ca_names_file(pki: PKI, file_name: str) -> None:
    certs.ensure_ca(pki)
    (pki.directory / file_name).write_bytes(b"-----BEGIN garbage-----\n")

    with pytest.raises(CertificateFileError, match=file_name) as raised:
        certs.ensure_ca(pki)

    assert raised.value.path == pki.directory / file_name


@pytest.mark.parametrize(
    "file_name",
    [
        pytest.param("apiserver.crt", id="serving certificate"),
        pytest.param("apiserver.key", id="serving key"),
    ],
)
def test_corrupt_serving_names_file(pki: PKI, file_name: str) -> None:
    ca = certs.ensure_ca(pki)
    certs.ensure_serving_certificate(pki, ca)
    (pki.directory / file_name).write_text("not PEM at all")

    with pytest.raises(CertificateFileError, match=file_name):
        certs.ensure_serving_certificate(pki, ca)


def test_ca_key_missing(pki: PKI) -> None:
    certs.ensure_ca(pki)
    pki.ca_key.unlink()

    with pytest.raises(CertificateFileError, match="ca.key: missing, but ca.crt exists"):
        certs.ensure_ca(pki)


def test_ca_key_mismatch(pki: PKI, tmp_path: Path) -> None:
    certs.ensure_ca(pki)
    other = PKI(tmp_path / "other")
    certs.ensure_ca(other)
    pki.ca_key.write_bytes(other.ca_key.read_bytes())

    with pytest.raises(CertificateFileError, match="does not match"):
        certs.ensure_ca(pki)


def test_client_certificate_identity(pki: PKI) -> None:
    ca = certs.ensure_ca(pki)
    certificate_pem, key_pem = ca.issue_client_certificate("system:node:n1", ["system:nodes", "extra"])
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value

    assert signing.identity_of(certificate) == ("system:node:n1", ("system:nodes", "extra"))
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert certificate.issuer == ca.certificate.subject
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:n1"
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_client_certificate_empty_user(pki: PKI) -> None:
    ca = certs.ensure_ca(pki)

    with pytest.raises(ValueError, match="user name is empty"):
        ca.issue_client_certificate("")
