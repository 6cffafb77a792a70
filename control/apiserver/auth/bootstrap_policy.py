"""What a joining machine may do before it has a certificate: request one, and read cluster-info.

Members of system:bootstrappers (bootstrap token users) may create
CertificateSigningRequests and get, list and watch them, which is what
Kubernetes' role system:node-bootstrapper grants. Everyone, anonymous
included, may get the ConfigMap kube-public/cluster-info, which contains the
server URL and CA a joining machine checks against its CA hash, as
kubeadm's RBAC rule for cluster-info allows.

Differences from Kubernetes: these grants are fixed rules until pykube
serves RBAC objects, and nodes (system:nodes) get no grant to renew their
certificate through a new CSR.
"""

from __future__ import annotations

from pykube_control.apiserver.auth.attributes import ALLOW, NO_OPINION, Opinion, RequestAttributes

BOOTSTRAPPERS_GROUP = "system:bootstrappers"
CSR_GROUP = "certificates.k8s.io"
CSR_RESOURCE = "certificatesigningrequests"
BOOTSTRAPPER_VERBS = frozenset({"create", "get", "list", "watch"})

CLUSTER_INFO_NAMESPACE = "kube-public"
CLUSTER_INFO_NAME = "cluster-info"


class BootstrapperAuthorizer:
    """Allow bootstrappers to create and read CSRs; no opinion on anything else."""

    def authorize(self, attributes: RequestAttributes) -> Opinion:
        if BOOTSTRAPPERS_GROUP not in attributes.user.groups:
            return NO_OPINION
        if (
            attributes.api_group == CSR_GROUP
            and attributes.resource == CSR_RESOURCE
            and not attributes.subresource
            and attributes.verb in BOOTSTRAPPER_VERBS
        ):
            return ALLOW
        return NO_OPINION


class ClusterInfoAuthorizer:
    """Allow anyone to get the ConfigMap kube-public/cluster-info."""

    def authorize(self, attributes: RequestAttributes) -> Opinion:
        if (
            attributes.verb == "get"
            and attributes.api_group == ""
            and attributes.resource == "configmaps"
            and not attributes.subresource
            and attributes.namespace == CLUSTER_INFO_NAMESPACE
            and attributes.name == CLUSTER_INFO_NAME
        ):
            return ALLOW
        return NO_OPINION
