"""Deployment, ReplicaSet, ReplicationController, DaemonSet and Job validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pykube_core.errors import ErrorType
from pykube_control.apiserver.resources import ResourceType, by_kind
from pykube_control.apiserver.validation.registry import apply_defaults, validate_create, validate_update


def served(group: str, kind: str) -> ResourceType:
    """Return the served resource of ``kind``, failing the import when it is not served."""
    resource = by_kind(group, kind)
    assert resource is not None
    return resource


DEPLOYMENT = served("apps", "Deployment")
REPLICA_SET = served("apps", "ReplicaSet")
DAEMON_SET = served("apps", "DaemonSet")
RC = served("", "ReplicationController")
JOB = served("batch", "Job")


def template(restart: str = "Always", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels or {"app": "web"}},
        "spec": {"restartPolicy": restart, "containers": [{"name": "app", "image": "nginx:1.27"}]},
    }


def workload(resource: Any, **spec: Any) -> dict[str, Any]:
    """Build a defaulted object of ``resource`` selecting app=web, with ``spec`` members replaced."""
    body: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}}, "template": template()}
    if resource is RC:
        body["selector"] = {"app": "web"}
    body.update(spec)
    obj = {"metadata": {"name": "web", "namespace": "default", "uid": "uid-1"}, "spec": body}
    apply_defaults(resource, obj)
    return obj


def job(**spec: Any) -> dict[str, Any]:
    body = {"template": template("Never"), **spec}
    obj = {"metadata": {"name": "pi", "namespace": "default", "uid": "uid-1"}, "spec": body}
    apply_defaults(JOB, obj)
    return obj


def pairs(errors: list[Any]) -> list[tuple[str, ErrorType]]:
    return [(error.field, error.error_type) for error in errors]


@pytest.mark.parametrize("resource", [DEPLOYMENT, REPLICA_SET, DAEMON_SET, RC], ids=lambda r: r.kind)
def test_workload_valid_passes(resource: Any) -> None:
    assert validate_create(resource, workload(resource)) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"selector": None}, [("spec.selector", ErrorType.REQUIRED)], id="selector missing"),
        pytest.param({"selector": {}}, [("spec.selector", ErrorType.INVALID)], id="selector empty"),
        pytest.param(
            {"selector": {"matchLabels": {"app": "db"}}},
            [("spec.template.metadata.labels", ErrorType.INVALID)],
            id="selector mismatch",
        ),
        pytest.param({"replicas": -1}, [("spec.replicas", ErrorType.INVALID)], id="negative replicas"),
        pytest.param(
            {"template": template("OnFailure")},
            [("spec.template.spec.restartPolicy", ErrorType.NOT_SUPPORTED)],
            id="restartPolicy not Always",
        ),
        pytest.param(
            {"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}},
            [("spec.strategy.rollingUpdate", ErrorType.FORBIDDEN)],
            id="recreate with rollingUpdate",
        ),
        pytest.param(
            {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}},
            [("spec.strategy.rollingUpdate.maxUnavailable", ErrorType.INVALID)],
            id="both budgets zero",
        ),
        pytest.param(
            {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "x", "maxUnavailable": 1}}},
            [("spec.strategy.rollingUpdate.maxSurge", ErrorType.INVALID)],
            id="budget not percent",
        ),
        pytest.param(
            {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "150%"}}},
            [("spec.strategy.rollingUpdate.maxUnavailable", ErrorType.INVALID)],
            id="budget above 100 percent",
        ),
        pytest.param({"strategy": {"type": "BlueGreen"}}, [("spec.strategy.type", ErrorType.NOT_SUPPORTED)], id="strategy type"),
        pytest.param(
            {"minReadySeconds": 700},
            [("spec.progressDeadlineSeconds", ErrorType.INVALID)],
            id="deadline below minReady",
        ),
    ],
)
def test_deployment_invalid(spec: dict[str, Any], expected: list[tuple[str, ErrorType]]) -> None:
    assert pairs(validate_create(DEPLOYMENT, workload(DEPLOYMENT, **spec))) == expected


def test_selector_mismatch_message() -> None:
    errors = validate_create(DEPLOYMENT, workload(DEPLOYMENT, selector={"matchLabels": {"app": "db"}}))
    assert str(errors[0]) == 'spec.template.metadata.labels: Invalid value: {"app": "web"}: `selector` does not match template `labels`'


@pytest.mark.parametrize("resource", [DEPLOYMENT, REPLICA_SET, DAEMON_SET], ids=lambda r: r.kind)
def test_selector_immutable(resource: Any) -> None:
    old = workload(resource)
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchLabels"]["tier"] = "front"
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    errors = validate_update(resource, new, old)
    assert pairs(errors) == [("spec.selector", ErrorType.INVALID)]
    assert errors[0].detail == "field is immutable"


def test_replication_controller_selector_mutable() -> None:
    old = workload(RC)
    new = copy.deepcopy(old)
    new["spec"]["selector"]["tier"] = "front"
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    assert validate_update(RC, new, old) == []


def test_replication_controller_mismatch() -> None:
    obj = workload(RC, selector={"app": "db"})
    assert pairs(validate_create(RC, obj)) == [("spec.template.metadata.labels", ErrorType.INVALID)]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param({"type": "OnDelete"}, [], id="on delete"),
        pytest.param(
            {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}},
            [("spec.updateStrategy.rollingUpdate.maxSurge", ErrorType.INVALID)],
            id="surge and unavailable",
        ),
        pytest.param(
            {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}},
            [("spec.updateStrategy.rollingUpdate.maxUnavailable", ErrorType.REQUIRED)],
            id="both zero",
        ),
        pytest.param({"type": "Sideways"}, [("spec.updateStrategy.type", ErrorType.NOT_SUPPORTED)], id="type"),
    ],
)
def test_daemon_set_strategy(strategy: dict[str, Any], expected: list[tuple[str, ErrorType]]) -> None:
    assert pairs(validate_create(DAEMON_SET, workload(DAEMON_SET, updateStrategy=strategy))) == expected


# --- Job ---


def test_job_valid_passes() -> None:
    assert validate_create(JOB, job()) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"template": template("Always")}, [("spec.template.spec.restartPolicy", ErrorType.NOT_SUPPORTED)], id="restart Always"),
        pytest.param({"parallelism": -1}, [("spec.parallelism", ErrorType.INVALID)], id="negative parallelism"),
        pytest.param({"backoffLimit": -1}, [("spec.backoffLimit", ErrorType.INVALID)], id="negative backoff"),
        pytest.param({"completionMode": "Ordered"}, [("spec.completionMode", ErrorType.NOT_SUPPORTED)], id="completion mode"),
        pytest.param(
            {"selector": {"matchLabels": {"app": "web"}}},
            [("spec.selector", ErrorType.INVALID)],
            id="selector without manualSelector",
        ),
    ],
)
def test_job_invalid(spec: dict[str, Any], expected: list[tuple[str, ErrorType]]) -> None:
    assert pairs(validate_create(JOB, job(**spec))) == expected


def test_job_manual_selector_passes() -> None:
    obj = job(manualSelector=True, selector={"matchLabels": {"app": "web"}})
    assert validate_create(JOB, obj) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("selector", {"matchLabels": {"app": "web"}}, id="selector"),
        pytest.param("completions", 5, id="completions"),
        pytest.param("completionMode", "Indexed", id="completionMode"),
    ],
)
def test_job_update_immutable(field: str, value: Any) -> None:
    old = job()
    new = copy.deepcopy(old)
    new["spec"][field] = value
    errors = validate_update(JOB, new, old)
    immutable = [error.field for error in errors if error.detail == "field is immutable"]
    assert immutable == [f"spec.{field}"]


def test_job_template_immutable() -> None:
    old = job()
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    assert pairs(validate_update(JOB, new, old)) == [("spec.template", ErrorType.INVALID)]


def test_job_parallelism_mutable() -> None:
    old = job()
    new = copy.deepcopy(old)
    new["spec"]["parallelism"] = 3
    assert validate_update(JOB, new, old) == []
