"""Old API versions of workloads and Ingress, converted to the served version.

Tutorials and charts still carry manifests for API versions Kubernetes
removed in 1.16 and 1.22 (apps/v1beta1, apps/v1beta2, extensions/v1beta1,
networking.k8s.io/v1beta1). The API server accepts such a body, converts it
here to the one version it stores and serves, and sends the deprecation
text back as a ``Warning`` header, worded as Kubernetes words it.

Conversion runs before the current version's defaults, so it fills in the
old version's defaults wherever they differ from the current ones. That is
what Kubernetes did: it decoded with the old version's defaults, and the
result stayed when it was stored at the new version. For example, an
extensions/v1beta1 Deployment without a revisionHistoryLimit kept all old
ReplicaSets, so it becomes an apps/v1 Deployment with revisionHistoryLimit
2147483647, not the apps/v1 default of 10.

Only this direction exists: the server never serves an object at an old
version.

Differences from Kubernetes:

- ``spec.rollbackTo`` of an old Deployment is dropped. Kubernetes kept it
  as the ``deprecated.deployment.rollback.to`` annotation for its
  Deployment controller to roll back, which pykube's controller does not do.
- Conversion of list kinds (DeploymentList and the like) is not offered,
  because clients create objects one at a time.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

MAX_INT32 = 2**31 - 1
"""The int32 maximum, which Kubernetes stores for "no limit" when the new version needs a number."""

TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
"""Annotation that keeps the extensions/v1beta1 DaemonSet field spec.templateGeneration at apps/v1."""

IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"

Converter = Callable[[dict[str, Any]], None]
"""Rewrites a deep copy of an old-version object, in place, into the current version."""


@dataclasses.dataclass(frozen=True, slots=True)
class DeprecatedKind:
    """One kind at one removed API version, and what replaced it."""

    group_version: str
    kind: str
    plural: str
    deprecated_in: str
    """Kubernetes minor release that deprecated it, such as "1.8"."""
    removed_in: str
    replacement: str
    """The current group/version of the same kind, as apiVersion spells it."""
    convert: Converter

    @property
    def warning(self) -> str:
        """The deprecation warning Kubernetes sends, word for word."""
        return (
            f"{self.group_version} {self.kind} is deprecated in v{self.deprecated_in}+, "
            f"unavailable in v{self.removed_in}+; use {self.replacement} {self.kind}"
        )


# --- shared steps -----------------------------------------------------------


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
        obj["spec"] = spec
    return spec


def _template_labels(spec: dict[str, Any]) -> dict[str, Any] | None:
    template = spec.get("template")
    if not isinstance(template, dict):
        return None
    metadata = template.get("metadata")
    if not isinstance(metadata, dict):
        return None
    labels = metadata.get("labels")
    if not isinstance(labels, dict) or not labels:
        return None
    return labels


def _default_selector_and_labels(obj: dict[str, Any]) -> None:
    """Fill an empty selector and empty object labels from the pod template's labels.

    apps/v1beta1 and extensions/v1beta1 defaulted both, and apps/v1 requires
    the selector, so a manifest that relied on the default would fail there.
    """
    spec = _spec(obj)
    labels = _template_labels(spec)
    if labels is None:
        return
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": dict(labels)}
    metadata = obj.setdefault("metadata", {})
    if isinstance(metadata, dict) and not metadata.get("labels"):
        metadata["labels"] = dict(labels)


def _drop_rollback_to(obj: dict[str, Any]) -> None:
    # NOTE: the rollback a client asked for is lost; see the module's differences.
    _spec(obj).pop("rollbackTo", None)


def _default_rolling_update(spec: dict[str, Any], field: str, defaults: dict[str, Any]) -> None:
    """Default a strategy (spec[field]) to RollingUpdate with the old version's parameters."""
    strategy = spec.get(field)
    if not isinstance(strategy, dict):
        strategy = {}
        spec[field] = strategy
    strategy.setdefault("type", "RollingUpdate")
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] != "RollingUpdate" and rolling is None:
        return
    if not isinstance(rolling, dict):
        rolling = {}
        strategy["rollingUpdate"] = rolling
    for name, value in defaults.items():
        rolling.setdefault(name, value)


# --- Deployments ------------------------------------------------------------


def _apps_v1beta1_deployment(obj: dict[str, Any]) -> None:
    _default_selector_and_labels(obj)
    _drop_rollback_to(obj)
    # apps/v1beta1 kept 2 old ReplicaSets by default, where apps/v1 keeps 10.
    _spec(obj).setdefault("revisionHistoryLimit", 2)


def _extensions_deployment(obj: dict[str, Any]) -> None:
    _default_selector_and_labels(obj)
    _drop_rollback_to(obj)
    spec = _spec(obj)
    # extensions/v1beta1 had no history limit and no progress deadline by
    # default; Kubernetes stored "none" as the int32 maximum at apps/v1.
    spec.setdefault("revisionHistoryLimit", MAX_INT32)
    spec.setdefault("progressDeadlineSeconds", MAX_INT32)
    # Its rolling update moved one pod at a time, where apps/v1 moves 25%.
    _default_rolling_update(spec, "strategy", {"maxUnavailable": 1, "maxSurge": 1})


