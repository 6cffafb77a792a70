"""The strategic-merge-patch table: which lists merge, and by which key.

Kubernetes declares the patch strategy of each list in its Go struct tags
(``patchStrategy:"merge" patchMergeKey:"name"``). This table restates the
tags of the served kinds (k8s.io/api, release 1.32) as a flat mapping from
a field path inside the object to its merge key. A path joins field names
with dots and passes through list items unmarked, so
"spec.containers.env" is the env list of every container of a Pod.

The table is keyed by path, not by kind: no two served kinds use one path
for different lists, so one lookup serves every kind. The pod spec and
object metadata appear once per place that embeds them, so the pod
template of a Deployment, ReplicaSet, DaemonSet, Job or
ReplicationController merges exactly like a Pod.

A list whose path is not here is atomic: a patch replaces it whole (this is
Kubernetes' default, and what it does for tolerations, Ingress rules,
Endpoints subsets and EndpointSlice endpoints).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

PRIMITIVE_SET = ""
"""Merge key of a list of scalars merged as a set (finalizers, podCIDRs)."""

_OBJECT_META: Mapping[str, str] = {
    "finalizers": PRIMITIVE_SET,
    "ownerReferences": "uid",
}

_CONTAINER: Mapping[str, str] = {
    "ports": "containerPort",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
}

_POD_SPEC: Mapping[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "schedulingGates": "name",
    "resourceClaims": "name",
}

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

# Paths of the PodTemplateSpec in workloads (Deployment, ReplicaSet,
# DaemonSet, Job, ReplicationController), CronJob, and the PodTemplate kind.
_POD_TEMPLATE_PATHS = ("spec.template", "spec.jobTemplate.spec.template", "template")

# Lists outside pod specs and object metadata, by their path from the root.
_ROOT: Mapping[str, str] = {
    # Every served kind with conditions merges them by type.
    "status.conditions": "type",
    # Pod
    "status.podIPs": "ip",
    "status.hostIPs": "ip",
    "status.resourceClaimStatuses": "name",
    # Node
    "spec.podCIDRs": PRIMITIVE_SET,
    "status.addresses": "type",
    # Service
    "spec.ports": "port",
    # ServiceAccount
    "secrets": "name",
}


def _pod_spec_entries(prefix: str) -> Iterator[tuple[str, str]]:
    for field, key in _POD_SPEC.items():
        yield f"{prefix}.{field}", key
    for container_list in _CONTAINER_LISTS:
        for field, key in _CONTAINER.items():
            yield f"{prefix}.{container_list}.{field}", key


def _object_meta_entries(prefix: str) -> Iterator[tuple[str, str]]:
    for field, key in _OBJECT_META.items():
        yield f"{prefix}.{field}", key


def _build() -> dict[str, str]:
    table = dict(_ROOT)
    table.update(_object_meta_entries("metadata"))
    table.update(_pod_spec_entries("spec"))
    for template in _POD_TEMPLATE_PATHS:
        table.update(_object_meta_entries(f"{template}.metadata"))
        table.update(_pod_spec_entries(f"{template}.spec"))
    return table


MERGE_KEYS: Mapping[str, str] = _build()
"""Field path -> merge key ("" for a set of scalars) of every merging list."""


def merge_key(path: str) -> str | None:
    """Return the merge key of the list at ``path``, "" for a set of scalars, None if atomic."""
    return MERGE_KEYS.get(path)
