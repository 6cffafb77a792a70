"""Strategic merge patch compared with kubectl's own implementation.

``kubectl patch --local`` applies a strategic merge patch on the client
with Kubernetes' Go code (apimachinery strategicpatch), without a cluster.
Each case here runs both and compares the results, so list order and
directive handling are checked against the real thing. Kubernetes keeps
nulls that the patch adds and drops them only when it decodes the object,
so nulls are removed from kubectl's output before comparing.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from typing import Any

import orjson
import pytest

from pykube_control.apiserver.patch import STRATEGIC_MERGE_PATCH, apply_patch
from pykube_control.apiserver.resources import ResourceType, by_kind

JSON = dict[str, Any]

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl on PATH")


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def kubectl_patch(tmp_path: pathlib.Path, original: JSON, patch: JSON) -> JSON:
    assert KUBECTL is not None
    manifest = tmp_path / "object.json"
    manifest.write_bytes(orjson.dumps(original))
    completed = subprocess.run(
        [KUBECTL, "patch", "--local", "-f", str(manifest), "--type", "strategic", "-o", "json", "-p", orjson.dumps(patch)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    result: JSON = orjson.loads(completed.stdout)
    return result


def served(group: str, kind: str) -> ResourceType:
    found = by_kind(group, kind)
    assert found is not None
    return found


def pod(spec: JSON, **metadata: Any) -> JSON:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", **metadata}, "spec": spec}


def deployment(pod_spec: JSON) -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec},
        },
    }


THREE = {
    "containers": [
        {"name": "a", "image": "1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "b", "image": "2", "ports": [{"containerPort": 80}, {"containerPort": 443}]},
        {"name": "c", "image": "3"},
    ],
    "volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}],
    "tolerations": [{"key": "k", "operator": "Exists"}],
}

CASES = [
    pytest.param(pod(THREE), {"spec": {"containers": [{"name": "new", "image": "x"}]}}, id="new container"),
    pytest.param(
        pod(THREE), {"spec": {"containers": [{"name": "c", "image": "9"}, {"name": "new", "image": "x"}]}},
        id="new after existing",
    ),
    pytest.param(
        pod(THREE), {"spec": {"containers": [{"name": "new", "image": "x"}, {"name": "a", "image": "9"}]}},
        id="new before existing",
    ),
    pytest.param(pod(THREE), {"spec": {"containers": [{"$patch": "delete", "name": "b"}]}}, id="delete container"),
    pytest.param(
        pod(THREE), {"spec": {"containers": [{"$patch": "replace"}, {"name": "z", "image": "z"}]}}, id="replace list"
    ),
    pytest.param(
        pod(THREE),
        {"spec": {"containers": [{"name": "a", "env": [{"name": "C", "value": "3"}, {"name": "A", "value": "0"}]}]}},
        id="env merge",
    ),
    pytest.param(
        pod(THREE),
        {"spec": {"containers": [{"name": "b", "ports": [{"containerPort": 8080}, {"containerPort": 80, "name": "h"}]}]}},
        id="ports merge",
    ),
    pytest.param(
        pod(THREE),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "new"}],
                "containers": [{"name": "a", "image": "9"}, {"name": "new", "image": "4"}],
            }
        },
        id="set element order",
    ),
    pytest.param(
        pod(THREE),
        {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}},
        id="order without list",
    ),
    pytest.param(
        pod(THREE),
        {"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "w", "configMap": {"name": "cfg"}}]}},
        id="volume retain keys",
    ),
    pytest.param(pod(THREE), {"spec": {"tolerations": [{"key": "x", "operator": "Exists"}]}}, id="tolerations replaced"),
    pytest.param(
        pod(THREE, finalizers=["a", "b", "c"]),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["d"]}},
        id="finalizers",
    ),
    pytest.param(
        pod(THREE, finalizers=["a", "b", "c"]),
        {"metadata": {"$setElementOrder/finalizers": ["c", "d", "a"], "finalizers": ["d"]}},
        id="finalizers order",
    ),
    pytest.param(
        pod(THREE, labels={"app": "web", "tier": "x"}),
        {"metadata": {"labels": {"tier": None, "env": "prod"}}, "spec": {"hostname": "h"}},
        id="labels and scalar",
    ),
    pytest.param(
        deployment(THREE),
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}},
        id="deployment strategy",
    ),
    pytest.param(
        deployment(THREE),
        {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
                        "containers": [{"name": "a", "image": "new"}, {"$patch": "delete", "name": "b"}],
                    }
                }
            }
        },
        id="deployment apply",
    ),
    pytest.param(
        deployment(THREE),
        {"spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": "x", "tty": None}]}}}},
        id="deployment new list",
    ),
]


@pytest.mark.parametrize(("original", "patch"), CASES)
def test_patch_matches_kubectl(tmp_path: pathlib.Path, original: JSON, patch: JSON) -> None:
    group, _, _ = original["apiVersion"].rpartition("/")
    kind = served(group, original["kind"])

    ours = apply_patch(STRATEGIC_MERGE_PATCH, original, orjson.dumps(patch), kind)

    assert ours == without_nulls(kubectl_patch(tmp_path, original, patch))
