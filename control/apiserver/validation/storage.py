"""PersistentVolume, PersistentVolumeClaim and StorageClass: defaults and validation.

Differences from Kubernetes (1.32):

- PV source-specific checks cover hostPath, local, nfs and csi only.
- The PVC update rule leaves out volumeAttributesClassName, because its
  feature gate is off by default.
"""

from __future__ import annotations

import copy
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.names import name_is_dns_subdomain

from pykube_control.apiserver.validation.fielderrors import (
    check_immutable,
    forbidden,
    invalid,
    invalid_each,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.formats import qualified_name_messages
from pykube_control.apiserver.validation.quantities import parse_value, quantity_errors
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.scheduling import label_selector_errors
from pykube_control.apiserver.validation.wire import as_dict, as_list, as_str, child_dict, dig, set_default

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
PV_RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
CLASS_RECLAIM_POLICIES = ("Delete", "Retain")
VOLUME_MODES = ("Block", "Filesystem")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
PV_SOURCES = (
    "gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs", "rbd", "quobyte", "cinder",
    "cephfs", "iscsi", "fc", "flocker", "flexVolume", "azureFile", "vsphereVolume", "azureDisk",
    "photonPersistentDisk", "portworxVolume", "scaleIO", "local", "storageos", "csi",
)  # fmt: skip
PV_REQUIRED_SOURCE_FIELDS = {"hostPath": ("path",), "local": ("path",), "nfs": ("server", "path"), "csi": ("driver", "volumeHandle")}
POSITIVE_MESSAGE = "must be greater than zero"
PVC_UPDATE_MESSAGE = "spec is immutable after creation except resources.requests for bound claims"


def _access_mode_errors(path: str, modes: list[Any], detail: str = "") -> list[FieldError]:
    if not modes:
        return [required(path, detail)]
    errors = [not_supported(path, mode, ACCESS_MODES) for mode in modes if mode not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errors.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errors


def _positive_storage_errors(path: str, value: object) -> list[FieldError]:
    quantity, errors = quantity_errors(path, value)
    if quantity is not None and not errors and quantity.nanos == 0:
        errors.append(invalid(path, str(quantity), POSITIVE_MESSAGE))
    return errors


def _volume_mode_errors(path: str, mode: object) -> list[FieldError]:
    if mode is not None and mode not in VOLUME_MODES:
        return [not_supported(path, mode, VOLUME_MODES)]
    return []


# --- PersistentVolume ---


def default_persistent_volume(obj: dict[str, Any]) -> None:
    spec = child_dict(obj, "spec")
    if spec is not None:
        set_default(spec, "persistentVolumeReclaimPolicy", "Retain")
        set_default(spec, "volumeMode", "Filesystem")
    status = child_dict(obj, "status")
    if status is not None:
        set_default(status, "phase", "Pending")


def validate_persistent_volume(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors = _access_mode_errors("spec.accessModes", as_list(spec.get("accessModes")))
    capacity = as_dict(spec.get("capacity"))
    if not capacity:
        errors.append(required("spec.capacity"))
    elif set(capacity) != {"storage"}:
        errors.append(not_supported("spec.capacity", capacity, ("storage",)))
    for name, value in sorted(capacity.items()):
        errors.extend(_positive_storage_errors(f"spec.capacity[{name}]", value))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy and policy not in PV_RECLAIM_POLICIES:
        errors.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, PV_RECLAIM_POLICIES))
    errors.extend(_volume_mode_errors("spec.volumeMode", spec.get("volumeMode")))
    class_name = as_str(spec.get("storageClassName"))
    if class_name:
        errors.extend(invalid_each("spec.storageClassName", class_name, name_is_dns_subdomain(class_name, False)))
    errors.extend(_pv_source_errors(spec))
    return errors


def _pv_source_errors(spec: dict[str, Any]) -> list[FieldError]:
    present = [source for source in PV_SOURCES if spec.get(source) is not None]
    if not present:
        return [required("spec", "must specify a volume type")]
    errors = [forbidden(f"spec.{source}", "may not specify more than 1 volume type") for source in present[1:]]
    source = present[0]
    body = as_dict(spec.get(source))
    for key in PV_REQUIRED_SOURCE_FIELDS.get(source, ()):
        if not as_str(body.get(key)):
            errors.append(required(f"spec.{source}.{key}"))
    return errors


def validate_persistent_volume_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    new_spec = as_dict(new.get("spec"))
    old_spec = as_dict(old.get("spec"))
    errors: list[FieldError] = []
    if any(new_spec.get(source) != old_spec.get(source) for source in PV_SOURCES):
        errors.append(forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation"))
    errors.extend(check_immutable("volumeMode", new_spec.get("volumeMode"), old_spec.get("volumeMode")))
    if old_spec.get("nodeAffinity") is not None:
        errors.extend(check_immutable("nodeAffinity", new_spec.get("nodeAffinity"), old_spec.get("nodeAffinity")))
    return errors


# --- PersistentVolumeClaim ---


def default_persistent_volume_claim(obj: dict[str, Any]) -> None:
    spec = child_dict(obj, "spec")
    if spec is not None:
        set_default(spec, "volumeMode", "Filesystem")
    status = child_dict(obj, "status")
    if status is not None:
        set_default(status, "phase", "Pending")


def validate_persistent_volume_claim(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors = _access_mode_errors("spec.accessModes", as_list(spec.get("accessModes")), "at least 1 access mode is required")
    if spec.get("selector") is not None:
        errors.extend(label_selector_errors("spec.selector", spec["selector"]))
    requests = as_dict(dig(spec, "resources", "requests"))
    if "storage" not in requests:
        errors.append(required("spec.resources[storage]"))
    else:
        errors.extend(_positive_storage_errors("spec.resources[storage]", requests["storage"]))
    class_name = as_str(spec.get("storageClassName"))
    if class_name:
        errors.extend(invalid_each("spec.storageClassName", class_name, name_is_dns_subdomain(class_name, False)))
    errors.extend(_volume_mode_errors("spec.volumeMode", spec.get("volumeMode")))
    return errors


def validate_persistent_volume_claim_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Allow binding (volumeName once) and, for bound claims, growing the storage request."""
    new_spec = as_dict(new.get("spec"))
    old_spec = copy.deepcopy(as_dict(old.get("spec")))
    masked = copy.deepcopy(new_spec)
    if not old_spec.get("volumeName"):
        _copy_or_drop(old_spec, masked, "volumeName")
    bound = dig(new, "status", "phase") == "Bound"
    if bound:
        old_requests = dig(old_spec, "resources", "requests")
        new_requests = dig(masked, "resources", "requests")
        if isinstance(old_requests, dict) and isinstance(new_requests, dict):
            _copy_or_drop(new_requests, old_requests, "storage")
    errors: list[FieldError] = []
    if masked != old_spec:
        errors.append(forbidden("spec", PVC_UPDATE_MESSAGE))
    new_size = parse_value(dig(new_spec, "resources", "requests", "storage"))
    old_size = parse_value(dig(old, "spec", "resources", "requests", "storage"))
    if new_size is not None and old_size is not None and new_size < old_size:
        errors.append(forbidden("spec.resources.requests.storage", "field can not be less than previous value"))
    errors.extend(check_immutable("volumeMode", new_spec.get("volumeMode"), dig(old, "spec", "volumeMode")))
    return errors


def _copy_or_drop(target: dict[str, Any], source: dict[str, Any], key: str) -> None:
    if key in source:
        target[key] = source[key]
    else:
        target.pop(key, None)


# --- StorageClass ---


def default_storage_class(obj: dict[str, Any]) -> None:
    set_default(obj, "reclaimPolicy", "Delete")
    set_default(obj, "volumeBindingMode", "Immediate")


def validate_storage_class(obj: dict[str, Any]) -> list[FieldError]:
    provisioner = as_str(obj.get("provisioner"))
    errors: list[FieldError] = []
    if not provisioner:
        errors.append(required("provisioner"))
    else:
        errors.extend(invalid_each("provisioner", provisioner, qualified_name_messages(provisioner.lower())))
    policy = obj.get("reclaimPolicy")
    if policy is not None and policy not in CLASS_RECLAIM_POLICIES:
        errors.append(not_supported("reclaimPolicy", policy, CLASS_RECLAIM_POLICIES))
    mode = obj.get("volumeBindingMode")
    if mode is None:
        errors.append(required("volumeBindingMode"))
    elif mode not in BINDING_MODES:
        errors.append(not_supported("volumeBindingMode", mode, BINDING_MODES))
    return errors


def validate_storage_class_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in ("parameters", "provisioner", "reclaimPolicy"):
        if new.get(key) != old.get(key):
            errors.append(forbidden(key, f"updates to {key} are forbidden."))
    errors.extend(check_immutable("volumeBindingMode", new.get("volumeBindingMode"), old.get("volumeBindingMode")))
    return errors


PERSISTENT_VOLUME = KindRules(
    defaults=default_persistent_volume,
    validate=validate_persistent_volume,
    validate_update=validate_persistent_volume_update,
)
PERSISTENT_VOLUME_CLAIM = KindRules(
    defaults=default_persistent_volume_claim,
    validate=validate_persistent_volume_claim,
    validate_update=validate_persistent_volume_claim_update,
)
STORAGE_CLASS = KindRules(
    defaults=default_storage_class,
    validate=validate_storage_class,
    validate_update=validate_storage_class_update,
)
