"""Sign an approved certificate request with the cluster CA, and pin a CA by its public key hash.

``sign_request`` copies only the subject and public key from the request:
the issuer decides validity, key usage and extended key usage from the
CSR object's ``spec.usages``, as Kubernetes' signer does, so a request
cannot smuggle in extensions of its own.

``public_key_pin`` is kubeadm's ``--discovery-token-ca-cert-hash`` value:
"sha256:" and the hex SHA-256 of the CA's DER SubjectPublicKeyInfo. It
survives the CA certificate being re-issued with the same key.
"""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

PIN_PREFIX = "sha256:"

CLOCK_SKEW = datetime.timedelta(minutes=5)
"""How far notBefore is backdated, so a peer whose clock runs a little slow accepts a fresh certificate."""

_EXTENDED_USAGES = {
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}


def public_key_pin(certificate: x509.Certificate) -> str:
    """Return "sha256:<hex>" of the certificate's DER SubjectPublicKeyInfo."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PIN_PREFIX + hashlib.sha256(spki).hexdigest()


def parse_pin(text: str) -> str:
    """Return a pin in canonical lower-case form; raise ValueError unless it is sha256: and 64 hex digits."""
    lowered = text.strip().lower()
    digest = lowered[len(PIN_PREFIX) :]
    if not lowered.startswith(PIN_PREFIX) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(
            f"invalid CA certificate hash {text!r}: expected sha256: followed by 64 hex digits, "
            "as printed by `pykube up`"
        )
    return lowered


def sign_request(
    request: x509.CertificateSigningRequest,
    usages: list[str],
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    valid_for: datetime.timedelta,
    now: datetime.datetime | None = None,
) -> x509.Certificate:
    """Issue a leaf certificate for the request's subject and key, valid from now for ``valid_for``."""
    started = now or datetime.datetime.now(datetime.timezone.utc)
    public_key = request.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(started - CLOCK_SKEW)
        .not_valid_after(min(started + valid_for, ca_certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(usages), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    extended = [_EXTENDED_USAGES[usage] for usage in usages if usage in _EXTENDED_USAGES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _key_usage(usages: list[str]) -> x509.KeyUsage:
    requested = set(usages)
    return x509.KeyUsage(
        digital_signature="digital signature" in requested or "signing" in requested,
        content_commitment="content commitment" in requested,
        key_encipherment="key encipherment" in requested,
        data_encipherment="data encipherment" in requested,
        key_agreement="key agreement" in requested,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
