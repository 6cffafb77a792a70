"""Pod defaults: what Kubernetes' defaulting and default admission plugins add to a pod.

``default_pod_spec`` applies SetDefaults_PodSpec and everything below it
(containers, probes, volumes) and serves Pods and pod templates alike.
``default_pod`` adds what only a Pod gets: the fields Kubernetes sets in
SetDefaults_Pod and through the ServiceAccount, Priority and
DefaultTolerationSeconds admission plugins.

Differences from Kubernetes:

- The ServiceAccount plugin's token volume (kube-api-access-*) is not added.
  Adding it belongs to admission, which knows whether the account exists.
- A pod with a priorityClassName keeps its priority unset here because
  resolving the class needs the store.
"""

from __future__ import annotations

from typing import Any

from pykube_control.apiserver.validation.volumes import VOLUME_SOURCES
from pykube_control.apiserver.validation.wire import (
    as_dict,
    as_int,
    as_list,
    as_str,
    child_dict,
    set_default,
    set_default_if_zero,
)

DEFAULT_TERMINATION_GRACE_SECONDS = 30
DEFAULT_FILE_MODE = 0o644  # 420, as the API prints it
DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600
DEFAULT_TOLERATION_SECONDS = 300
"""How long a pod stays bound to a not-ready or unreachable node, as kube-apiserver's default."""

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"

# (key, default) pairs of a probe's non-pointer integer fields, where 0 means unset.
PROBE_DEFAULTS = (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3))


def image_pull_policy(image: str) -> str:
    """Return Always for an image tagged :latest or untagged, else IfNotPresent.

    An image pinned by digest alone ("nginx@sha256:...") has no implied tag,
    so it gets IfNotPresent.
    """
    name, _, digest = image.partition("@")
    last_segment = name.rsplit("/", 1)[-1]
    tag = last_segment.partition(":")[2] if ":" in last_segment else ""
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def default_pod_spec(spec: dict[str, Any]) -> None:
    """Apply SetDefaults_PodSpec and the defaults of its containers and volumes in place."""
    set_default(spec, "dnsPolicy", "ClusterFirst")
    set_default(spec, "restartPolicy", "Always")
    set_default(spec, "securityContext", {})
    set_default(spec, "terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_SECONDS)
    set_default(spec, "schedulerName", "default-scheduler")
    host_network = spec.get("hostNetwork") is True
    for key in ("initContainers", "containers"):
        for container in as_list(spec.get(key)):
            if isinstance(container, dict):
                default_container(container, host_network)
    for volume in as_list(spec.get("volumes")):
        if isinstance(volume, dict):
            default_volume(volume)


def default_container(container: dict[str, Any], host_network: bool = False) -> None:
    if container.get("imagePullPolicy") in (None, ""):
        container["imagePullPolicy"] = image_pull_policy(as_str(container.get("image")))
    set_default(container, "terminationMessagePath", "/dev/termination-log")
    set_default(container, "terminationMessagePolicy", "File")
    set_default(container, "resources", {})
    for port in as_list(container.get("ports")):
        if not isinstance(port, dict):
            continue
        set_default(port, "protocol", "TCP")
        if host_network and not as_int(port.get("hostPort")) and port.get("containerPort") is not None:
            port["hostPort"] = port["containerPort"]
    for variable in as_list(container.get("env")):
        field_ref = as_dict(as_dict(as_dict(variable).get("valueFrom")).get("fieldRef"))
        if field_ref:
            set_default(field_ref, "apiVersion", "v1")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(key)
        if isinstance(probe, dict):
            default_probe(probe)
    lifecycle = as_dict(container.get("lifecycle"))
    for hook in ("postStart", "preStop"):
        _default_http_get(as_dict(lifecycle.get(hook)))


def default_probe(probe: dict[str, Any]) -> None:
    for key, value in PROBE_DEFAULTS:
        set_default_if_zero(probe, key, value)
    _default_http_get(probe)


def _default_http_get(handler: dict[str, Any]) -> None:
    action = handler.get("httpGet")
    if isinstance(action, dict):
        set_default(action, "path", "/")
        set_default(action, "scheme", "HTTP")


def default_volume(volume: dict[str, Any]) -> None:
    """Default a volume; one that names no source becomes an emptyDir, as in Kubernetes."""
    if all(volume.get(source) is None for source in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        body = volume.get(source)
        if isinstance(body, dict):
            set_default(body, "defaultMode", DEFAULT_FILE_MODE)
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        set_default(host_path, "type", "")
    for item in as_list(as_dict(volume.get("downwardAPI")).get("items")):
        field_ref = as_dict(as_dict(item).get("fieldRef"))
        if field_ref:
            set_default(field_ref, "apiVersion", "v1")
    for projection in as_list(as_dict(volume.get("projected")).get("sources")):
        token = as_dict(projection).get("serviceAccountToken")
        if isinstance(token, dict):
            set_default(token, "expirationSeconds", DEFAULT_TOKEN_EXPIRATION_SECONDS)


def default_pod(obj: dict[str, Any]) -> None:
    """Apply every default a new Pod gets, its spec's included."""
    spec = child_dict(obj, "spec")
    if spec is None:
        return
    default_pod_spec(spec)
    set_default(spec, "enableServiceLinks", True)
    for key in ("initContainers", "containers"):
        for container in as_list(spec.get(key)):
            if isinstance(container, dict):
                _default_requests_to_limits(container)

    set_default(spec, "serviceAccountName", as_str(spec.get("serviceAccount")) or "default")
    # The API still prints the deprecated serviceAccount field as a copy.
    spec["serviceAccount"] = spec["serviceAccountName"]
    if not as_str(spec.get("priorityClassName")):
        set_default(spec, "priority", 0)
    set_default(spec, "preemptionPolicy", "PreemptLowerPriority")
    _add_default_tolerations(spec)


def _default_requests_to_limits(container: dict[str, Any]) -> None:
    resources = container.get("resources")
    if not isinstance(resources, dict) or not isinstance(resources.get("limits"), dict):
        return
    limits = resources["limits"]
    if not limits:
        return
    requests = child_dict(resources, "requests")
    if requests is None:
        return
    for name, quantity in limits.items():
        requests.setdefault(name, quantity)


def _add_default_tolerations(spec: dict[str, Any]) -> None:
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    for taint in (NOT_READY_TAINT, UNREACHABLE_TAINT):
        if not any(_tolerates_no_execute(as_dict(toleration), taint) for toleration in tolerations):
            tolerations.append(
                {
                    "key": taint,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )
    spec["tolerations"] = tolerations


def _tolerates_no_execute(toleration: dict[str, Any], taint: str) -> bool:
    key = as_str(toleration.get("key"))
    effect = as_str(toleration.get("effect"))
    return key in (taint, "") and effect in ("NoExecute", "")
