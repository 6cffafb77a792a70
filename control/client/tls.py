"""The TLS context of a client connection, built from a ``ClientConfig``.

The ssl module loads client certificates only from files, so key material
given as data is written to a private temporary directory (mode 0700, files
0600), loaded, and deleted before this function returns.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from pykube_control.client.kubeconfig import ClientConfig, KubeconfigError


def ssl_context(config: ClientConfig) -> ssl.SSLContext | None:
    """Build the TLS context for ``config.server``; return None for an http:// server."""
    if not config.server.startswith("https://"):
        return None
    try:
        context = _verifying_context(config)
    except ssl.SSLError as error:
        raise KubeconfigError(f"{config.source}: certificate-authority data is not a valid PEM CA ({error})") from error
    if config.client_certificate_data is not None and config.client_key_data is not None:
        _load_client_certificate(context, config)
    return context


def _verifying_context(config: ClientConfig) -> ssl.SSLContext:
    if config.ca_data is not None:
        context = ssl.create_default_context(cadata=config.ca_data.decode("ascii", errors="replace"))
    else:
        context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.insecure_skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _load_client_certificate(context: ssl.SSLContext, config: ClientConfig) -> None:
    assert config.client_certificate_data is not None and config.client_key_data is not None
    with tempfile.TemporaryDirectory(prefix="pykube-client-") as directory:
        certificate = _write_private(Path(directory) / "client.crt", config.client_certificate_data)
        key = _write_private(Path(directory) / "client.key", config.client_key_data)
        try:
            context.load_cert_chain(certificate, key)
        except ssl.SSLError as error:
            raise KubeconfigError(
                f"{config.source}: client-certificate and client-key do not load as a PEM pair ({error})"
            ) from error


def _write_private(path: Path, data: bytes) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return path
