"""TLS bootstrap: turn a bootstrap token into the node's own client certificate and kubeconfig.

``ensure_node_kubeconfig`` is what `pykube node --server --token
--ca-cert-hash` runs before the agent starts:

1. reuse ``<data-dir>/node-kubeconfig`` when its certificate is still good
   for this node (node_kubeconfig.py), without contacting the server;
2. otherwise learn and pin the cluster CA (bootstrap_discovery.py);
3. generate an ECDSA key and create a CertificateSigningRequest for
   CN=system:node:<name>, O=system:nodes with signer
   kubernetes.io/kube-apiserver-client-kubelet, authenticated by the token;
4. poll the request until the cluster's csrapproving and csrsigning
   controllers have approved and signed it, or it is Denied or Failed;
5. write the node kubeconfig with the certificate, key and CA, 0600.

The key never leaves this machine: only the request, which contains the
public key, is sent.

Differences from the kubelet: the request is polled every
``poll_interval`` seconds rather than watched, and certificates are not
rotated while the agent runs; a restart after ``RENEW_BEFORE`` of
the expiry bootstraps again, which needs a valid token.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from pykube_control.agent.bootstrap_discovery import BootstrapError, discover_ca
from pykube_control.agent.node_kubeconfig import (
    NODE_KUBECONFIG,
    build_node_kubeconfig,
    reusable_reason,
    write_node_kubeconfig,
)
from pykube_control.client.api import APIClient
from pykube_control.client.errors import ClientError, Forbidden, Unauthorized
from pykube_control.client.indexer import Object
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import resource_for
from pykube_control.pki.csr import KUBELET_CLIENT_SIGNER, build_node_request, new_node_key

log = logging.getLogger("pykube.agent")

CERTIFICATE_SIGNING_REQUESTS = resource_for("certificates.k8s.io", "v1", "certificatesigningrequests")

REQUESTED_USAGES = ["digital signature", "client auth"]
"""Usages of the node's client certificate; an ECDSA key needs no key encipherment."""

CERTIFICATE_TIMEOUT = 300.0
"""Seconds to wait for the cluster to sign the request before giving up; approval may need an administrator."""

POLL_INTERVAL = 1.0
"""Seconds between reads of the pending request."""

__all__ = ["BootstrapError", "JoinOptions", "ensure_node_kubeconfig"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JoinOptions:
    """Inputs of joining: the cluster's location, the credentials to join with, and this node's name."""

    server: str
    """API server URL such as https://192.0.2.10:6443."""
    token: str
    """Bootstrap token ``<token-id>.<token-secret>``."""
    ca_cert_hash: str
    """``sha256:<hex>`` of the cluster CA's public key."""
    node_name: str
    data_dir: Path
    certificate_timeout: float = CERTIFICATE_TIMEOUT
    poll_interval: float = POLL_INTERVAL


async def ensure_node_kubeconfig(options: JoinOptions) -> Path:
    """Return the path of a node kubeconfig that works for ``options.node_name``, bootstrapping when needed."""
    path = options.data_dir / NODE_KUBECONFIG
    reason = reusable_reason(path, options.node_name, options.server)
    if reason is None:
        log.info("reusing node kubeconfig path=%s node=%s", path, options.node_name)
        return path
    log.info("bootstrapping node credentials node=%s server=%s reason=%s", options.node_name, options.server, reason)
    ca_pem = await discover_ca(options.server, options.ca_cert_hash)
    certificate_pem, key_pem = await request_certificate(options, ca_pem)
    write_node_kubeconfig(path, build_node_kubeconfig(options.server.rstrip("/"), ca_pem, certificate_pem, key_pem))
    return path


async def request_certificate(options: JoinOptions, ca_pem: bytes) -> tuple[bytes, bytes]:
    """Create the node's CSR with the bootstrap token and wait for it; return (certificate PEM, key PEM)."""
    key = new_node_key()
    request = build_node_request(options.node_name, key)
    config = ClientConfig(server=options.server.rstrip("/"), ca_data=ca_pem, token=options.token)
    async with APIClient(config) as client:
        name = await _create_request(client, request, options)
        certificate = await _wait_for_certificate(client, name, options)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate, key_pem


async def _create_request(client: APIClient, request: bytes, options: JoinOptions) -> str:
    body: Object = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "node-csr-"},
        "spec": {
            "request": base64.b64encode(request).decode("ascii"),
            "signerName": KUBELET_CLIENT_SIGNER,
            "usages": REQUESTED_USAGES,
        },
    }
    try:
        created = await client.create(CERTIFICATE_SIGNING_REQUESTS, body)
    except Unauthorized as error:
        raise BootstrapError(
            f"the API server at {options.server} rejected the bootstrap token ({error}): "
            "check --token; tokens expire 24 h after `pykube up` creates them, and a restart of `pykube up` prints a valid one"
        ) from error
    except Forbidden as error:
        raise BootstrapError(f"the bootstrap token may not create certificate signing requests ({error})") from error
    except ClientError as error:
        raise BootstrapError(f"creating the certificate signing request failed ({error})") from error
    name = str(created["metadata"]["name"])
    log.info("created certificate signing request name=%s node=%s", name, options.node_name)
    return name


async def _wait_for_certificate(client: APIClient, name: str, options: JoinOptions) -> bytes:
    deadline = time.monotonic() + options.certificate_timeout
    while True:
        try:
            csr = await client.get(CERTIFICATE_SIGNING_REQUESTS, name)
        except ClientError as error:
            raise BootstrapError(f"reading certificate signing request {name} failed ({error})") from error
        certificate = _issued_certificate(csr, name)
        if certificate is not None:
            log.info("received node certificate name=%s node=%s", name, options.node_name)
            return certificate
        if time.monotonic() >= deadline:
            raise BootstrapError(
                f"certificate signing request {name} was not signed within {options.certificate_timeout:.0f} s: "
                "check that the controller manager runs csrapproving and csrsigning with the cluster CA, "
                f"or approve it with `kubectl certificate approve {name}`"
            )
        await asyncio.sleep(options.poll_interval)


def _issued_certificate(csr: Object, name: str) -> bytes | None:
    """Return the certificate PEM once issued, None while pending; raise BootstrapError when Denied or Failed."""
    status = csr.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Denied", "Failed") and condition.get("status") == "True":
            raise BootstrapError(
                f"certificate signing request {name} was {str(condition['type']).lower()}: "
                f"{condition.get('reason', '')} {condition.get('message', '')}".rstrip()
            )
    encoded = status.get("certificate")
    if not encoded:
        return None
    return base64.b64decode(str(encoded))
