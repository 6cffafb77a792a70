"""The client certificate the API server presents to node agents when it proxies pods/log.

Each start issues a fresh certificate from the cluster CA (CN
kube-apiserver-kubelet-client, O system:masters, the names kube-apiserver
uses) and writes it next to the CA, so an operator can inspect it::

    pki/apiserver-kubelet-client.crt  pki/apiserver-kubelet-client.key

The agents' serving certificates are self-signed per node, so the returned
context does not verify them; kube-apiserver behaves the same without
--kubelet-certificate-authority.
"""

from __future__ import annotations

import ssl

from pykube_control.apiserver.auth.certs import PKI, CertificateAuthority
from pykube_control.apiserver.auth.files import PRIVATE_MODE, PUBLIC_MODE, write_file_atomic

KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
KUBELET_CLIENT_GROUPS = ("system:masters",)


def kubelet_client_context(pki: PKI, ca: CertificateAuthority) -> ssl.SSLContext:
    """Issue the agent client certificate, write it under ``pki``, and return a TLS context that presents it."""
    certificate_pem, key_pem = ca.issue_client_certificate(KUBELET_CLIENT_USER, KUBELET_CLIENT_GROUPS)
    certificate = pki.directory / "apiserver-kubelet-client.crt"
    key = pki.directory / "apiserver-kubelet-client.key"
    write_file_atomic(key, key_pem, PRIVATE_MODE)
    write_file_atomic(certificate, certificate_pem, PUBLIC_MODE)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # NOTE: agent serving certificates are self-signed, so they are not verified.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(certificate, key)
    return context
