"""ConfigMap, Secret and ServiceAccount: data keys, sizes, secret types, immutability.

A Secret's ``stringData`` is write-only in Kubernetes: the API server merges
it into ``data`` (base64-encoded, stringData winning) and never stores it.
Defaulting does the same here, so validation checks ``data`` only.

Differences from Kubernetes: a ``data`` value that is not base64 is an
"Invalid value" field error here, where Kubernetes fails the JSON decoding
of the whole request with a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pykube_core.errors import FieldError

from pykube_control.apiserver.validation.fielderrors import (
    check_immutable,
    forbidden,
    invalid,
    invalid_each,
    required,
    too_long,
)
from pykube_control.apiserver.validation.formats import config_key_messages
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.wire import as_dict, as_str, dig, set_default

MAX_DATA_SIZE = 1024 * 1024
"""Bytes of all values of one ConfigMap or Secret, Kubernetes' MaxSecretSize (etcd's request limit)."""

SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name"
REDACTED = "<secret contents redacted>"
IMMUTABLE_SET_MESSAGE = "field is immutable when `immutable` is set"

# Keys a Secret of each built-in type must carry in data.
_DOCKER_KEYS = {"kubernetes.io/dockercfg": ".dockercfg", "kubernetes.io/dockerconfigjson": ".dockerconfigjson"}


def decode_base64(value: object) -> bytes | None:
    """Decode a base64 data value as Go's encoding/json does; None when it is not valid."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _data_key_errors(path: str, data: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in sorted(data):
        errors.extend(invalid_each(f"{path}[{key}]", key, config_key_messages(key)))
    return errors


def validate_config_map(obj: dict[str, Any]) -> list[FieldError]:
    data = as_dict(obj.get("data"))
    binary = as_dict(obj.get("binaryData"))
    errors = _data_key_errors("data", data)
    errors.extend(_data_key_errors("binaryData", binary))
    size = 0
    for key, value in sorted(data.items()):
        if key in binary:
            errors.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        if not isinstance(value, str):
            errors.append(invalid(f"data[{key}]", value, "must be a string"))
        size += len(as_str(value).encode())
    for key, value in sorted(binary.items()):
        decoded = decode_base64(value)
        if decoded is None:
            errors.append(invalid(f"binaryData[{key}]", REDACTED, "must be base64-encoded"))
        size += len(decoded or b"")
    if size > MAX_DATA_SIZE:
        errors.append(too_long("", "", MAX_DATA_SIZE))
    return errors


def _immutable_data_errors(new: dict[str, Any], old: dict[str, Any], keys: tuple[str, ...]) -> list[FieldError]:
    """Reject data changes, and unsetting ``immutable``, once an object is immutable."""
    if old.get("immutable") is not True:
        return []
    errors: list[FieldError] = []
    if new.get("immutable") is not True:
        errors.append(forbidden("immutable", IMMUTABLE_SET_MESSAGE))
    for key in keys:
        if as_dict(new.get(key)) != as_dict(old.get(key)):
            errors.append(forbidden(key, IMMUTABLE_SET_MESSAGE))
    return errors


def validate_config_map_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    return _immutable_data_errors(new, old, ("data", "binaryData"))


def default_secret(obj: dict[str, Any]) -> None:
    """Default the type to Opaque and merge stringData into data."""
    set_default(obj, "type", "Opaque")
    string_data = obj.get("stringData")
    if not isinstance(string_data, dict):
        return
    data = obj.get("data")
    if data is None:
        data = obj["data"] = {}
    if not isinstance(data, dict):
        return
    for key, value in string_data.items():
        data[key] = base64.b64encode(as_str(value).encode()).decode()
    del obj["stringData"]


def validate_secret(obj: dict[str, Any]) -> list[FieldError]:
    data = as_dict(obj.get("data"))
    errors = _data_key_errors("data", data)
    decoded: dict[str, bytes] = {}
    for key, value in sorted(data.items()):
        raw = decode_base64(value)
        if raw is None:
            errors.append(invalid(f"data[{key}]", REDACTED, "must be base64-encoded"))
        else:
            decoded[key] = raw
    if sum(len(value) for value in decoded.values()) > MAX_DATA_SIZE:
        errors.append(too_long("data", "", MAX_DATA_SIZE))
    errors.extend(_secret_type_errors(obj, data, decoded))
    return errors


def _secret_type_errors(obj: dict[str, Any], data: dict[str, Any], decoded: dict[str, bytes]) -> list[FieldError]:
    kind = as_str(obj.get("type"))
    if kind == "kubernetes.io/service-account-token":
        if not as_str(dig(obj, "metadata", "annotations", SERVICE_ACCOUNT_NAME_ANNOTATION)):
            return [required(f"metadata.annotations[{SERVICE_ACCOUNT_NAME_ANNOTATION}]")]
    elif kind in _DOCKER_KEYS:
        key = _DOCKER_KEYS[kind]
        if key not in data:
            return [required(f"data[{key}]")]
        try:
            json.loads(decoded.get(key, b""))
        except ValueError as error:
            return [invalid(f"data[{key}]", REDACTED, str(error))]
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            return [required("data[username]"), required("data[password]")]
    elif kind == "kubernetes.io/ssh-auth":
        if not decoded.get("ssh-privatekey"):
            return [required("data[ssh-privatekey]")]
    elif kind == "kubernetes.io/tls":
        return [required(f"data[{key}]") for key in ("tls.crt", "tls.key") if key not in data]
    return []


def validate_secret_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    errors = check_immutable("type", new.get("type"), old.get("type"))
    errors.extend(_immutable_data_errors(new, old, ("data",)))
    return errors


CONFIG_MAP = KindRules(validate=validate_config_map, validate_update=validate_config_map_update)
SECRET = KindRules(defaults=default_secret, validate=validate_secret, validate_update=validate_secret_update)
SERVICE_ACCOUNT = KindRules()
