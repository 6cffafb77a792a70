"""The validation and defaulting entry points the HTTP layer calls, for every served kind.

The HTTP layer calls ``apply_defaults`` and then ``validate_create`` on
create, ``apply_defaults`` and ``validate_update`` on update, and
``validate_status_update`` for the status subresource. Objects are plain
dicts exactly as decoded from JSON. Validators return a list of FieldError,
empty when valid, and never raise, whatever JSON they are given. The HTTP
layer turns the list into one 422 Invalid Status.

The name and generateName rules need the final name, so the HTTP layer
generates a name from generateName before calling ``validate_create``.
Status updates are defaulted too before ``validate_status_update``, because
Kubernetes defaults every decoded object (a Namespace's phase, for one).

On update, Kubernetes keeps the cluster IPs and nodePorts a client left
out; ``prepare_update`` does that and runs before ``apply_defaults``.
"""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError

from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.validation import (
    certificates,
    cluster,
    config,
    disruption,
    endpoints,
    events,
    job,
    networking,
    pod,
    policy,
    service,
    storage,
    workloads,
)
from pykube_control.apiserver.validation.fielderrors import invalid
from pykube_control.apiserver.validation.meta import validate_meta, validate_meta_update
from pykube_control.apiserver.validation.rules import KindRules

RULES: dict[tuple[str, str], KindRules] = {
    ("", "Namespace"): cluster.NAMESPACE,
    ("", "Pod"): pod.POD,
    ("", "Node"): cluster.NODE,
    ("", "Service"): service.SERVICE,
    ("", "Endpoints"): endpoints.ENDPOINTS,
    ("", "ConfigMap"): config.CONFIG_MAP,
    ("", "Secret"): config.SECRET,
    ("", "ServiceAccount"): config.SERVICE_ACCOUNT,
    ("", "Event"): events.CORE_EVENT,
    ("", "PersistentVolume"): storage.PERSISTENT_VOLUME,
    ("", "PersistentVolumeClaim"): storage.PERSISTENT_VOLUME_CLAIM,
    ("", "ResourceQuota"): policy.RESOURCE_QUOTA,
    ("", "LimitRange"): policy.LIMIT_RANGE,
    ("", "ReplicationController"): workloads.REPLICATION_CONTROLLER,
    ("apps", "Deployment"): workloads.DEPLOYMENT,
    ("apps", "ReplicaSet"): workloads.REPLICA_SET,
    ("apps", "DaemonSet"): workloads.DAEMON_SET,
    ("batch", "Job"): job.JOB,
    ("discovery.k8s.io", "EndpointSlice"): endpoints.ENDPOINT_SLICE,
    ("networking.k8s.io", "Ingress"): networking.INGRESS,
    ("networking.k8s.io", "IngressClass"): networking.INGRESS_CLASS,
    ("storage.k8s.io", "StorageClass"): storage.STORAGE_CLASS,
    ("coordination.k8s.io", "Lease"): cluster.LEASE,
    ("scheduling.k8s.io", "PriorityClass"): policy.PRIORITY_CLASS,
    ("policy", "PodDisruptionBudget"): disruption.POD_DISRUPTION_BUDGET,
    ("events.k8s.io", "Event"): events.EVENT,
    ("certificates.k8s.io", "CertificateSigningRequest"): certificates.CERTIFICATE_SIGNING_REQUEST,
}
"""Kind-specific rules by (group, kind). A kind missing here gets the ObjectMeta checks only."""


def rules_for(resource: ResourceType) -> KindRules:
    return RULES.get((resource.group, resource.kind), KindRules())


def prepare_update(resource: ResourceType, obj: dict[str, Any], old: dict[str, Any]) -> None:
    """Copy into ``obj`` the allocated values an update may leave out (Service cluster IPs, nodePorts)."""
    if resource.group == "" and resource.kind == "Service" and isinstance(obj, dict) and isinstance(old, dict):
        service.carry_over_allocations(obj, old)


def apply_defaults(resource: ResourceType, obj: dict[str, Any]) -> None:
    """Fill in Kubernetes' defaults in place, as on create and update."""
    if isinstance(obj, dict):
        rules_for(resource).defaults(obj)


def validate_create(resource: ResourceType, obj: dict[str, Any]) -> list[FieldError]:
    """Return every error of a new object; an empty list means valid."""
    if not isinstance(obj, dict):
        return [invalid("", obj, "must be a JSON object")]
    return validate_meta(resource, obj) + rules_for(resource).validate(obj)


def validate_update(resource: ResourceType, obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Return every error of an update from ``old`` to ``obj``, immutable fields included."""
    if not isinstance(obj, dict):
        return [invalid("", obj, "must be a JSON object")]
    if not isinstance(old, dict):
        old = {}
    rules = rules_for(resource)
    errors = validate_meta(resource, obj) + validate_meta_update(obj, old)
    errors.extend(rules.validate(obj))
    errors.extend(rules.validate_update(obj, old))
    return errors


def validate_status_update(resource: ResourceType, obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Return the errors of a status-subresource update: metadata changes and status values."""
    if not isinstance(obj, dict):
        return [invalid("", obj, "must be a JSON object")]
    if not isinstance(old, dict):
        old = {}
    return validate_meta_update(obj, old) + rules_for(resource).validate_status(obj, old)
