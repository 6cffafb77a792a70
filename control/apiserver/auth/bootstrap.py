"""First-start credentials in one call: CA, serving certificate, admin token and admin kubeconfig.

Every step creates what is missing and loads what exists, so calling
``ensure_credentials`` on each start is safe. The serving certificate is
renewed when its names change (a new ``--tls-san`` or server address) or it
nears expiry. The admin kubeconfig ``<data-dir>/kubeconfig`` uses the admin
token. Its pykube entries are rewritten when the server URL or CA changes,
and other entries in it are kept.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from pykube_control.apiserver.auth import certs, kubeconfig, tokens

KUBECONFIG_FILE = "kubeconfig"


@dataclasses.dataclass(frozen=True, slots=True)
class Credentials:
    """Paths of the credential files, plus the loaded CA, token file and admin token for in-process use."""

    pki: certs.PKI
    token_file: Path
    kubeconfig: Path
    admin_token: str
    ca: certs.CertificateAuthority
    tokens: tokens.TokenFile


def ensure_credentials(data_dir: Path, server_url: str, extra_sans: Iterable[str] = ()) -> Credentials:
    """Create the missing credentials under ``data_dir``, load the rest, and return them.

    The host of ``server_url`` (such as https://192.0.2.10:6443) is added to
    the serving certificate's names with ``extra_sans``. Raise ValueError
    for an invalid name, certs.CertificateFileError or tokens.TokenFileError
    for a corrupt file, and kubeconfig.KubeConfigError for an unreadable
    kubeconfig.
    """
    pki = certs.PKI.in_data_dir(data_dir)
    ca = certs.ensure_ca(pki)
    names = [*extra_sans]
    host = _server_host(server_url)
    if host:
        names.append(host)
    certs.ensure_serving_certificate(pki, ca, names)

    token_path = data_dir / tokens.TOKEN_FILE
    token_file = tokens.ensure_token_file(token_path)
    admin_token = token_file.admin_token
    # ensure_token_file adds an admin row whenever none exists.
    assert admin_token is not None, f"{token_path} has no admin token after ensure_token_file"

    kubeconfig_path = data_dir / KUBECONFIG_FILE
    admin_config = kubeconfig.build_kubeconfig(server_url, ca.certificate_pem, token=admin_token)
    kubeconfig.merge_kubeconfig(kubeconfig_path, admin_config)
    return Credentials(pki, token_path, kubeconfig_path, admin_token, ca, token_file)


def _server_host(server_url: str) -> str:
    """Return the URL's host without IPv6 brackets; raise ValueError for a URL that is not https://host[:port]."""
    parsed = urllib.parse.urlsplit(server_url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise ValueError(
            f"invalid server URL {server_url!r}: expected https://<host>:<port>, such as https://127.0.0.1:6443"
        )
    host = parsed.hostname
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host
