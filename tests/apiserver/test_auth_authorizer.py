"""The authorizer chain: admin, anonymous, authenticated users and node agents, allowed and denied."""

from __future__ import annotations

import dataclasses

import pytest

from pykube_core.fields import parse_field_selector

from pykube_control.apiserver.auth.attributes import (
    ALLOW,
    NO_OPINION,
    Opinion,
    Outcome,
    RequestAttributes,
    no_opinion,
)
from pykube_control.apiserver.auth.authorizer import (
    AuthorizerChain,
    Decision,
    authorize,
    forbidden_message,
)
from pykube_control.apiserver.auth.identity import ANONYMOUS, UserInfo

ADMIN = UserInfo("admin", "1", ("system:masters", "system:authenticated"))
ALICE = UserInfo("alice", "2", ("system:authenticated",))
NODE = UserInfo("system:node:n1", "", ("system:nodes", "system:authenticated"))
NOT_A_NODE = UserInfo("system:node:n1", "", ("system:authenticated",))
NAMELESS_NODE = UserInfo("system:node:", "", ("system:nodes", "system:authenticated"))


@dataclasses.dataclass
class FakeGraph:
    """Pods web-1 (n1) and other (n2) in default; n1's pods use the objects in ``referenced``."""

    bound: dict[tuple[str, str], str] = dataclasses.field(
        default_factory=lambda: {("default", "web-1"): "n1", ("default", "other"): "n2"}
    )
    referenced: set[tuple[str, str, str, str]] = dataclasses.field(
        default_factory=lambda: {
            ("secrets", "default", "s1", "n1"),
            ("configmaps", "default", "cm1", "n1"),
            ("persistentvolumeclaims", "default", "claim1", "n1"),
            ("persistentvolumes", "", "pv1", "n1"),
            ("serviceaccounts", "default", "sa1", "n1"),
            ("secrets", "default", "s2", "n2"),
        }
    )

    def pod_is_bound(self, namespace: str, name: str, node: str) -> bool:
        return self.bound.get((namespace, name)) == node

    def is_referenced(self, resource: str, namespace: str, name: str, node: str) -> bool:
        return (resource, namespace, name, node) in self.referenced


def _path(user: UserInfo, path: str, verb: str = "get") -> RequestAttributes:
    return RequestAttributes(user=user, verb=verb, path=path)


def _resource(
    user: UserInfo,
    verb: str,
    resource: str,
    *,
    namespace: str = "",
    name: str = "",
    group: str = "",
    subresource: str = "",
    selector: str | None = None,
) -> RequestAttributes:
    return RequestAttributes(
        user=user,
        verb=verb,
        api_group=group,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
        field_selector=parse_field_selector(selector) if selector is not None else None,
    )


