"""Property test: no defaulter or validator raises, whatever JSON it is given.

Random JSON alone rarely reaches deep fields, so a second strategy grafts
random JSON into a valid object of each kind at a random path.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykube_control.apiserver.resources import RESOURCES, ResourceType
from pykube_control.apiserver.validation.registry import (
    apply_defaults,
    validate_create,
    validate_status_update,
    validate_update,
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "a", "None", "Always", "TCP", "1Gi", "-1", "25%", "10.0.0.1", "a/b", "*.x.io", "/"]),
)
KEYS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        [
            "metadata", "spec", "status", "name", "namespace", "labels", "containers", "image", "ports",
            "selector", "template", "matchLabels", "resources", "limits", "requests", "type", "volumes",
            "data", "rules", "http", "paths", "backend", "service", "port", "strategy", "rollingUpdate",
        ]
    ),
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=25,
)

SEEDS: dict[str, dict[str, Any]] = {
    "Pod": {"spec": {"containers": [{"name": "a", "image": "b", "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}], "resources": {"limits": {"cpu": "1"}}, "livenessProbe": {"httpGet": {"port": 80}}, "volumeMounts": [{"name": "v", "mountPath": "/v"}]}], "volumes": [{"name": "v", "configMap": {"name": "c"}}], "tolerations": [{"key": "k", "operator": "Exists"}], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}]}}}}},
    "Deployment": {"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "a", "image": "b"}]}}}},
    "Job": {"spec": {"template": {"metadata": {"labels": {"app": "a"}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "a", "image": "b"}]}}}},
    "Service": {"spec": {"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 30000}, {"name": "b", "port": 81}], "selector": {"app": "a"}}},
    "Ingress": {"spec": {"rules": [{"host": "a.io", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "a", "port": {"number": 80}}}}]}}]}},
    "LimitRange": {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "1"}, "maxLimitRequestRatio": {"cpu": "2"}}]}},
    "Secret": {"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}, "stringData": {"a": "b"}},
    "EndpointSlice": {"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]},
    "Event": {"eventTime": "2025-01-01T00:00:00Z", "series": {"count": 2}, "regarding": {"namespace": "a"}},
}  # fmt: skip


def seed(resource: ResourceType) -> dict[str, Any]:
    obj = copy.deepcopy(SEEDS.get(resource.kind, {"spec": {}}))
    obj["metadata"] = {"name": "x", "namespace": "default", "uid": "u", "labels": {"app": "a"}}
    return obj


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return every path to a member of nested dicts and lists."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths(child, (*prefix, index)))
    return found


def graft(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def exercise(resource: ResourceType, obj: Any, old: Any) -> None:
    apply_defaults(resource, obj)
    validate_create(resource, obj)
    validate_update(resource, obj, old)
    validate_status_update(resource, obj, old)
    validate_update(resource, old, obj)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(resource=st.sampled_from(RESOURCES), obj=st.dictionaries(KEYS, JSON, max_size=6), old=JSON)
def test_random_objects_never_raise(resource: ResourceType, obj: dict[str, Any], old: Any) -> None:
    exercise(resource, obj, old)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(resource=st.sampled_from(RESOURCES), data=st.data(), value=JSON)
def test_grafted_objects_never_raise(resource: ResourceType, data: st.DataObject, value: Any) -> None:
    obj = seed(resource)
    apply_defaults(resource, obj)
    path = data.draw(st.sampled_from(paths(obj)))
    mutated = copy.deepcopy(obj)
    graft(mutated, path, value)
    exercise(resource, mutated, obj)
