"""Conversion of removed API versions to the served ones."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pykube_control.apiserver.conversion import (
    DEPRECATED_KINDS,
    MAX_INT32,
    TEMPLATE_GENERATION_ANNOTATION,
    convert_to_current,
    deprecated_kind,
    is_deprecated_version,
)
from pykube_control.apiserver.resources import by_kind

JSON = dict[str, Any]


def workload(api_version: str, kind: str, **spec: Any) -> JSON:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
            **spec,
        },
    }


def ingress(api_version: str, **spec: Any) -> JSON:
    return {"apiVersion": api_version, "kind": "Ingress", "metadata": {"name": "web"}, "spec": spec}


def converted(obj: JSON) -> JSON:
    result, warning = convert_to_current(obj)
    assert warning is not None
    return result


# --- the table and the warnings ------------------------------------------------


@pytest.mark.parametrize(
    ("group_version", "kind", "warning"),
    [
        pytest.param(
            "apps/v1beta1", "Deployment",
            "apps/v1beta1 Deployment is deprecated in v1.8+, unavailable in v1.16+; use apps/v1 Deployment",
            id="apps v1beta1 deployment",
        ),
        pytest.param(
            "apps/v1beta2", "DaemonSet",
            "apps/v1beta2 DaemonSet is deprecated in v1.9+, unavailable in v1.16+; use apps/v1 DaemonSet",
            id="apps v1beta2 daemonset",
        ),
        pytest.param(
            "extensions/v1beta1", "ReplicaSet",
            "extensions/v1beta1 ReplicaSet is deprecated in v1.8+, unavailable in v1.16+; use apps/v1 ReplicaSet",
            id="extensions replicaset",
        ),
        pytest.param(
            "extensions/v1beta1", "Ingress",
            "extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; "
            "use networking.k8s.io/v1 Ingress",
            id="extensions ingress",
        ),
        pytest.param(
            "networking.k8s.io/v1beta1", "Ingress",
            "networking.k8s.io/v1beta1 Ingress is deprecated in v1.19+, unavailable in v1.22+; "
            "use networking.k8s.io/v1 Ingress",
            id="networking v1beta1 ingress",
        ),
    ],
)
def test_conversion_warning(group_version: str, kind: str, warning: str) -> None:
    _, sent = convert_to_current({"apiVersion": group_version, "kind": kind, "spec": {}})
    assert sent == warning


@pytest.mark.parametrize("entry", [pytest.param(entry, id=f"{entry.group_version} {entry.kind}") for entry in DEPRECATED_KINDS])
def test_conversion_target_served(entry: Any) -> None:
    group = entry.replacement.rpartition("/")[0]
    served = by_kind(group, entry.kind)

    assert served is not None
    assert served.group_version == entry.replacement
    assert served.plural == entry.plural


@pytest.mark.parametrize(
    ("group_version", "kind", "expected"),
    [
        pytest.param("apps/v1beta1", "Deployment", True, id="apps v1beta1 deployment"),
        pytest.param("apps/v1beta2", "ReplicaSet", True, id="apps v1beta2 replicaset"),
        pytest.param("extensions/v1beta1", "DaemonSet", True, id="extensions daemonset"),
        pytest.param("networking.k8s.io/v1beta1", "Ingress", True, id="networking v1beta1 ingress"),
        pytest.param("apps/v1", "Deployment", False, id="current deployment"),
        pytest.param("networking.k8s.io/v1", "Ingress", False, id="current ingress"),
        pytest.param("apps/v1beta1", "StatefulSet", False, id="unserved kind"),
        pytest.param("extensions/v1beta1", "NetworkPolicy", False, id="extensions network policy"),
    ],
)
def test_is_deprecated_version(group_version: str, kind: str, expected: bool) -> None:
    assert is_deprecated_version(group_version, kind) is expected


def test_deprecated_kind_lookup() -> None:
    entry = deprecated_kind("extensions/v1beta1", "Deployment")

    assert entry is not None
    assert entry.plural == "deployments"
    assert deprecated_kind("apps/v1", "Deployment") is None


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(workload("apps/v1", "Deployment"), id="current version"),
        pytest.param({"kind": "Deployment"}, id="no apiVersion"),
        pytest.param({"apiVersion": "apps/v1beta1"}, id="no kind"),
        pytest.param({"apiVersion": "apps/v1beta1", "kind": "StatefulSet"}, id="unknown old kind"),
    ],
)
def test_conversion_passthrough(obj: JSON) -> None:
    result, warning = convert_to_current(obj)

    assert result is obj
    assert warning is None


@pytest.mark.parametrize("entry", [pytest.param(entry, id=f"{entry.group_version} {entry.kind}") for entry in DEPRECATED_KINDS])
def test_conversion_input_unchanged(entry: Any) -> None:
    obj = workload(entry.group_version, entry.kind, rollbackTo={"revision": 1}, templateGeneration=3)
    obj["spec"]["backend"] = {"serviceName": "web", "servicePort": 80}
    before = copy.deepcopy(obj)

    result, _ = convert_to_current(obj)

    assert obj == before
    assert result["apiVersion"] == entry.replacement


# --- Deployments -----------------------------------------------------------------


def test_apps_v1beta1_deployment_defaults() -> None:
    result = converted(workload("apps/v1beta1", "Deployment", rollbackTo={"revision": 2}))

    assert result["apiVersion"] == "apps/v1"
    assert result["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert result["metadata"]["labels"] == {"app": "web"}
    assert result["spec"]["revisionHistoryLimit"] == 2
    assert "rollbackTo" not in result["spec"]
    assert "strategy" not in result["spec"]


def test_apps_v1beta1_deployment_explicit() -> None:
    obj = workload(
        "apps/v1beta1", "Deployment", selector={"matchLabels": {"tier": "x"}}, revisionHistoryLimit=5
    )
    obj["metadata"]["labels"] = {"team": "a"}

    result = converted(obj)

    assert result["spec"]["selector"] == {"matchLabels": {"tier": "x"}}
    assert result["metadata"]["labels"] == {"team": "a"}
    assert result["spec"]["revisionHistoryLimit"] == 5


def test_extensions_deployment_defaults() -> None:
    result = converted(workload("extensions/v1beta1", "Deployment"))

    assert result["apiVersion"] == "apps/v1"
    assert result["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert result["spec"]["revisionHistoryLimit"] == MAX_INT32
    assert result["spec"]["progressDeadlineSeconds"] == MAX_INT32
    assert result["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1},
    }


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param({"type": "Recreate"}, {"type": "Recreate"}, id="recreate"),
        pytest.param(
            {"rollingUpdate": {"maxSurge": "50%"}},
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 1}},
            id="partial rolling update",
        ),
    ],
)
def test_extensions_deployment_strategy(strategy: JSON, expected: JSON) -> None:
    result = converted(workload("extensions/v1beta1", "Deployment", strategy=strategy))

    assert result["spec"]["strategy"] == expected


def test_apps_v1beta2_deployment_same() -> None:
    obj = workload("apps/v1beta2", "Deployment", selector={"matchLabels": {"app": "web"}})

    result = converted(obj)

    expected = copy.deepcopy(obj)
    expected["apiVersion"] = "apps/v1"
    assert result == expected


def test_apps_v1beta2_no_selector_default() -> None:
    # apps/v1beta2 already required the selector, so none is made up.
    result = converted(workload("apps/v1beta2", "ReplicaSet"))

    assert "selector" not in result["spec"]


# --- ReplicaSets and DaemonSets ------------------------------------------------------


def test_extensions_replica_set() -> None:
    result = converted(workload("extensions/v1beta1", "ReplicaSet", replicas=3))

    assert result["apiVersion"] == "apps/v1"
    assert result["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert result["spec"]["replicas"] == 3


def test_extensions_daemon_set_defaults() -> None:
    result = converted(workload("extensions/v1beta1", "DaemonSet", templateGeneration=4))

    assert result["apiVersion"] == "apps/v1"
    assert result["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert "templateGeneration" not in result["spec"]
    assert result["metadata"]["annotations"] == {TEMPLATE_GENERATION_ANNOTATION: "4"}


def test_extensions_daemon_set_rolling() -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}

    result = converted(workload("extensions/v1beta1", "DaemonSet", updateStrategy=strategy))

    assert result["spec"]["updateStrategy"] == strategy
    assert "annotations" not in result["metadata"]


# --- Ingress -----------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", ["extensions/v1beta1", "networking.k8s.io/v1beta1"])
def test_ingress_rules(api_version: str) -> None:
    obj = ingress(
        api_version,
        ingressClassName="nginx",
        rules=[
            {
                "host": "example.test",
                "http": {
                    "paths": [
                        {"path": "/", "backend": {"serviceName": "web", "servicePort": 80}},
                        {"path": "/api", "pathType": "Prefix", "backend": {"serviceName": "api", "servicePort": "http"}},
                    ]
                },
            }
        ],
    )

    result = converted(obj)

    assert result["apiVersion"] == "networking.k8s.io/v1"
    assert result["spec"]["ingressClassName"] == "nginx"
    assert result["spec"]["rules"][0]["http"]["paths"] == [
        {"path": "/", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
        {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"name": "http"}}}},
    ]


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        pytest.param(
            {"serviceName": "web", "servicePort": 8080},
            {"service": {"name": "web", "port": {"number": 8080}}},
            id="port number",
        ),
        pytest.param(
            {"serviceName": "web", "servicePort": "8080"},
            {"service": {"name": "web", "port": {"name": "8080"}}},
            id="digits as string are a name",
        ),
        pytest.param(
            {"resource": {"apiGroup": "x.test", "kind": "Bucket", "name": "b"}},
            {"resource": {"apiGroup": "x.test", "kind": "Bucket", "name": "b"}},
            id="resource backend",
        ),
    ],
)
def test_ingress_default_backend(backend: JSON, expected: JSON) -> None:
    result = converted(ingress("extensions/v1beta1", backend=backend))

    assert "backend" not in result["spec"]
    assert result["spec"]["defaultBackend"] == expected


def test_ingress_tls_kept() -> None:
    tls = [{"hosts": ["example.test"], "secretName": "cert"}]

    result = converted(ingress("networking.k8s.io/v1beta1", tls=tls))

    assert result["spec"] == {"tls": tls}
