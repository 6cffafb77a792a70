"""Workload defaults: a whole Deployment, and the defaults of ReplicaSet, RC, DaemonSet and Job."""

from __future__ import annotations

from typing import Any

from pykube_control.apiserver.resources import ResourceType, by_kind
from pykube_control.apiserver.validation.registry import apply_defaults


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

DEFAULTED_POD_SPEC = {
    "containers": [
        {
            "name": "app",
            "image": "nginx:1.27",
            "imagePullPolicy": "IfNotPresent",
            "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
    ],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "securityContext": {},
    "schedulerName": "default-scheduler",
}


def template(**labels: str) -> dict[str, Any]:
    return {"metadata": {"labels": labels or {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}


def test_deployment_defaults_whole() -> None:
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()},
    }
    apply_defaults(DEPLOYMENT, deployment)
    assert deployment == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": DEFAULTED_POD_SPEC},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
    }


def test_recreate_gets_no_rolling_update() -> None:
    deployment: dict[str, Any] = {"spec": {"strategy": {"type": "Recreate"}, "template": template()}}
    apply_defaults(DEPLOYMENT, deployment)
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_template_pods_skip_pod_only_defaults() -> None:
    deployment: dict[str, Any] = {"spec": {"template": template()}}
    apply_defaults(DEPLOYMENT, deployment)
    assert "tolerations" not in deployment["spec"]["template"]["spec"]
    assert "enableServiceLinks" not in deployment["spec"]["template"]["spec"]


def test_replica_set_defaults() -> None:
    replica_set: dict[str, Any] = {"spec": {"template": template()}}
    apply_defaults(REPLICA_SET, replica_set)
    assert replica_set["spec"]["replicas"] == 1
    assert replica_set["spec"]["template"]["spec"] == DEFAULTED_POD_SPEC


def test_replication_controller_defaults() -> None:
    controller: dict[str, Any] = {"metadata": {"name": "web"}, "spec": {"template": template(app="web", tier="front")}}
    apply_defaults(RC, controller)
    assert controller["spec"]["selector"] == {"app": "web", "tier": "front"}
    assert controller["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert controller["spec"]["replicas"] == 1


def test_daemon_set_defaults() -> None:
    daemon_set: dict[str, Any] = {"spec": {"template": template()}}
    apply_defaults(DAEMON_SET, daemon_set)
    spec = daemon_set["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["revisionHistoryLimit"] == 10


def test_job_defaults_whole() -> None:
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "uid": "0b8f-uid"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "pi"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": "nginx:1.27"}]},
            }
        },
    }
    apply_defaults(JOB, job)
    labels = {
        "app": "pi",
        "job-name": "pi",
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": "0b8f-uid",
        "batch.kubernetes.io/controller-uid": "0b8f-uid",
    }
    assert job == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "uid": "0b8f-uid", "labels": labels},
        "spec": {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": 6,
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "0b8f-uid"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {**DEFAULTED_POD_SPEC, "restartPolicy": "Never"},
            },
        },
    }


def test_job_parallelism_only() -> None:
    job: dict[str, Any] = {"metadata": {"name": "pi", "uid": "u"}, "spec": {"parallelism": 3, "template": template()}}
    apply_defaults(JOB, job)
    assert "completions" not in job["spec"]


def test_job_manual_selector_kept() -> None:
    selector = {"matchLabels": {"app": "web"}}
    job: dict[str, Any] = {
        "metadata": {"name": "pi", "uid": "u"},
        "spec": {"manualSelector": True, "selector": dict(selector), "template": template()},
    }
    apply_defaults(JOB, job)
    assert job["spec"]["selector"] == selector
    assert job["spec"]["template"]["metadata"]["labels"] == {"app": "web"}


def test_job_without_template_labels_keeps_object_labels_empty() -> None:
    job: dict[str, Any] = {
        "metadata": {"name": "pi", "uid": "u"},
        "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}},
    }
    apply_defaults(JOB, job)
    assert "labels" not in job["metadata"]
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "pi"
