"""The agent's self-signed HTTPS serving certificate, created in its data directory on first start.

The API server does not verify the agent's certificate (as kube-apiserver
without --kubelet-certificate-authority does not), so a self-signed one per
node is enough to encrypt the log stream. The certificate is replaced when
it expires within ``RENEW_BEFORE`` or its names change (a new node IP).

Files (key 0600, certificate 0644)::

    <data-dir>/pki/agent.crt  <data-dir>/pki/agent.key
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("pykube.agent")

VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=30)
"""A certificate expiring sooner than this is replaced at start, leaving a month of restarts to pick up the new one."""


def ensure_serving_certificate(directory: Path, node_name: str, addresses: Sequence[str]) -> tuple[Path, Path]:
    """Create or renew ``agent.crt``/``agent.key`` in ``directory``; return (certificate path, key path).

    ``addresses`` are the node's IP addresses or DNS names for the subject
    alternative names. Raise ValueError for an invalid IP address.
    """
    certificate_path, key_path = directory / "agent.crt", directory / "agent.key"
    names = _subject_names(node_name, addresses)
    now = datetime.datetime.now(datetime.timezone.utc)
    if _still_fits(certificate_path, key_path, names, now):
        return certificate_path, key_path

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@agent")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(key_path, key_pem, 0o600)
    _write(certificate_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    log.info("wrote agent serving certificate path=%s node=%s", certificate_path, node_name)
    return certificate_path, key_path


def _subject_names(node_name: str, addresses: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(node_name), x509.DNSName("localhost")]
    for address in addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    return names


def _still_fits(certificate_path: Path, key_path: Path, names: list[x509.GeneralName], now: datetime.datetime) -> bool:
    if not certificate_path.exists() or not key_path.exists():
        return False
    try:
        certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
        present = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        log.warning("replacing unreadable agent certificate path=%s", certificate_path)
        return False
    return certificate.not_valid_after_utc - now >= RENEW_BEFORE and set(present) == set(names)


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)
