"""Builders of Kubernetes Node and Pod JSON for the scheduler tests."""

from __future__ import annotations

from typing import Any

import pytest

from pykube_core.scheduler import NodeTable, Scheduler, SchedulerKernel
from pykube_core.scheduler.framework import PURE_PYTHON_KERNEL, Profile, native_kernel

Object = dict[str, Any]


def make_node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    extra: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    taints: list[Object] | None = None,
    unschedulable: bool = False,
    images: list[tuple[list[str], int]] | None = None,
) -> Object:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {
            "allocatable": allocatable,
            "images": [{"names": names, "sizeBytes": size} for names, size in images or []],
        },
    }


def container(
    name: str = "app",
    *,
    image: str = "nginx",
    requests: dict[str, str] | None = None,
    ports: list[Object] | None = None,
    restart_policy: str | None = None,
) -> Object:
    built: Object = {"name": name, "image": image}
    if requests is not None:
        built["resources"] = {"requests": requests}
    if ports:
        built["ports"] = ports
    if restart_policy:
        built["restartPolicy"] = restart_policy
    return built


def make_pod(
    name: str = "pod",
    *,
    cpu: str | None = None,
    memory: str | None = None,
    containers: list[Object] | None = None,
    init_containers: list[Object] | None = None,
    **spec: Any,
) -> Object:
    if containers is None:
        requests = {}
        if cpu is not None:
            requests["cpu"] = cpu
        if memory is not None:
            requests["memory"] = memory
        containers = [container(requests=requests or None)]
    body: Object = {"containers": containers, **spec}
    if init_containers:
        body["initContainers"] = init_containers
    return {"metadata": {"name": name, "namespace": "default"}, "spec": body}


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> Object:
    return {"key": key, "value": value, "effect": effect}


def toleration(key: str = "", value: str = "", *, operator: str = "Equal", effect: str = "") -> Object:
    built: Object = {"operator": operator}
    if key:
        built["key"] = key
    if value:
        built["value"] = value
    if effect:
        built["effect"] = effect
    return built


def host_port(port: int, *, ip: str = "", protocol: str = "") -> Object:
    built: Object = {"containerPort": port, "hostPort": port}
    if ip:
        built["hostIP"] = ip
    if protocol:
        built["protocol"] = protocol
    return built


def required_affinity(*terms: Object) -> Object:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def preferred_affinity(*weighted: tuple[int, Object]) -> Object:
    return {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": weight, "preference": term} for weight, term in weighted
            ]
        }
    }


def expression(key: str, operator: str, *values: str) -> Object:
    built: Object = {"key": key, "operator": operator}
    if values:
        built["values"] = list(values)
    return built


def table_of(*nodes: Object) -> NodeTable:
    table = NodeTable()
    for node in nodes:
        table.add_node(node)
    return table


def load_kernel(name: str) -> SchedulerKernel:
    if name == "py":
        return PURE_PYTHON_KERNEL
    pytest.importorskip(
        "pykube_core.scheduler._native", reason="build it: python setup.py build_ext --inplace"
    )
    return native_kernel()


def scheduler_for(
    kernel: SchedulerKernel, *nodes: Object, profile: Profile | None = None, seed: int = 0
) -> Scheduler:
    return Scheduler(table_of(*nodes), kernel=kernel, profile=profile, seed=seed)


ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"


def zoned_node(name: str, zone: str | None, **kwargs: Any) -> Object:
    """Return a node labelled with its hostname and, unless zone is None, its zone."""
    labels = {HOSTNAME: name, **({ZONE: zone} if zone is not None else {}), **kwargs.pop("labels", {})}
    return make_node(name, labels=labels, **kwargs)


def labeled(
    pod: Object,
    labels: dict[str, str] | None = None,
    *,
    namespace: str | None = None,
    terminating: bool = False,
    **more_labels: str,
) -> Object:
    """Return the pod with labels, and optionally another namespace or a deletionTimestamp."""
    metadata = pod["metadata"]
    metadata["labels"] = {**(labels or {}), **more_labels}
    if namespace is not None:
        metadata["namespace"] = namespace
    if terminating:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return pod


def selector(**match_labels: str) -> Object:
    return {"matchLabels": dict(match_labels)}


def spread(
    key: str, max_skew: int, label_selector: Object | None, *, hard: bool = True, **extra: Any
) -> Object:
    """Return a topologySpreadConstraint; extra holds minDomains, matchLabelKeys and the policies."""
    built: Object = {
        "topologyKey": key,
        "maxSkew": max_skew,
        "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
        **extra,
    }
    if label_selector is not None:
        built["labelSelector"] = label_selector
    return built


def pod_term(label_selector: Object | None, key: str, **extra: Any) -> Object:
    """Return a PodAffinityTerm; extra holds namespaces and namespaceSelector."""
    built: Object = {"topologyKey": key, **extra}
    if label_selector is not None:
        built["labelSelector"] = label_selector
    return built


def pod_affinity(
    *,
    required: list[Object] | None = None,
    preferred: list[tuple[int, Object]] | None = None,
    anti_required: list[Object] | None = None,
    anti_preferred: list[tuple[int, Object]] | None = None,
) -> Object:
    def section(hard: list[Object] | None, soft: list[tuple[int, Object]] | None) -> Object:
        built: Object = {}
        if hard:
            built["requiredDuringSchedulingIgnoredDuringExecution"] = hard
        if soft:
            built["preferredDuringSchedulingIgnoredDuringExecution"] = [
                {"weight": weight, "podAffinityTerm": term} for weight, term in soft
            ]
        return built

    return {"podAffinity": section(required, preferred), "podAntiAffinity": section(anti_required, anti_preferred)}