def _same_shape(obj: dict[str, Any]) -> None:
    """Convert a version whose schema and defaults match the current one: apiVersion only."""


# --- ReplicaSets and DaemonSets ---------------------------------------------


def _extensions_replica_set(obj: dict[str, Any]) -> None:
    _default_selector_and_labels(obj)


def _extensions_daemon_set(obj: dict[str, Any]) -> None:
    _default_selector_and_labels(obj)
    spec = _spec(obj)
    # extensions/v1beta1 replaced DaemonSet pods only when deleted by hand.
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        strategy = {}
        spec["updateStrategy"] = strategy
    strategy.setdefault("type", "OnDelete")

    generation = spec.pop("templateGeneration", None)
    if generation is not None:
        metadata = obj.setdefault("metadata", {})
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict):
            annotations = {}
            metadata["annotations"] = annotations
        annotations[TEMPLATE_GENERATION_ANNOTATION] = str(generation)


# --- Ingress ----------------------------------------------------------------


def _ingress_backend(backend: dict[str, Any]) -> dict[str, Any]:
    """Convert a v1beta1 backend (serviceName, servicePort) to a v1 one (service.name, port)."""
    converted = {key: value for key, value in backend.items() if key not in ("serviceName", "servicePort")}
    if "serviceName" not in backend and "servicePort" not in backend:
        return converted

    service: dict[str, Any] = {}
    if "serviceName" in backend:
        service["name"] = backend["serviceName"]
    port = backend.get("servicePort")
    # servicePort is an IntOrString: a JSON number is a port number and a
    # JSON string a port name, even when the string holds digits.
    if isinstance(port, int) and not isinstance(port, bool):
        service["port"] = {"number": port}
    elif isinstance(port, str):
        service["port"] = {"name": port}
    converted["service"] = service
    return converted


def _ingress(obj: dict[str, Any]) -> None:
    spec = _spec(obj)
    backend = spec.pop("backend", None)
    if isinstance(backend, dict):
        spec["defaultBackend"] = _ingress_backend(backend)

    for rule in spec.get("rules") or []:
        http = rule.get("http") if isinstance(rule, dict) else None
        if not isinstance(http, dict):
            continue
        for path in http.get("paths") or []:
            if not isinstance(path, dict):
                continue
            path.setdefault("pathType", IMPLEMENTATION_SPECIFIC)
            if isinstance(path.get("backend"), dict):
                path["backend"] = _ingress_backend(path["backend"])


# --- the table --------------------------------------------------------------

DEPRECATED_KINDS: tuple[DeprecatedKind, ...] = (
    # Versions and dates from Kubernetes' prerelease-lifecycle tags (k8s.io/api 0.26).
    DeprecatedKind("apps/v1beta1", "Deployment", "deployments", "1.8", "1.16", "apps/v1", _apps_v1beta1_deployment),
    DeprecatedKind("apps/v1beta2", "Deployment", "deployments", "1.9", "1.16", "apps/v1", _same_shape),
    DeprecatedKind("apps/v1beta2", "ReplicaSet", "replicasets", "1.9", "1.16", "apps/v1", _same_shape),
    DeprecatedKind("apps/v1beta2", "DaemonSet", "daemonsets", "1.9", "1.16", "apps/v1", _same_shape),
    DeprecatedKind("extensions/v1beta1", "Deployment", "deployments", "1.8", "1.16", "apps/v1", _extensions_deployment),
    DeprecatedKind("extensions/v1beta1", "ReplicaSet", "replicasets", "1.8", "1.16", "apps/v1", _extensions_replica_set),
    DeprecatedKind("extensions/v1beta1", "DaemonSet", "daemonsets", "1.8", "1.16", "apps/v1", _extensions_daemon_set),
    DeprecatedKind("extensions/v1beta1", "Ingress", "ingresses", "1.14", "1.22", "networking.k8s.io/v1", _ingress),
    DeprecatedKind("networking.k8s.io/v1beta1", "Ingress", "ingresses", "1.19", "1.22", "networking.k8s.io/v1", _ingress),
)

_BY_VERSION_AND_KIND = {(entry.group_version, entry.kind): entry for entry in DEPRECATED_KINDS}


def deprecated_kind(group_version: str, kind: str) -> DeprecatedKind | None:
    """Return the table entry of ``kind`` at the old ``group_version``, or None."""
    return _BY_VERSION_AND_KIND.get((group_version, kind))


def is_deprecated_version(group_version: str, kind: str) -> bool:
    """Return whether ``kind`` at ``group_version`` is an old version this server converts."""
    return (group_version, kind) in _BY_VERSION_AND_KIND


def convert_to_current(obj: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Convert an object at an old API version to the current one.

    Returns the converted copy and Kubernetes' deprecation warning. An object
    at any version not in DEPRECATED_KINDS comes back as it is (the same
    dict, not a copy) with None, so the caller can run every body through
    here and reject unknown versions itself.
    """
    group_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(group_version, str) or not isinstance(kind, str):
        return obj, None
    entry = _BY_VERSION_AND_KIND.get((group_version, kind))
    if entry is None:
        return obj, None

    converted = copy.deepcopy(obj)
    entry.convert(converted)
    converted["apiVersion"] = entry.replacement
    return converted, entry.warning