ALLOWED = [
    pytest.param(_resource(ADMIN, "delete", "pods", namespace="default", name="x"), id="admin delete pod"),
    pytest.param(_resource(ADMIN, "create", "deployments", namespace="a", group="apps"), id="admin create deployment"),
    pytest.param(_path(ADMIN, "/metrics"), id="admin metrics path"),
    pytest.param(_path(ANONYMOUS, "/healthz"), id="anonymous healthz"),
    pytest.param(_path(ANONYMOUS, "/livez"), id="anonymous livez"),
    pytest.param(_path(ANONYMOUS, "/readyz"), id="anonymous readyz"),
    pytest.param(_path(ANONYMOUS, "/version"), id="anonymous version"),
    pytest.param(_path(ALICE, "/api"), id="user api discovery"),
    pytest.param(_path(ALICE, "/apis/apps/v1"), id="user group discovery"),
    pytest.param(_path(ALICE, "/openapi/v2"), id="user openapi"),
    pytest.param(_path(NODE, "/api/v1"), id="node discovery"),
    pytest.param(_resource(NODE, "get", "nodes", name="n1"), id="node get own node"),
    pytest.param(_resource(NODE, "list", "nodes"), id="node list nodes"),
    pytest.param(_resource(NODE, "watch", "nodes"), id="node watch nodes"),
    pytest.param(_resource(NODE, "create", "nodes"), id="node create node"),
    pytest.param(_resource(NODE, "update", "nodes", name="n1"), id="node update own node"),
    pytest.param(_resource(NODE, "patch", "nodes", name="n1", subresource="status"), id="node patch own status"),
    pytest.param(_resource(NODE, "list", "pods", selector="spec.nodeName=n1"), id="node list own pods"),
    pytest.param(
        _resource(NODE, "watch", "pods", selector="spec.nodeName=n1,status.phase!=Failed"),
        id="node watch own pods",
    ),
    pytest.param(_resource(NODE, "get", "pods", namespace="default", name="web-1"), id="node get bound pod"),
    pytest.param(
        _resource(NODE, "watch", "pods", namespace="default", name="web-1"), id="node watch bound pod by name"
    ),
    pytest.param(
        _resource(NODE, "update", "pods", namespace="default", name="web-1", subresource="status"),
        id="node update bound pod status",
    ),
    pytest.param(_resource(NODE, "delete", "pods", namespace="default", name="web-1"), id="node delete bound pod"),
    pytest.param(
        _resource(NODE, "create", "pods", namespace="default", name="web-1", subresource="eviction"),
        id="node evict bound pod",
    ),
    pytest.param(_resource(NODE, "get", "secrets", namespace="default", name="s1"), id="node get used secret"),
    pytest.param(
        _resource(NODE, "watch", "configmaps", namespace="default", name="cm1"), id="node watch used configmap"
    ),
    pytest.param(
        _resource(NODE, "get", "persistentvolumeclaims", namespace="default", name="claim1"), id="node get used pvc"
    ),
    pytest.param(
        _resource(NODE, "patch", "persistentvolumeclaims", namespace="default", name="claim1", subresource="status"),
        id="node patch used pvc status",
    ),
    pytest.param(_resource(NODE, "get", "persistentvolumes", name="pv1"), id="node get used pv"),
    pytest.param(
        _resource(NODE, "create", "serviceaccounts", namespace="default", name="sa1", subresource="token"),
        id="node create token for used sa",
    ),
    pytest.param(
        _resource(NODE, "update", "leases", namespace="kube-node-lease", name="n1", group="coordination.k8s.io"),
        id="node update own lease",
    ),
    pytest.param(
        _resource(NODE, "create", "leases", namespace="kube-node-lease", group="coordination.k8s.io"),
        id="node create lease",
    ),
    pytest.param(_resource(NODE, "create", "events", namespace="default"), id="node create core event"),
    pytest.param(
        _resource(NODE, "patch", "events", namespace="default", name="e1", group="events.k8s.io"),
        id="node patch events.k8s.io event",
    ),
    pytest.param(_resource(NODE, "list", "services"), id="node list services"),
    pytest.param(_resource(NODE, "watch", "endpoints", namespace="default"), id="node watch endpoints"),
    pytest.param(_resource(NODE, "list", "endpointslices", group="discovery.k8s.io"), id="node list endpointslices"),
]


@pytest.mark.parametrize("attributes", ALLOWED)
def test_allowed(attributes: RequestAttributes) -> None:
    assert authorize(attributes, FakeGraph()) == Decision(True)


