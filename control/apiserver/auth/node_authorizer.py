"""The node authorizer: what a node agent (user ``system:node:<name>`` in group ``system:nodes``) may do.

A node agent may read what it needs to run the pods bound to its node and
write only its own Node, its own Lease and the status of its own pods. This
combines Kubernetes' Node authorizer (which decides from the request) with
the checks of the NodeRestriction admission plugin that need only the
request and the pod-to-node graph, not the request body.

Which objects belong to a node comes from a NodeGraph, kept by the API
server from its watch cache, the way Kubernetes' authorizer keeps a graph
of pods, nodes and the objects pods reference. The graph is synchronous
because authorization sits on every request.

Every denial is NO_OPINION with a reason, as in Kubernetes, so a later
authorizer (RBAC) may still allow the request.

Differences from Kubernetes 1.32 with AuthorizeNodeWithSelectors on:

- Nodes may get, list and watch every Node (Kubernetes 1.31 and older
  allowed that too), because node agents route pod traffic to other nodes.
  Kubernetes 1.32 allows reading only the node's own Node.
- Endpoints may be listed and watched and EndpointSlices read, for the
  service proxy that runs with the node's credentials; Kubernetes grants
  nodes only get on endpoints.
- Creating pods is denied: Kubernetes allows mirror pods of static pods
  after checking the body in admission, and pykube has no static pods.
- Updating and deleting a Node, pod status, pod deletion and evictions are
  checked against the node here; Kubernetes checks them in NodeRestriction.
- CSINodes, VolumeAttachments, ResourceSlices, CertificateSigningRequests,
  TokenReviews and SubjectAccessReviews are not served, so no rules exist.
"""

from __future__ import annotations

from typing import Protocol

from pykube_control.apiserver.auth.attributes import ALLOW, NO_OPINION, Opinion, RequestAttributes, no_opinion
from pykube_control.apiserver.auth.identity import UserInfo

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"

READ_VERBS = frozenset({"get", "list", "watch"})
WRITE_VERBS = frozenset({"update", "patch"})


class NodeGraph(Protocol):
    """The pod-to-node relations the node authorizer needs, looked up in the API server's cache."""

    def pod_is_bound(self, namespace: str, name: str, node: str) -> bool:
        """Return True when pod ``namespace/name`` exists and its spec.nodeName is ``node``."""
        ...

    def is_referenced(self, resource: str, namespace: str, name: str, node: str) -> bool:
        """Return True when a pod bound to ``node`` uses the object.

        ``resource`` is "secrets", "configmaps", "persistentvolumeclaims",
        "persistentvolumes" (``namespace`` "") or "serviceaccounts". A
        persistent volume counts when a pod's claim is bound to it.
        """
        ...


def node_name_of(user: UserInfo) -> str | None:
    """Return the node of a node agent's user ("" when the name has no node), or None for other users."""
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_USER_PREFIX):
        return None
    return user.name[len(NODE_USER_PREFIX) :]


