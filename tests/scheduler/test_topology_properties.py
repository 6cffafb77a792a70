"""Property tests: the kernels agree on PodTopologySpread and InterPodAffinity on random clusters."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykube_core.scheduler import NodeTable, Profile, Scheduler
from pykube_core.scheduler.framework import PURE_PYTHON_KERNEL
from tests.scheduler.builders import HOSTNAME, ZONE, load_kernel

Object = dict[str, Any]

TOPOLOGY_KEYS = [ZONE, HOSTNAME, "rack"]
APPS = ["web", "db", "api"]
TIERS = ["front", "back"]
NAMESPACES = ["default", "data"]

label_sets = st.fixed_dictionaries(
    {},
    optional={"app": st.sampled_from(APPS), "tier": st.sampled_from(TIERS), "version": st.sampled_from(["v1", "v2"])},
)


@st.composite
def nodes(draw: st.DrawFn, index: int) -> Object:
    name = f"n{index}"
    labels = {HOSTNAME: name}
    if draw(st.integers(0, 5)) > 0:
        labels[ZONE] = draw(st.sampled_from(["a", "b", "c"]))
    if draw(st.booleans()):
        labels["rack"] = draw(st.sampled_from(["r1", "r2"]))
    taints = [{"key": "dedicated", "value": "", "effect": "NoSchedule"}] if draw(st.integers(0, 4)) == 0 else []
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": draw(st.sampled_from(["3", "110"]))}},
    }


@st.composite
def selectors(draw: st.DrawFn) -> Object | None:
    choice = draw(st.integers(0, 6))
    if choice == 0:
        return None
    if choice == 1:
        return {}
    expressions = []
    for _ in range(draw(st.integers(0, 2))):
        operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Bogus"]))
        values = draw(st.lists(st.sampled_from(APPS + TIERS + ["zzz"]), max_size=2))
        expressions.append({"key": draw(st.sampled_from(["app", "tier", "missing"])), "operator": operator, "values": values})
    return {"matchLabels": draw(st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(APPS + TIERS), max_size=1)), "matchExpressions": expressions}


@st.composite
def affinity_terms(draw: st.DrawFn) -> Object:
    term: Object = {"topologyKey": draw(st.sampled_from(TOPOLOGY_KEYS))}
    label_selector = draw(selectors())
    if label_selector is not None:
        term["labelSelector"] = label_selector
    namespaces = draw(st.integers(0, 3))
    if namespaces == 1:
        term["namespaces"] = draw(st.lists(st.sampled_from(NAMESPACES), min_size=1, max_size=2))
    elif namespaces == 2:
        term["namespaceSelector"] = {}
    return term


@st.composite
def pod_affinities(draw: st.DrawFn) -> Object:
    def section() -> Object:
        built: Object = {}
        required = draw(st.lists(affinity_terms(), max_size=1))
        if required:
            built["requiredDuringSchedulingIgnoredDuringExecution"] = required
        preferred = draw(st.lists(st.fixed_dictionaries({"weight": st.integers(1, 100), "podAffinityTerm": affinity_terms()}), max_size=2))
        if preferred:
            built["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
        return built

    return {"podAffinity": section(), "podAntiAffinity": section()}


@st.composite
def spread_constraints(draw: st.DrawFn) -> list[Object]:
    constraints = []
    keys = draw(st.lists(st.sampled_from(TOPOLOGY_KEYS), max_size=2, unique=True))
    for key in keys:
        constraint: Object = {
            "topologyKey": key,
            "maxSkew": draw(st.integers(1, 3)),
            "whenUnsatisfiable": draw(st.sampled_from(["DoNotSchedule", "ScheduleAnyway"])),
        }
        label_selector = draw(selectors())
        if label_selector is not None:
            constraint["labelSelector"] = label_selector
        if constraint["whenUnsatisfiable"] == "DoNotSchedule" and draw(st.booleans()):
            constraint["minDomains"] = draw(st.integers(1, 4))
        if draw(st.booleans()):
            constraint["matchLabelKeys"] = ["version"]
        constraint["nodeAffinityPolicy"] = draw(st.sampled_from(["Honor", "Ignore"]))
        constraint["nodeTaintsPolicy"] = draw(st.sampled_from(["Honor", "Ignore"]))
        constraints.append(constraint)
    return constraints


@st.composite
def pods(draw: st.DrawFn, index: int) -> Object:
    metadata: Object = {"name": f"p{index}", "namespace": draw(st.sampled_from(NAMESPACES)), "labels": draw(label_sets)}
    if draw(st.integers(0, 7)) == 0:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: Object = {"containers": [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "100m"}}}]}
    if draw(st.booleans()):
        spec["affinity"] = draw(pod_affinities())
    if draw(st.booleans()):
        spec["topologySpreadConstraints"] = draw(spread_constraints())
    if draw(st.integers(0, 3)) == 0:
        spec["nodeSelector"] = {ZONE: draw(st.sampled_from(["a", "b"]))}
    if draw(st.booleans()):
        spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    return {"metadata": metadata, "spec": spec}


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[Object], list[Object], list[bool]]:
    node_list = [draw(nodes(i)) for i in range(draw(st.integers(1, 7)))]
    pod_list = [draw(pods(i)) for i in range(draw(st.integers(1, 10)))]
    removals = [draw(st.integers(0, 4)) == 0 for _ in pod_list]
    return node_list, pod_list, removals


def resolve(namespace_selector: Any) -> list[str]:
    return ["data"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster=clusters(), seed=st.integers(0, 2**64 - 1), defaults=st.sampled_from([None, [{"matchLabels": {"app": "web"}}], [{}]]))
def test_topology_kernels_agree(cluster: tuple[list[Object], list[Object], list[bool]], seed: int, defaults: list[Object] | None) -> None:
    node_list, pod_list, removals = cluster
    schedulers = []
    for kernel in (load_kernel("native"), PURE_PYTHON_KERNEL):
        table = NodeTable(namespace_resolver=resolve)
        for node in node_list:
            table.add_node(node)
        schedulers.append(Scheduler(table, kernel=kernel, profile=Profile(), seed=seed))
    native, reference = schedulers
    for pod, remove in zip(pod_list, removals):
        native_result = native.schedule_and_assume(pod, spread_selectors=defaults)
        reference_result = reference.schedule_and_assume(pod, spread_selectors=defaults)
        for field in ("status", "plugin", "detail"):
            assert np.array_equal(getattr(native_result.filter.arrays, field), getattr(reference_result.filter.arrays, field)), field
        assert native_result.filter.rejected == reference_result.filter.rejected
        assert native_result.scores == reference_result.scores
        assert native_result.totals == reference_result.totals
        assert native_result.node == reference_result.node
        if remove:
            native.table.remove_pod(pod)
            reference.table.remove_pod(pod)