DENIED = [
    pytest.param(
        _path(ANONYMOUS, "/api"),
        'User "system:anonymous" cannot get path "/api"',
        id="anonymous api discovery",
    ),
    pytest.param(
        _path(ANONYMOUS, "/healthz", verb="post"),
        'User "system:anonymous" cannot post path "/healthz"',
        id="anonymous post healthz",
    ),
    pytest.param(
        _path(ANONYMOUS, "/healthz/etcd"),
        'User "system:anonymous" cannot get path "/healthz/etcd"',
        id="anonymous healthz subpath",
    ),
    pytest.param(
        _resource(ANONYMOUS, "list", "pods", namespace="default"),
        'User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"',
        id="anonymous list pods",
    ),
    pytest.param(
        _resource(ALICE, "get", "namespaces", name="default"),
        'User "alice" cannot get resource "namespaces" in API group "" at the cluster scope',
        id="user get namespace",
    ),
    pytest.param(
        _path(ALICE, "/metrics"),
        'User "alice" cannot get path "/metrics"',
        id="user metrics path",
    ),
    pytest.param(
        _resource(NODE, "delete", "pods", namespace="default", name="other"),
        'User "system:node:n1" cannot delete resource "pods" in API group "" in the namespace "default": '
        "no relationship found between node 'n1' and this object",
        id="node delete foreign pod",
    ),
    pytest.param(
        _resource(NODE, "get", "pods", namespace="default", name="missing"),
        'User "system:node:n1" cannot get resource "pods" in API group "" in the namespace "default": '
        "no relationship found between node 'n1' and this object",
        id="node get unknown pod",
    ),
    pytest.param(
        _resource(NODE, "list", "pods"),
        'User "system:node:n1" cannot list resource "pods" in API group "" at the cluster scope: '
        "can only list/watch pods with spec.nodeName field selector",
        id="node list all pods",
    ),
    pytest.param(
        _resource(NODE, "watch", "pods", selector="spec.nodeName=n2"),
        'User "system:node:n1" cannot watch resource "pods" in API group "" at the cluster scope: '
        "can only list/watch pods with spec.nodeName field selector",
        id="node watch other node pods",
    ),
    pytest.param(
        _resource(NODE, "list", "pods", selector="spec.nodeName!=n1"),
        'User "system:node:n1" cannot list resource "pods" in API group "" at the cluster scope: '
        "can only list/watch pods with spec.nodeName field selector",
        id="node list pods not equal selector",
    ),
    pytest.param(
        _resource(NODE, "patch", "pods", namespace="default", name="other", subresource="status"),
        'User "system:node:n1" cannot patch resource "pods/status" in API group "" in the namespace "default": '
        "no relationship found between node 'n1' and this object",
        id="node patch foreign pod status",
    ),
    pytest.param(
        _resource(NODE, "create", "pods", namespace="default", name="other", subresource="eviction"),
        'User "system:node:n1" cannot create resource "pods/eviction" in API group "" in the namespace "default": '
        "no relationship found between node 'n1' and this object",
        id="node evict foreign pod",
    ),
    pytest.param(
        _resource(NODE, "create", "pods", namespace="default"),
        'User "system:node:n1" cannot create resource "pods" in API group "" in the namespace "default": '
        "node 'n1' cannot create pods: mirror pods are not supported",
        id="node create pod",
    ),
    pytest.param(
        _resource(NODE, "update", "pods", namespace="default", name="web-1"),
        'User "system:node:n1" cannot update resource "pods" in API group "" in the namespace "default"',
        id="node update pod spec",
    ),
    pytest.param(
        _resource(NODE, "get", "secrets", namespace="default", name="s2"),
        'User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": '
        "no relationship found between node 'n1' and this object",
        id="node get secret of other node",
    ),
    pytest.param(
        _resource(NODE, "list", "secrets", namespace="default"),
        'User "system:node:n1" cannot list resource "secrets" in API group "" in the namespace "default": '
        "No Object name found",
        id="node list secrets",
    ),
    pytest.param(
        _resource(NODE, "list", "configmaps"),
        'User "system:node:n1" cannot list resource "configmaps" in API group "" at the cluster scope: '
        "can only read namespaced object of this type",
        id="node list configmaps everywhere",
    ),
    pytest.param(
        _resource(NODE, "create", "secrets", namespace="default"),
        'User "system:node:n1" cannot create resource "secrets" in API group "" in the namespace "default": '
        "can only read resources of this type",
        id="node create secret",
    ),
    pytest.param(
        _resource(NODE, "list", "persistentvolumes"),
        'User "system:node:n1" cannot list resource "persistentvolumes" in API group "" at the cluster scope: '
        "can only get individual resources of this type",
        id="node list pvs",
    ),
    pytest.param(
        _resource(NODE, "create", "serviceaccounts", namespace="default", name="other-sa", subresource="token"),
        'User "system:node:n1" cannot create resource "serviceaccounts/token" in API group "" '
        "in the namespace \"default\": no relationship found between node 'n1' and this object",
        id="node token for unused sa",
    ),
    pytest.param(
        _resource(NODE, "update", "nodes", name="n2"),
        'User "system:node:n1" cannot update resource "nodes" in API group "" at the cluster scope: '
        "node 'n1' is not allowed to modify node 'n2'",
        id="node update other node",
    ),
    pytest.param(
        _resource(NODE, "patch", "nodes", name="n2", subresource="status"),
        'User "system:node:n1" cannot patch resource "nodes/status" in API group "" at the cluster scope: '
        "node 'n1' is not allowed to modify node 'n2'",
        id="node patch other node status",
    ),
    pytest.param(
        _resource(NODE, "delete", "nodes", name="n1"),
        'User "system:node:n1" cannot delete resource "nodes" in API group "" at the cluster scope',
        id="node delete own node",
    ),
    pytest.param(
        _resource(NODE, "update", "leases", namespace="default", name="n1", group="coordination.k8s.io"),
        'User "system:node:n1" cannot update resource "leases" in API group "coordination.k8s.io" '
        'in the namespace "default": can only access leases in the "kube-node-lease" system namespace',
        id="node lease outside node lease namespace",
    ),
    pytest.param(
        _resource(NODE, "update", "leases", namespace="kube-node-lease", name="n2", group="coordination.k8s.io"),
        'User "system:node:n1" cannot update resource "leases" in API group "coordination.k8s.io" '
        'in the namespace "kube-node-lease": can only access node lease with the same name as the requesting node',
        id="node update other lease",
    ),
    pytest.param(
        _resource(NODE, "list", "leases", namespace="kube-node-lease", group="coordination.k8s.io"),
        'User "system:node:n1" cannot list resource "leases" in API group "coordination.k8s.io" '
        'in the namespace "kube-node-lease": can only get, create, update, patch, or delete a node lease',
        id="node list leases",
    ),
    pytest.param(
        _resource(NODE, "create", "deployments", namespace="default", group="apps"),
        'User "system:node:n1" cannot create resource "deployments" in API group "apps" in the namespace "default"',
        id="node create deployment",
    ),
    pytest.param(
        _resource(NODE, "delete", "services", namespace="default", name="web"),
        'User "system:node:n1" cannot delete resource "services" in API group "" in the namespace "default"',
        id="node delete service",
    ),
    pytest.param(
        _resource(NODE, "delete", "events", namespace="default", name="e1"),
        'User "system:node:n1" cannot delete resource "events" in API group "" in the namespace "default"',
        id="node delete event",
    ),
    pytest.param(
        _resource(NOT_A_NODE, "get", "nodes", name="n1"),
        'User "system:node:n1" cannot get resource "nodes" in API group "" at the cluster scope',
        id="node name without nodes group",
    ),
    pytest.param(
        _resource(NAMELESS_NODE, "get", "nodes", name="n1"),
        'User "system:node:" cannot get resource "nodes" in API group "" at the cluster scope: '
        'unknown node for user "system:node:"',
        id="node user without node name",
    ),
]