class NodeAuthorizer:
    def __init__(self, graph: NodeGraph) -> None:
        self._graph = graph

    def authorize(self, attributes: RequestAttributes) -> Opinion:
        node = node_name_of(attributes.user)
        if node is None:
            return NO_OPINION
        if not node:
            return no_opinion(f'unknown node for user "{attributes.user.name}"')
        if not attributes.is_resource_request:
            return NO_OPINION
        check = _CHECKS.get((attributes.api_group, attributes.resource))
        if check is None:
            return NO_OPINION
        return check(self, node, attributes)

    def _pods(self, node: str, attributes: RequestAttributes) -> Opinion:
        verb, subresource = attributes.verb, attributes.subresource
        if subresource == "" and verb == "get":
            return self._bound_pod(node, attributes)
        if subresource == "" and verb in ("list", "watch"):
            return self._list_pods(node, attributes)
        if subresource == "" and verb == "delete":
            return self._bound_pod(node, attributes)
        if subresource == "" and verb == "create":
            # TODO: allow mirror pods bound to the node once static pods exist; that needs the body in admission.
            return no_opinion(f"node '{node}' cannot create pods: mirror pods are not supported")
        if subresource == "status" and verb in WRITE_VERBS:
            return self._bound_pod(node, attributes)
        if subresource == "eviction" and verb == "create":
            return self._bound_pod(node, attributes)
        return NO_OPINION

    def _list_pods(self, node: str, attributes: RequestAttributes) -> Opinion:
        selector = attributes.field_selector
        if selector is not None and selector.requires_exact_match("spec.nodeName") == node:
            return ALLOW
        if attributes.name:
            return self._bound_pod(node, attributes)
        return no_opinion("can only list/watch pods with spec.nodeName field selector")

    def _bound_pod(self, node: str, attributes: RequestAttributes) -> Opinion:
        if not attributes.name:
            return no_opinion("No Object name found")
        if self._graph.pod_is_bound(attributes.namespace, attributes.name, node):
            return ALLOW
        return _no_relationship(node)

    def _referenced(self, node: str, attributes: RequestAttributes) -> Opinion:
        if not attributes.name:
            return no_opinion("No Object name found")
        if self._graph.is_referenced(attributes.resource, attributes.namespace, attributes.name, node):
            return ALLOW
        return _no_relationship(node)

    def _secrets_and_configmaps(self, node: str, attributes: RequestAttributes) -> Opinion:
        if attributes.verb not in READ_VERBS:
            return no_opinion("can only read resources of this type")
        if attributes.subresource:
            return no_opinion("cannot read subresource")
        if not attributes.namespace:
            return no_opinion("can only read namespaced object of this type")
        return self._referenced(node, attributes)

    def _volumes(self, node: str, attributes: RequestAttributes) -> Opinion:
        if attributes.resource == "persistentvolumeclaims" and attributes.subresource == "status":
            if attributes.verb not in WRITE_VERBS:
                return no_opinion("can only get/update/patch this type")
            return self._referenced(node, attributes)
        if attributes.verb != "get":
            return no_opinion("can only get individual resources of this type")
        if attributes.subresource:
            return no_opinion("cannot get subresource")
        return self._referenced(node, attributes)

    def _service_account_tokens(self, node: str, attributes: RequestAttributes) -> Opinion:
        if attributes.verb != "create" or not attributes.name:
            return no_opinion("can only create tokens for individual service accounts")
        if attributes.subresource != "token":
            return no_opinion("can only create token subresource of serviceaccount")
        return self._referenced(node, attributes)

    def _leases(self, node: str, attributes: RequestAttributes) -> Opinion:
        verb = attributes.verb
        if verb not in ("get", "create", "update", "patch", "delete"):
            return no_opinion("can only get, create, update, patch, or delete a node lease")
        if attributes.namespace != NODE_LEASE_NAMESPACE:
            return no_opinion(f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace')
        # A create carries its name in the body, so the caller may not know it.
        name_unknown = verb == "create" and not attributes.name
        if attributes.name != node and not name_unknown:
            return no_opinion("can only access node lease with the same name as the requesting node")
        return ALLOW

    def _nodes(self, node: str, attributes: RequestAttributes) -> Opinion:
        verb, subresource, name = attributes.verb, attributes.subresource, attributes.name
        if subresource == "" and verb in READ_VERBS:
            return ALLOW
        writes_node = (subresource == "" and verb in ("create", *WRITE_VERBS)) or (
            subresource == "status" and verb in WRITE_VERBS
        )
        if not writes_node:
            return NO_OPINION
        # NOTE: a create without a name in the attributes is allowed; admission must check metadata.name.
        if name and name != node:
            return no_opinion(f"node '{node}' is not allowed to modify node '{name}'")
        return ALLOW

    def _events(self, node: str, attributes: RequestAttributes) -> Opinion:
        if attributes.verb in ("create", "update", "patch") and not attributes.subresource:
            return ALLOW
        return NO_OPINION

    def _read_only(self, node: str, attributes: RequestAttributes) -> Opinion:
        if attributes.verb in READ_VERBS and not attributes.subresource:
            return ALLOW
        return NO_OPINION


def _no_relationship(node: str) -> Opinion:
    return no_opinion(f"no relationship found between node '{node}' and this object")


_CHECKS = {
    ("", "pods"): NodeAuthorizer._pods,
    ("", "nodes"): NodeAuthorizer._nodes,
    ("", "secrets"): NodeAuthorizer._secrets_and_configmaps,
    ("", "configmaps"): NodeAuthorizer._secrets_and_configmaps,
    ("", "persistentvolumeclaims"): NodeAuthorizer._volumes,
    ("", "persistentvolumes"): NodeAuthorizer._volumes,
    ("", "serviceaccounts"): NodeAuthorizer._service_account_tokens,
    ("coordination.k8s.io", "leases"): NodeAuthorizer._leases,
    ("", "events"): NodeAuthorizer._events,
    ("events.k8s.io", "events"): NodeAuthorizer._events,
    ("", "services"): NodeAuthorizer._read_only,
    ("", "endpoints"): NodeAuthorizer._read_only,
    ("discovery.k8s.io", "endpointslices"): NodeAuthorizer._read_only,
}
"""The check for each (API group, resource) a node may touch; nodes get no opinion on the rest."""
