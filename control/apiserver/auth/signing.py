"""Build and sign the cluster's X.509 certificates: the CA, the API server's serving certificate, client certificates.

Everything here is pure: keys and certificates go in and come out as
``cryptography`` objects or PEM bytes, with no file access, so the on-disk
lifecycle in certs.py and the tests can share it. Keys are ECDSA P-256,
which Go's crypto/tls (kubectl, the kubernetes client libraries), OpenSSL
and Python's ssl all accept and which is generated in microseconds where a
2048-bit RSA key takes tens of milliseconds.

Client certificates carry the identity the way Kubernetes' x509
authenticator reads it: the subject's common name (CN) is the user name and
each organization (O) is one group.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pykube_core.names import DNS1123_LABEL_MAX_LENGTH, max_length_message, validate_dns1123_subdomain

CA_VALIDITY = datetime.timedelta(days=3650)
"""Lifetime of the cluster CA: ten years, because renewing it invalidates every issued certificate and kubeconfig."""

SERVING_VALIDITY = datetime.timedelta(days=365)
"""Lifetime of the API server's serving certificate; certs.py renews it automatically."""

CLIENT_VALIDITY = datetime.timedelta(days=365)
"""Default lifetime of a client certificate (node agents, the admin kubeconfig)."""

CLOCK_SKEW = datetime.timedelta(minutes=5)
"""How far notBefore is backdated, so a peer whose clock runs a little slow accepts a fresh certificate."""

CA_COMMON_NAME = "pykube-ca"
SERVING_COMMON_NAME = "pykube-apiserver"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclasses.dataclass(frozen=True, slots=True)
class SubjectNames:
    """The subject alternative names of a serving certificate, compared as sets."""

    dns_names: frozenset[str]
    ip_addresses: frozenset[IPAddress]

    @classmethod
    def parse(cls, names: Iterable[str]) -> SubjectNames:
        """Sort each name into DNS names and IP addresses; raise ValueError naming an invalid one."""
        dns_names: set[str] = set()
        ip_addresses: set[IPAddress] = set()
        for name in names:
            try:
                ip_addresses.add(ipaddress.ip_address(name))
            except ValueError:
                dns_names.add(_checked_dns_name(name))
        return cls(frozenset(dns_names), frozenset(ip_addresses))

    @classmethod
    def of(cls, certificate: x509.Certificate) -> SubjectNames:
        """Read the names of an existing certificate; no extension means no names."""
        try:
            extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return cls(frozenset(), frozenset())
        names = extension.value
        return cls(
            frozenset(names.get_values_for_type(x509.DNSName)),
            frozenset(names.get_values_for_type(x509.IPAddress)),  # type: ignore[arg-type]
        )

    def extension(self) -> x509.SubjectAlternativeName:
        entries: list[x509.GeneralName] = [x509.DNSName(name) for name in sorted(self.dns_names)]
        entries += [x509.IPAddress(address) for address in sorted(self.ip_addresses, key=str)]
        return x509.SubjectAlternativeName(entries)


def _checked_dns_name(name: str) -> str:
    """Lower-case a DNS name, allowing one leading "*." wildcard label."""
    lowered = name.lower()
    bare = lowered[2:] if lowered.startswith("*.") else lowered
    problems = validate_dns1123_subdomain(bare)
    # The subdomain pattern does not bound each label, but DNS does.
    problems += [
        f"label {label!r} {max_length_message(DNS1123_LABEL_MAX_LENGTH)}"
        for label in bare.split(".")
        if len(label) > DNS1123_LABEL_MAX_LENGTH
    ]
    if problems:
        raise ValueError(
            f"invalid subject alternative name {name!r}: {'; '.join(problems)}; "
            "pass an IP address such as 192.0.2.10 or a DNS name such as api.example.com"
        )
    return lowered


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Serialize a key as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY")."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: datetime.datetime,
    valid_for: datetime.timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before - CLOCK_SKEW)
        .not_valid_after(not_before + valid_for)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def create_ca(
    now: datetime.datetime | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Create a self-signed CA that may sign leaf certificates only (path length 0)."""
    key = new_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    builder = (
        _builder(name, name, key.public_key(), now or _now(), CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signing_certificates=True), critical=True)
    )
    return builder.sign(key, hashes.SHA256()), key


def _key_usage(*, signing_certificates: bool) -> x509.KeyUsage:
    # ECDSA keys only sign, so leaf certificates need digital_signature alone.
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signing_certificates,
        crl_sign=signing_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _sign_leaf(
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    not_before: datetime.datetime,
    valid_for: datetime.timedelta,
    names: SubjectNames | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = new_private_key()
    builder = (
        _builder(subject, ca_certificate.subject, key.public_key(), not_before, valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signing_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if names is not None:
        builder = builder.add_extension(names.extension(), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def create_serving_certificate(
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: SubjectNames,
    now: datetime.datetime | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Sign a TLS server certificate for ``names``; clients check the SANs, never the CN."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVING_COMMON_NAME)])
    return _sign_leaf(
        ca_certificate,
        ca_key,
        subject,
        ExtendedKeyUsageOID.SERVER_AUTH,
        now or _now(),
        SERVING_VALIDITY,
        names,
    )


def create_client_certificate(
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    user: str,
    groups: Sequence[str] = (),
    *,
    valid_for: datetime.timedelta = CLIENT_VALIDITY,
    now: datetime.datetime | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Sign a TLS client certificate with CN=``user`` and one O per group, in the given order."""
    if not user:
        raise ValueError("client certificate user name is empty; pass the user name for the CN")
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    # One relative distinguished name per attribute, as Go's pkix.Name writes
    # them, so every group reads back as a separate organization.
    subject = x509.Name([x509.RelativeDistinguishedName([attribute]) for attribute in attributes])
    return _sign_leaf(
        ca_certificate,
        ca_key,
        subject,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        now or _now(),
        valid_for,
    )


def identity_of(certificate: x509.Certificate) -> tuple[str, tuple[str, ...]]:
    """Return (CN, O values in order) of a certificate's subject; CN is "" when absent."""
    subject = certificate.subject
    common_names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    organizations = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    name = str(common_names[0].value) if common_names else ""
    return name, tuple(str(attribute.value) for attribute in organizations)
