"""The table of resources the API server serves.

Each entry describes where a resource lives (group, version, plural), whether it
is namespaced, which subresources it has and the names kubectl knows it by.
Discovery, routing, storage keys, OpenAPI and the Table printers all read
this one table, so serving a new kind starts with one line here.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    """API group; "" is the core (legacy) group served under /api."""
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_version(self) -> str:
        """"v1" for the core group, else "<group>/<version>", as apiVersion spells it."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """"<plural>.<group>" ("pods" for the core group), the resource's unique name."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"


ALL = ("all",)

RESOURCES: tuple[ResourceType, ...] = (
    # core/v1
    ResourceType("", "v1", "Namespace", "namespaces", False, ("status", "finalize"), ("ns",)),
    ResourceType("", "v1", "Pod", "pods", True, ("status", "binding", "log", "eviction"), ("po",), ALL),
    ResourceType("", "v1", "Node", "nodes", False, ("status",), ("no",)),
    ResourceType("", "v1", "Service", "services", True, ("status",), ("svc",), ALL),
    ResourceType("", "v1", "Endpoints", "endpoints", True, (), ("ep",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", True, (), ("cm",)),
    ResourceType("", "v1", "Secret", "secrets", True),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True, (), ("sa",)),
    ResourceType("", "v1", "Event", "events", True, (), ("ev",)),
    ResourceType("", "v1", "PersistentVolume", "persistentvolumes", False, ("status",), ("pv",)),
    ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("status",), ("pvc",)),
    ResourceType("", "v1", "ResourceQuota", "resourcequotas", True, ("status",), ("quota",)),
    ResourceType("", "v1", "LimitRange", "limitranges", True, (), ("limits",)),
    ResourceType("", "v1", "ReplicationController", "replicationcontrollers", True, ("status", "scale"), ("rc",), ALL),
    # apps/v1
    ResourceType("apps", "v1", "Deployment", "deployments", True, ("status", "scale"), ("deploy",), ALL),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, ("status", "scale"), ("rs",), ALL),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, ("status",), ("ds",), ALL),
    # batch/v1
    ResourceType("batch", "v1", "Job", "jobs", True, ("status",), (), ALL),
    # discovery.k8s.io/v1
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    # networking.k8s.io/v1
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("status",), ("ing",)),
    ResourceType("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    # storage.k8s.io/v1
    ResourceType("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, (), ("sc",)),
    # coordination.k8s.io/v1
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True),
    # scheduling.k8s.io/v1
    ResourceType("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, (), ("pc",)),
    # policy/v1
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("status",), ("pdb",)),
    # events.k8s.io/v1
    ResourceType("events.k8s.io", "v1", "Event", "events", True, (), ("ev",)),
    # certificates.k8s.io/v1
    ResourceType("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", False, ("status", "approval"), ("csr",)),
)


@dataclasses.dataclass(frozen=True, slots=True)
class LegacyVersion:
    """An old group/version still accepted for one resource: requests convert to ``target``."""

    group: str
    version: str
    plural: str
    kind: str
    target: ResourceType


def legacy_versions() -> tuple[LegacyVersion, ...]:
    """Return the old versions tutorials still use, from the conversion table.

    Bodies sent to these paths are converted to the current version, and
    responses carry the current version, since only that one is stored.
    """
    from pykube_control.apiserver.conversion import DEPRECATED_KINDS

    aliases = []
    for entry in DEPRECATED_KINDS:
        group, _, version = entry.group_version.rpartition("/")
        target = by_kind(entry.replacement.rpartition("/")[0], entry.kind)
        if target is not None:
            aliases.append(LegacyVersion(group, version, entry.plural, entry.kind, target))
    return tuple(aliases)


def by_kind(group: str, kind: str) -> ResourceType | None:
    """Return the served resource of ``kind`` in ``group``, or None."""
    for resource in RESOURCES:
        if resource.group == group and resource.kind == kind:
            return resource
    return None


def by_plural(group: str, version: str, plural: str) -> ResourceType | None:
    """Return the resource served at ``/<group>/<version>/<plural>``, or None."""
    for resource in RESOURCES:
        if resource.group == group and resource.version == version and resource.plural == plural:
            return resource
    for legacy in legacy_versions():
        if legacy.group == group and legacy.version == version and legacy.plural == plural:
            return legacy.target
    return None


def groups() -> dict[str, list[str]]:
    """Return every served group (core as "") with its versions, preferred first.

    Groups that only hold legacy versions (extensions) come last, so a
    client that resolves "ingresses" by group order picks networking.k8s.io.
    """
    result: dict[str, list[str]] = {}
    for resource in RESOURCES:
        versions = result.setdefault(resource.group, [])
        if resource.version not in versions:
            versions.append(resource.version)
    for legacy in legacy_versions():
        versions = result.setdefault(legacy.group, [])
        if legacy.version not in versions:
            versions.append(legacy.version)
    return result


def served_at(group: str, version: str) -> list[tuple[ResourceType, bool]]:
    """Return (resource, is_legacy) for everything served at ``group``/``version``."""
    served = [(r, False) for r in RESOURCES if r.group == group and r.version == version]
    served += [(l.target, True) for l in legacy_versions() if l.group == group and l.version == version]
    return served
