"""The cluster PKI on disk: the CA and the API server's serving certificate in ``<data-dir>/pki/``.

The first start creates a CA and a serving certificate signed by it; later
starts load them. The CA is never replaced automatically, because every
client certificate and kubeconfig trusts it. The serving certificate is
replaced whenever it no longer fits: its names differ from the requested
ones, it expires within ``RENEW_BEFORE``, it was not signed by the current
CA, or its key does not match. A file that exists but cannot be read as PEM
is an error naming the file, never silently replaced.

Files (keys 0600, certificates 0644)::

    pki/ca.crt  pki/ca.key  pki/apiserver.crt  pki/apiserver.key
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import socket
import ssl
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pykube_control.apiserver.auth import signing
from pykube_control.apiserver.auth.files import PRIVATE_MODE, PUBLIC_MODE, write_file_atomic
from pykube_control.apiserver.auth.signing import SubjectNames

logger = logging.getLogger("pykube.apiserver")

PKI_DIRECTORY = "pki"

RENEW_BEFORE = datetime.timedelta(days=30)
"""A serving certificate expiring sooner than this is replaced at start, leaving a month of restarts to pick it up."""

DEFAULT_DNS_NAMES = (
    "localhost",
    # The names pods use to reach the API server through the "kubernetes" Service.
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
DEFAULT_IP_ADDRESSES = ("127.0.0.1", "::1")


class CertificateFileError(Exception):
    """A PKI file is missing its pair, unreadable or not the PEM it should be."""

    def __init__(self, path: Path, problem: str, remedy: str) -> None:
        super().__init__(f"{path}: {problem}; {remedy}")
        self.path = path


@dataclasses.dataclass(frozen=True, slots=True)
class PKI:
    """The paths of the cluster's PKI files under one directory."""

    directory: Path

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> PKI:
        return cls(data_dir / PKI_DIRECTORY)

    @property
    def ca_certificate(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_certificate(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"


@dataclasses.dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """The cluster CA: signs serving and client certificates."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def certificate_pem(self) -> bytes:
        return signing.certificate_pem(self.certificate)

    def issue_client_certificate(
        self,
        user: str,
        groups: Sequence[str] = (),
        *,
        valid_for: datetime.timedelta = signing.CLIENT_VALIDITY,
        now: datetime.datetime | None = None,
    ) -> tuple[bytes, bytes]:
        """Sign a client certificate for ``user`` in ``groups``; return (certificate PEM, key PEM).

        The API server authenticates it as user CN=``user`` with groups O=``groups``.
        """
        certificate, key = signing.create_client_certificate(
            self.certificate, self.key, user, groups, valid_for=valid_for, now=now
        )
        logger.info("issued client certificate user=%s groups=%s", user, ",".join(groups))
        return signing.certificate_pem(certificate), signing.key_pem(key)


def ensure_ca(pki: PKI) -> CertificateAuthority:
    """Load the CA, or create it when neither ca.crt nor ca.key exists.

    Raise CertificateFileError when only one of the two exists or either is corrupt.
    """
    certificate_exists = pki.ca_certificate.exists()
    key_exists = pki.ca_key.exists()
    if certificate_exists and key_exists:
        return load_ca(pki)
    if certificate_exists or key_exists:
        present, missing = (
            (pki.ca_certificate, pki.ca_key) if certificate_exists else (pki.ca_key, pki.ca_certificate)
        )
        raise CertificateFileError(
            missing,
            f"missing, but {present.name} exists",
            "restore the file, or remove both to create a new CA "
            "(which invalidates every issued certificate and kubeconfig)",
        )

    certificate, key = signing.create_ca()
    write_file_atomic(pki.ca_key, signing.key_pem(key), PRIVATE_MODE)
    write_file_atomic(pki.ca_certificate, signing.certificate_pem(certificate), PUBLIC_MODE)
    logger.info("created cluster CA path=%s", pki.ca_certificate)
    return CertificateAuthority(certificate, key)


def load_ca(pki: PKI) -> CertificateAuthority:
    """Load the CA; raise CertificateFileError when a file is corrupt or the key does not match."""
    remedy = "restore it from a backup, or remove ca.crt and ca.key to create a new CA"
    certificate = _load_certificate(pki.ca_certificate, remedy)
    key = _load_key(pki.ca_key, remedy)
    if not _same_public_key(certificate, key):
        raise CertificateFileError(pki.ca_key, "does not match the public key in ca.crt", remedy)
    return CertificateAuthority(certificate, key)


def ensure_serving_certificate(
    pki: PKI,
    ca: CertificateAuthority,
    extra_names: Iterable[str] = (),
    now: datetime.datetime | None = None,
) -> bool:
    """Create or renew apiserver.crt/.key when they do not fit; return True when new ones were written.

    The names are localhost, 127.0.0.1, ::1, the kubernetes Service names,
    the machine's host name, and ``extra_names`` (DNS names or IP addresses).
    Raise ValueError naming an invalid extra name, and CertificateFileError
    when an existing file is corrupt.
    """
    names = serving_names(extra_names)
    current = now or datetime.datetime.now(datetime.timezone.utc)
    reason = _renewal_reason(pki, ca, names, current)
    if reason is None:
        return False

    certificate, key = signing.create_serving_certificate(ca.certificate, ca.key, names, current)
    write_file_atomic(pki.serving_key, signing.key_pem(key), PRIVATE_MODE)
    write_file_atomic(pki.serving_certificate, signing.certificate_pem(certificate), PUBLIC_MODE)
    logger.info(
        "wrote serving certificate path=%s reason=%s dns_names=%s ip_addresses=%s",
        pki.serving_certificate,
        reason,
        ",".join(sorted(names.dns_names)),
        ",".join(sorted(str(address) for address in names.ip_addresses)),
    )
    return True


def serving_names(extra_names: Iterable[str] = ()) -> SubjectNames:
    """Return the serving certificate's names: the defaults, the host name and ``extra_names``."""
    names = [*DEFAULT_DNS_NAMES, *DEFAULT_IP_ADDRESSES, *extra_names]
    hostname = socket.gethostname()
    try:
        SubjectNames.parse([hostname])
    except ValueError:
        # A host name such as "my_box" cannot be a DNS SAN; clients use an IP then.
        logger.warning("invalid DNS name as host name, left out of the serving certificate host=%s", hostname)
    else:
        names.append(hostname)
    return SubjectNames.parse(names)


def _renewal_reason(
    pki: PKI, ca: CertificateAuthority, names: SubjectNames, now: datetime.datetime
) -> str | None:
    """Return why the serving certificate must be (re)written, or None when it fits."""
    if not pki.serving_certificate.exists() or not pki.serving_key.exists():
        return "missing"
    remedy = "remove apiserver.crt and apiserver.key to create new ones"
    certificate = _load_certificate(pki.serving_certificate, remedy)
    key = _load_key(pki.serving_key, remedy)
    if not _same_public_key(certificate, key):
        return "key mismatch"
    if not _signed_by(certificate, ca.certificate):
        return "other CA"
    if certificate.not_valid_after_utc - now < RENEW_BEFORE:
        return "expiring"
    if SubjectNames.of(certificate) != names:
        return "names changed"
    return None


def _load_certificate(path: Path, remedy: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as error:
        raise CertificateFileError(path, f"invalid PEM certificate ({error})", remedy) from error
    except OSError as error:
        raise CertificateFileError(path, f"cannot be read ({error.strerror})", remedy) from error


def _load_key(path: Path, remedy: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise CertificateFileError(path, f"invalid PEM private key ({error})", remedy) from error
    except OSError as error:
        raise CertificateFileError(path, f"cannot be read ({error.strerror})", remedy) from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateFileError(
            path, f"is a {type(key).__name__}, not the ECDSA key pykube writes", remedy
        )
    return key


def _same_public_key(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    return certificate.public_key() == key.public_key()


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def ssl_context(pki: PKI) -> ssl.SSLContext:
    """Build the API server's TLS context: serve apiserver.crt, request client certificates.

    A client that sends no certificate still connects, and authenticates by
    token or as anonymous. A client certificate that does not verify
    against ca.crt, or has expired, fails the handshake.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki.serving_certificate, pki.serving_key)
    context.load_verify_locations(cafile=pki.ca_certificate)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context
