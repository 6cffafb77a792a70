"""Pod volume checks: unique DNS-label names, exactly one source, well-formed sources.

Only the sources pykube's node agent can mount (emptyDir, hostPath,
configMap, secret, persistentVolumeClaim, projected, downwardAPI) get
source-specific checks. Other Kubernetes sources are counted, so a volume
with two sources is still reported, but their fields pass unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.names import name_is_dns_label, name_is_dns_subdomain

from pykube_control.apiserver.validation.fielderrors import (
    duplicate,
    forbidden,
    invalid,
    invalid_each,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.formats import config_key_messages
from pykube_control.apiserver.validation.quantities import quantity_errors
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str

# Kubernetes' order: the error "may not specify more than 1 volume type"
# names every source after the first one found in this order.
VOLUME_SOURCES = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs", "iscsi",
    "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "quobyte", "cinder", "cephfs", "downwardAPI", "fc",
    "flexVolume", "configMap", "azureFile", "vsphereVolume", "photonPersistentDisk", "portworxVolume",
    "azureDisk", "storageos", "projected", "scaleIO", "csi", "ephemeral", "image",
)  # fmt: skip
PROJECTION_SOURCES = ("secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle")
HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket")
MAX_FILE_MODE = 0o777
FILE_MODE_MESSAGE = "must be a number between 0 and 0777 (octal), both inclusive"
MIN_TOKEN_EXPIRATION_SECONDS = 600

SourceCheck = Callable[[str, dict[str, Any]], list[FieldError]]


def volumes_errors(path: str, volumes: object) -> tuple[set[str], list[FieldError]]:
    """Check ``spec.volumes``; return the valid volume names for volumeMounts to reference."""
    names: set[str] = set()
    errors: list[FieldError] = []
    for index, raw in enumerate(as_list(volumes)):
        volume = as_dict(raw)
        entry = f"{path}[{index}]"
        name = as_str(volume.get("name"))
        if not name:
            errors.append(required(f"{entry}.name"))
        else:
            messages = name_is_dns_label(name, False)
            errors.extend(invalid_each(f"{entry}.name", name, messages))
            if name in names:
                errors.append(duplicate(f"{entry}.name", name))
            elif not messages:
                names.add(name)
        errors.extend(_source_errors(entry, volume))
    return names, errors


def _source_errors(path: str, volume: dict[str, Any]) -> list[FieldError]:
    present = [source for source in VOLUME_SOURCES if volume.get(source) is not None]
    if not present:
        return [required(path, "must specify a volume type")]
    errors = [forbidden(f"{path}.{source}", "may not specify more than 1 volume type") for source in present[1:]]
    source = present[0]
    body = as_dict(volume.get(source))
    checker = _SOURCE_CHECKS.get(source)
    if checker is not None:
        errors.extend(checker(f"{path}.{source}", body))
    return errors


def _host_path_errors(path: str, source: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not as_str(source.get("path")):
        errors.append(required(f"{path}.path"))
    kind = source.get("type", "")
    if kind is not None and kind not in HOST_PATH_TYPES:
        errors.append(not_supported(f"{path}.type", kind, HOST_PATH_TYPES))
    return errors


def _empty_dir_errors(path: str, source: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    medium = as_str(source.get("medium"))
    if medium not in ("", "Memory") and not medium.startswith("HugePages"):
        errors.append(not_supported(f"{path}.medium", medium, ("", "Memory", "HugePages")))
    if source.get("sizeLimit") is not None:
        errors.extend(quantity_errors(f"{path}.sizeLimit", source["sizeLimit"])[1])
    return errors


def _mode_errors(path: str, value: object) -> list[FieldError]:
    if value is None:
        return []
    mode = as_int(value)
    if mode is None or not 0 <= mode <= MAX_FILE_MODE:
        return [invalid(path, value, FILE_MODE_MESSAGE)]
    return []


def _key_to_path_errors(path: str, items: object) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, raw in enumerate(as_list(items)):
        item = as_dict(raw)
        entry = f"{path}[{index}]"
        key = as_str(item.get("key"))
        if not key:
            errors.append(required(f"{entry}.key"))
        errors.extend(relative_path_errors(f"{entry}.path", item.get("path")))
        errors.extend(_mode_errors(f"{entry}.mode", item.get("mode")))
    return errors


def relative_path_errors(path: str, value: object) -> list[FieldError]:
    """Check a path that must stay inside a volume: relative, with no ".." element."""
    target = as_str(value)
    if not target:
        return [required(path)]
    if target.startswith("/"):
        return [invalid(path, target, "must be a relative path")]
    if ".." in target.split("/"):
        return [invalid(path, target, "must not contain '..'")]
    return []


def _named_source_errors(name_key: str) -> SourceCheck:
    def check(path: str, source: dict[str, Any]) -> list[FieldError]:
        errors: list[FieldError] = []
        name = as_str(source.get(name_key))
        if not name:
            errors.append(required(f"{path}.{name_key}"))
        else:
            errors.extend(invalid_each(f"{path}.{name_key}", name, name_is_dns_subdomain(name, False)))
        errors.extend(_mode_errors(f"{path}.defaultMode", source.get("defaultMode")))
        errors.extend(_key_to_path_errors(f"{path}.items", source.get("items")))
        return errors

    return check


def _pvc_errors(path: str, source: dict[str, Any]) -> list[FieldError]:
    if not as_str(source.get("claimName")):
        return [required(f"{path}.claimName")]
    return []


def _downward_api_errors(path: str, source: dict[str, Any]) -> list[FieldError]:
    errors = _mode_errors(f"{path}.defaultMode", source.get("defaultMode"))
    for index, raw in enumerate(as_list(source.get("items"))):
        item = as_dict(raw)
        entry = f"{path}.items[{index}]"
        errors.extend(relative_path_errors(f"{entry}.path", item.get("path")))
        errors.extend(_mode_errors(f"{entry}.mode", item.get("mode")))
        has_field = item.get("fieldRef") is not None
        has_resource = item.get("resourceFieldRef") is not None
        if has_field and has_resource:
            errors.append(invalid(entry, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
        elif not has_field and not has_resource:
            errors.append(required(entry, "one of fieldRef and resourceFieldRef is required"))
    return errors


def _projected_errors(path: str, source: dict[str, Any]) -> list[FieldError]:
    errors = _mode_errors(f"{path}.defaultMode", source.get("defaultMode"))
    for index, raw in enumerate(as_list(source.get("sources"))):
        projection = as_dict(raw)
        entry = f"{path}.sources[{index}]"
        present = [kind for kind in PROJECTION_SOURCES if projection.get(kind) is not None]
        if not present:
            errors.append(required(entry, "must specify one of: `configMap`, `secret`, `serviceAccountToken`, `downwardAPI` or `clusterTrustBundle`"))
        errors.extend(
            forbidden(f"{entry}.{kind}", "may not specify more than 1 volume type per source") for kind in present[1:]
        )
        if "serviceAccountToken" in present:
            errors.extend(_token_projection_errors(f"{entry}.serviceAccountToken", as_dict(projection["serviceAccountToken"])))
        for kind in ("secret", "configMap"):
            if kind in present:
                errors.extend(_key_to_path_errors(f"{entry}.{kind}.items", as_dict(projection[kind]).get("items")))
    return errors


def _token_projection_errors(path: str, source: dict[str, Any]) -> list[FieldError]:
    errors = relative_path_errors(f"{path}.path", source.get("path"))
    seconds = as_int(source.get("expirationSeconds"))
    if seconds is not None and seconds < MIN_TOKEN_EXPIRATION_SECONDS:
        errors.append(invalid(f"{path}.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"))
    return errors


_SOURCE_CHECKS: dict[str, SourceCheck] = {
    "hostPath": _host_path_errors,
    "emptyDir": _empty_dir_errors,
    "configMap": _named_source_errors("name"),
    "secret": _named_source_errors("secretName"),
    "persistentVolumeClaim": _pvc_errors,
    "downwardAPI": _downward_api_errors,
    "projected": _projected_errors,
}


def config_key_errors(path: str, key: str) -> list[FieldError]:
    """Check a ConfigMap or Secret key referenced from a pod."""
    if not key:
        return [required(path)]
    return invalid_each(path, key, config_key_messages(key))
