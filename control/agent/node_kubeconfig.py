"""The node agent's own kubeconfig, ``<data-dir>/node-kubeconfig``: client certificate, key and CA.

TLS bootstrap writes it once the cluster has signed the node's certificate.
Later starts reuse it while it still works. That is, it names the same
server, and its certificate is for ``system:node:<node name>``, was
issued by the CA in the same file, and stays valid for at least
``RENEW_BEFORE``. The file is written 0600 by atomic rename, because it
contains the private key.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature

log = logging.getLogger("pykube.agent")

NODE_KUBECONFIG = "node-kubeconfig"
NODE_USER_PREFIX = "system:node:"
ENTRY_NAME = "pykube-node"

RENEW_BEFORE = datetime.timedelta(hours=1)
"""A certificate expiring sooner than this is not reused, so a restart gets a fresh one instead of failing soon after."""


def build_node_kubeconfig(server: str, ca_pem: bytes, certificate_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """Return a kubeconfig with one cluster, user and context, all named pykube-node."""

    def encoded(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": ENTRY_NAME, "cluster": {"server": server, "certificate-authority-data": encoded(ca_pem)}}],
        "users": [
            {
                "name": ENTRY_NAME,
                "user": {"client-certificate-data": encoded(certificate_pem), "client-key-data": encoded(key_pem)},
            }
        ],
        "contexts": [{"name": ENTRY_NAME, "context": {"cluster": ENTRY_NAME, "user": ENTRY_NAME}}],
        "current-context": ENTRY_NAME,
        "preferences": {},
    }


def write_node_kubeconfig(path: Path, config: dict[str, Any]) -> None:
    """Replace ``path`` with ``config`` in one rename; the file is 0600 from its first byte."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            yaml.safe_dump(config, stream, default_flow_style=False, sort_keys=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.info("wrote node kubeconfig path=%s", path)


def reusable_reason(
    path: Path, node_name: str, server: str | None = None, now: datetime.datetime | None = None
) -> str | None:
    """Return why the kubeconfig at ``path`` cannot be reused for ``node_name`` at ``server``, or None when it can.

    ``server`` None accepts any server URL in the file.
    """
    if not path.exists():
        return "missing"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        ca = x509.load_pem_x509_certificate(base64.b64decode(cluster["certificate-authority-data"], validate=True))
        certificate = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"], validate=True))
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, ValueError, binascii.Error) as error:
        return f"unreadable ({type(error).__name__}: {error})"
    if server is not None and str(cluster.get("server", "")).rstrip("/") != server.rstrip("/"):
        return f"server changed from {cluster.get('server')} to {server}"
    common_names = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    expected = NODE_USER_PREFIX + node_name
    if not common_names or common_names[0].value != expected:
        return f"certificate is not for {expected}"
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "certificate was not issued by the file's CA"
    current = now or datetime.datetime.now(datetime.timezone.utc)
    if certificate.not_valid_after_utc - current < RENEW_BEFORE:
        return f"certificate expires at {certificate.not_valid_after_utc.isoformat()}"
    return None
