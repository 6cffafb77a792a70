"""Token discovery: learn the cluster's CA from kube-public/cluster-info and pin it by its public key hash.

A joining machine has the server URL, a bootstrap token and the CA's hash
(``sha256:<hex>`` of its SubjectPublicKeyInfo), but not the CA itself. It
fetches the ConfigMap cluster-info anonymously without verifying TLS,
since it cannot yet, takes the CA from the kubeconfig inside, and accepts
it only when its hash matches. It then fetches cluster-info once more with
TLS verified against that CA, which proves the server has a certificate
that CA issued, as kubeadm does.

Differences from kubeadm: the JWS signatures of the token over
cluster-info are not checked (pykube does not write them), so the CA hash
is required.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging

import yaml
from cryptography import x509

from pykube_control.client.api import APIClient
from pykube_control.client.errors import ClientError
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import CONFIGMAPS
from pykube_control.client.transport import RetryPolicy
from pykube_control.pki.issue import parse_pin, public_key_pin

log = logging.getLogger("pykube.agent")

CLUSTER_INFO_NAMESPACE = "kube-public"
CLUSTER_INFO_NAME = "cluster-info"

REQUEST_TIMEOUT = 10.0
"""Seconds for each discovery request; the server is expected to respond at once."""


class BootstrapError(Exception):
    """Joining the cluster failed; the message names the failed step and what to check."""


async def discover_ca(server: str, ca_cert_hash: str, *, timeout: float = REQUEST_TIMEOUT) -> bytes:
    """Return the PEM of the cluster CA whose public key hash is ``ca_cert_hash``; raise BootstrapError otherwise."""
    try:
        expected = parse_pin(ca_cert_hash)
    except ValueError as error:
        raise BootstrapError(str(error)) from None
    unverified = ClientConfig(server=server.rstrip("/"), insecure_skip_tls_verify=True)
    ca_pem = _ca_of(await _cluster_info(unverified, timeout), server)
    try:
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as error:
        raise BootstrapError(f"cluster-info from {server} contains an invalid CA certificate ({error})") from error
    actual = public_key_pin(ca)
    if not hmac.compare_digest(actual.encode(), expected.encode()):
        raise BootstrapError(
            f"the CA of {server} has public key hash {actual}, not the expected {expected}: "
            "check --ca-cert-hash against the join command `pykube up` printed, and that --server is the right cluster"
        )
    verified = ClientConfig(server=server.rstrip("/"), ca_data=ca_pem)
    await _cluster_info(verified, timeout)
    log.info("discovered cluster CA server=%s ca_cert_hash=%s", server, actual)
    return ca_pem


async def _cluster_info(config: ClientConfig, timeout: float) -> dict[str, object]:
    try:
        async with APIClient(config, request_timeout=timeout, retry=RetryPolicy(attempts=3)) as client:
            return await client.get(CONFIGMAPS, CLUSTER_INFO_NAME, namespace=CLUSTER_INFO_NAMESPACE)
    except ClientError as error:
        raise BootstrapError(
            f"cannot read {CLUSTER_INFO_NAMESPACE}/{CLUSTER_INFO_NAME} from {config.server} ({error}); "
            "check --server and that the API server is reachable from this machine"
        ) from error


def _ca_of(cluster_info: dict[str, object], server: str) -> bytes:
    data = cluster_info.get("data")
    text = data.get("kubeconfig") if isinstance(data, dict) else None
    try:
        config = yaml.safe_load(str(text))
        encoded = config["clusters"][0]["cluster"]["certificate-authority-data"]
        return base64.b64decode(str(encoded), validate=True)
    except (yaml.YAMLError, KeyError, IndexError, TypeError, binascii.Error, ValueError) as error:
        raise BootstrapError(
            f"cluster-info from {server} has no kubeconfig with certificate-authority-data ({type(error).__name__})"
        ) from error