@pytest.mark.parametrize(("attributes", "reason"), DENIED)
def test_denied(attributes: RequestAttributes, reason: str) -> None:
    assert authorize(attributes, FakeGraph()) == Decision(False, reason)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        pytest.param(
            _resource(ANONYMOUS, "get", "pods", namespace="default", name="web-1"),
            'pods "web-1" is forbidden: User "system:anonymous" cannot get resource "pods" '
            'in API group "" in the namespace "default"',
            id="named core object",
        ),
        pytest.param(
            _resource(ANONYMOUS, "list", "deployments", namespace="default", group="apps"),
            'deployments.apps is forbidden: User "system:anonymous" cannot list resource "deployments" '
            'in API group "apps" in the namespace "default"',
            id="collection in named group",
        ),
        pytest.param(
            _path(ANONYMOUS, "/api"),
            'forbidden: User "system:anonymous" cannot get path "/api"',
            id="non-resource path",
        ),
    ],
)
def test_forbidden_message(attributes: RequestAttributes, message: str) -> None:
    decision = authorize(attributes, FakeGraph())

    assert forbidden_message(attributes, decision) == message


class Fixed:
    def __init__(self, opinion: Opinion) -> None:
        self.opinion = opinion
        self.calls = 0

    def authorize(self, attributes: RequestAttributes) -> Opinion:
        self.calls += 1
        return self.opinion


def test_chain_deny_stops() -> None:
    later = Fixed(ALLOW)
    chain = AuthorizerChain([Fixed(Opinion(Outcome.DENY, "blocked")), later])

    decision = chain.decide(_path(ALICE, "/x"))

    assert decision == Decision(False, 'User "alice" cannot get path "/x": blocked')
    assert later.calls == 0


def test_chain_joins_reasons() -> None:
    chain = AuthorizerChain([Fixed(no_opinion("first")), Fixed(NO_OPINION), Fixed(no_opinion("second"))])

    decision = chain.decide(_path(ALICE, "/x"))

    assert decision == Decision(False, 'User "alice" cannot get path "/x": first\nsecond')


def test_chain_later_authorizer_allows() -> None:
    chain = AuthorizerChain([Fixed(no_opinion("no")), Fixed(ALLOW)])

    assert chain.decide(_path(ALICE, "/x")) == Decision(True)


def test_chain_empty_denies() -> None:
    assert AuthorizerChain([]).decide(_path(ADMIN, "/x")) == Decision(False, 'User "admin" cannot get path "/x"')
