"""Property tests: the native kernels agree with the pure-Python reference on random clusters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykube_core.scheduler import Profile, Scheduler, ShapePoint, Strategy
from pykube_core.scheduler.framework import PURE_PYTHON_KERNEL
from tests.scheduler.builders import container, host_port, load_kernel, table_of

Object = dict[str, Any]

KEYS = ["zone", "disk", "cores", "team"]
VALUES = ["a", "b", "ssd", "4", "16", "-3", "x"]
EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
IPS = ["", "10.0.0.1", "10.0.0.2", "0.0.0.0"]
IMAGES = ["nginx", "nginx:latest", "redis:7", "busybox"]
OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Bogus"]

labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)
taints = st.lists(
    st.fixed_dictionaries({"key": st.sampled_from(KEYS), "value": st.sampled_from(VALUES), "effect": st.sampled_from(EFFECTS)}),
    max_size=2,
)
quantities = st.sampled_from(["0", "100m", "250m", "1", "2", "3500m"])
memories = st.sampled_from(["0", "128Mi", "1Gi", "3Gi", "8Gi"])


@st.composite
def nodes(draw: st.DrawFn, index: int) -> Object:
    images = draw(st.lists(st.sampled_from(["nginx:latest", "redis:7", "busybox:latest"]), max_size=2, unique=True))
    return {
        "metadata": {"name": f"n{index}", "labels": draw(labels)},
        "spec": {"taints": draw(taints), "unschedulable": draw(st.booleans()) and draw(st.booleans())},
        "status": {
            "allocatable": {
                "cpu": draw(st.sampled_from(["1", "2", "4"])),
                "memory": draw(st.sampled_from(["2Gi", "4Gi", "8Gi"])),
                "pods": draw(st.sampled_from(["0", "3", "110"])),
                **({"example.com/gpu": "2"} if draw(st.booleans()) else {}),
            },
            "images": [{"names": [name], "sizeBytes": draw(st.integers(0, 2**31))} for name in images],
        },
    }


@st.composite
def requirements(draw: st.DrawFn) -> Object:
    operator = draw(st.sampled_from(OPERATORS))
    values = draw(st.lists(st.sampled_from(VALUES), max_size=2))
    return {"key": draw(st.sampled_from(KEYS)), "operator": operator, "values": values}


@st.composite
def affinities(draw: st.DrawFn) -> Object:
    terms = st.fixed_dictionaries({"matchExpressions": st.lists(requirements(), max_size=2)})
    affinity: Object = {}
    if draw(st.booleans()):
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": draw(st.lists(terms, max_size=2))}
    preferred = st.fixed_dictionaries({"weight": st.integers(0, 100), "preference": terms})
    affinity["preferredDuringSchedulingIgnoredDuringExecution"] = draw(st.lists(preferred, max_size=2))
    return {"nodeAffinity": affinity}


@st.composite
def pods(draw: st.DrawFn, index: int) -> Object:
    def make_container(name: str, sidecar: bool) -> Object:
        requests = draw(st.dictionaries(st.sampled_from(["cpu", "memory", "example.com/gpu"]), quantities, max_size=3))
        if "memory" in requests:
            requests["memory"] = draw(memories)
        ports = [host_port(p, ip=draw(st.sampled_from(IPS))) for p in draw(st.lists(st.sampled_from([80, 443]), max_size=1))]
        return container(name, image=draw(st.sampled_from(IMAGES)), requests=requests or None, ports=ports, restart_policy="Always" if sidecar else None)

    apps = [make_container(f"app{i}", False) for i in range(draw(st.integers(1, 2)))]
    inits = [make_container(f"init{i}", draw(st.booleans())) for i in range(draw(st.integers(0, 2)))]
    tolerations = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "key": st.sampled_from(KEYS + [""]),
                    "operator": st.sampled_from(["Equal", "Exists"]),
                    "value": st.sampled_from(VALUES),
                    "effect": st.sampled_from(EFFECTS + [""]),
                }
            ),
            max_size=2,
        )
    )
    spec: Object = {"containers": apps, "initContainers": inits, "tolerations": tolerations, "affinity": draw(affinities())}
    if draw(st.booleans()):
        spec["nodeSelector"] = draw(labels)
    return {"metadata": {"name": f"p{index}", "namespace": "default"}, "spec": spec}


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[Object], list[Object]]:
    node_count = draw(st.integers(1, 8))
    pod_count = draw(st.integers(1, 6))
    return [draw(nodes(i)) for i in range(node_count)], [draw(pods(i)) for i in range(pod_count)]


PROFILES = [
    pytest.param(Profile(), id="least allocated"),
    pytest.param(Profile(strategy=Strategy.MOST_ALLOCATED, fit_resources=(("cpu", 2), ("memory", 1), ("example.com/gpu", 3))), id="most allocated"),
    pytest.param(
        Profile(
            strategy=Strategy.REQUESTED_TO_CAPACITY_RATIO,
            shape=(ShapePoint(0, 10), ShapePoint(40, 3), ShapePoint(100, 7)),
            balanced_resources=("cpu", "memory", "example.com/gpu"),
        ),
        id="ratio",
    ),
]


@pytest.mark.parametrize("profile", PROFILES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster=clusters(), seed=st.integers(0, 2**64 - 1))
def test_kernels_agree(profile: Profile, cluster: tuple[list[Object], list[Object]], seed: int) -> None:
    node_list, pod_list = cluster
    native = Scheduler(table_of(*node_list), kernel=load_kernel("native"), profile=profile, seed=seed)
    reference = Scheduler(table_of(*node_list), kernel=PURE_PYTHON_KERNEL, profile=profile, seed=seed)
    for pod in pod_list:
        native_result = native.schedule_and_assume(pod)
        reference_result = reference.schedule_and_assume(pod)
        for field in ("status", "plugin", "detail", "insufficient"):
            assert np.array_equal(getattr(native_result.filter.arrays, field), getattr(reference_result.filter.arrays, field)), field
        assert native_result.filter.rejected == reference_result.filter.rejected
        assert native_result.scores == reference_result.scores
        assert native_result.totals == reference_result.totals
        assert native_result.node == reference_result.node
        assert native_result.message() == reference_result.message()
