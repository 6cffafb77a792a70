"""The join command `pykube up` prints: a bootstrap token, the server URL and the CA's public key hash.

At every start `pykube up` makes sure a bootstrap token Secret exists in
kube-system (type bootstrap.kubernetes.io/token, usable for
authentication, expiring ``TOKEN_TTL`` after creation) and prints::

    pykube node --server https://<address>:<port> --token <id>.<secret> --ca-cert-hash sha256:<hex>

A token this command created earlier is reused while it stays valid for
at least ``REUSE_MARGIN``; otherwise a new one is created. Expired tokens
are left in place. The address is --node-ip, else --host unless it is a
wildcard, else the address of this machine's default route. The API
server's serving certificate lists it (see up_components.py).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging
import secrets
from typing import TYPE_CHECKING, Any

import click

from pykube_control.cli.up_components import UpOptions

if TYPE_CHECKING:
    from pykube_control.client.api import APIClient

log = logging.getLogger("pykube.up")

TOKEN_TTL = datetime.timedelta(hours=24)
"""Lifetime of a new join token, kubeadm's default."""

REUSE_MARGIN = datetime.timedelta(hours=1)
"""A token expiring sooner than this is not printed again, so the printed one still works when someone uses it."""

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
TOKEN_ID_LENGTH = 6
TOKEN_SECRET_LENGTH = 16

SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
DESCRIPTION = "Join token created by pykube up."

Object = dict[str, Any]


def join_address(options: UpOptions) -> str:
    """Return the address joining machines reach the API server at."""
    if options.node_ip:
        return options.node_ip
    if options.host not in ("0.0.0.0", "::"):
        return options.host
    from pykube_control.cli.node_cri import default_node_ip

    return default_node_ip()


def join_command(address: str, port: int, token: str, ca_cert_hash: str, program: str = "pykube node") -> str:
    """Return the command line (`pykube node` or `pykube up`) that joins this cluster; IPv6 addresses get brackets."""
    try:
        host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:
        host = address
    return f"{program} --server https://{host}:{port} --token {token} --ca-cert-hash {ca_cert_hash}"


def _encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _decoded(data: Object, key: str) -> str:
    try:
        return base64.b64decode(str(data.get(key) or ""), validate=True).decode()
    except ValueError:
        return ""


def new_token_secret(now: datetime.datetime) -> tuple[str, Object]:
    """Return a random token ``<id>.<secret>`` and the Secret that makes it valid for TOKEN_TTL."""
    token_id = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_ID_LENGTH))
    token_secret = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_SECRET_LENGTH))
    expiration = (now + TOKEN_TTL).strftime("%Y-%m-%dT%H:%M:%SZ")
    secret: Object = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET_PREFIX + token_id, "namespace": SECRET_NAMESPACE},
        "type": SECRET_TYPE,
        "data": {
            "token-id": _encoded(token_id),
            "token-secret": _encoded(token_secret),
            "expiration": _encoded(expiration),
            "usage-bootstrap-authentication": _encoded("true"),
            "description": _encoded(DESCRIPTION),
        },
    }
    return f"{token_id}.{token_secret}", secret


def reusable_token(secret: Object, now: datetime.datetime) -> str | None:
    """Return the token of a Secret this module created that stays valid for REUSE_MARGIN, else None."""
    data = secret.get("data") or {}
    if secret.get("type") != SECRET_TYPE or _decoded(data, "description") != DESCRIPTION:
        return None
    if _decoded(data, "usage-bootstrap-authentication") != "true" or (secret.get("metadata") or {}).get("deletionTimestamp"):
        return None
    try:
        expiration = datetime.datetime.fromisoformat(_decoded(data, "expiration").replace("Z", "+00:00"))
    except ValueError:
        return None
    if expiration.tzinfo is None or expiration - now < REUSE_MARGIN:
        return None
    token_id, token_secret = _decoded(data, "token-id"), _decoded(data, "token-secret")
    if not token_id or not token_secret:
        return None
    return f"{token_id}.{token_secret}"


async def ensure_join_token(client: APIClient, now: datetime.datetime | None = None) -> str:
    """Return a join token valid for at least REUSE_MARGIN, creating its Secret through ``client`` when needed."""
    from pykube_control.client.resource import SECRETS

    current = now or datetime.datetime.now(datetime.timezone.utc)
    listed = await client.list(SECRETS, namespace=SECRET_NAMESPACE)
    for secret in listed.get("items") or []:
        token = reusable_token(secret, current)
        if token is not None:
            log.info("reusing join token secret=%s/%s", SECRET_NAMESPACE, secret["metadata"]["name"])
            return token
    token, secret = new_token_secret(current)
    await client.create(SECRETS, secret, namespace=SECRET_NAMESPACE)
    log.info("created join token secret=%s/%s expires_in_hours=%d",
             SECRET_NAMESPACE, secret["metadata"]["name"], TOKEN_TTL.total_seconds() // 3600)  # fmt: skip
    return token


async def print_join_command(options: UpOptions) -> None:
    """Ensure a join token and print the command other machines join this cluster with."""
    from cryptography import x509

    from pykube_control.apiserver.auth.certs import PKI
    from pykube_control.client.api import APIClient
    from pykube_control.pki.issue import public_key_pin

    from pykube_control.client.errors import ClientError

    try:
        ca = x509.load_pem_x509_certificate(PKI.in_data_dir(options.data_dir).ca_certificate.read_bytes())
        async with APIClient.from_kubeconfig(options.kubeconfig) as client:
            token = await ensure_join_token(client)
    except (OSError, ValueError, ClientError) as error:
        # The cluster runs fine without a join command, so this is not fatal.
        log.warning("no join command: creating the join token failed error=%s", error)
        click.echo(f"pykube up: no join command for other machines: {error}", err=True)
        return
    pin = public_key_pin(ca)
    click.echo("pykube up: to add a machine, run on it (node agent and Service proxy):")
    click.echo(f"    {join_command(join_address(options), options.port, token, pin, program='pykube up')}")
    click.echo("pykube up: or, for the node agent alone:")
    click.echo(f"    {join_command(join_address(options), options.port, token, pin)}")
