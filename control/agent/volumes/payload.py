"""Files of configMap, secret and projected volumes as pure functions of (volume source, fetched data).

Each function returns a ``Payload``: relative file path to (content, mode).
Nothing here touches the disk or the API, so the key, items, defaultMode and
optional rules are tested as plain data; ``atomic_writer`` writes the result.

The rules follow the kubelet. Without ``items`` every key becomes a file
named after it, and with ``items`` only the listed keys are written, at
their ``path``. A listed key that is missing is an error unless the source is
``optional``, and then it is left out. A missing ConfigMap or Secret gives an
empty payload when optional and is an error otherwise. Modes default to
``defaultMode``, which defaults to 0644.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from typing import Any

from pykube_control.agent.volumes.errors import VolumeError

log = logging.getLogger("pykube.agent.volumes")

Object = dict[str, Any]
Payload = dict[str, tuple[bytes, int]]
"""Relative path (such as "conf/app.yaml") to (content, permission bits)."""

DEFAULT_MODE = 0o644
"""The kubelet's default file mode for configMap, secret, downwardAPI and projected volumes."""

DownwardResolver = Callable[[str, list[Object], int], Payload]
"""Build the payload of downwardAPI ``items`` for a volume name and default mode."""


def configmap_payload(volume: str, source: Mapping[str, Any], configmap: Object | None) -> Payload:
    """Build the files of a configMap volume source from the fetched ConfigMap (None: not found)."""
    mode = _default_mode(source)
    if configmap is None:
        return _missing_object(volume, source, "configmap")
    data: dict[str, bytes] = {key: str(value).encode() for key, value in (configmap.get("data") or {}).items()}
    for key, value in (configmap.get("binaryData") or {}).items():
        data[key] = _decode_base64(volume, "configmap", key, value)
    return _select_items(volume, source, data, mode, "configmap")


def secret_payload(volume: str, source: Mapping[str, Any], secret: Object | None) -> Payload:
    """Build the files of a secret volume source from the fetched Secret (None: not found)."""
    mode = _default_mode(source)
    if secret is None:
        return _missing_object(volume, source, "secret")
    data = {key: _decode_base64(volume, "secret", key, value) for key, value in (secret.get("data") or {}).items()}
    for key, value in (secret.get("stringData") or {}).items():
        # The API server folds stringData into data on write; a raw object may still carry it.
        data[key] = str(value).encode()
    return _select_items(volume, source, data, mode, "secret")


def projected_payload(
    volume: str,
    source: Mapping[str, Any],
    fetched: Mapping[tuple[str, str], Object | None],
    downward: DownwardResolver,
) -> Payload:
    """Merge the files of every source of a projected volume.

    ``fetched`` maps ("configmap" or "secret", name) to the fetched object or
    None. Each source's own ``items[].mode`` wins over the projected
    ``defaultMode``. Paths are unique because the API server rejects
    projections whose paths collide.
    """
    mode = _default_mode(source)
    payload: Payload = {}
    for projection in source.get("sources") or []:
        if "configMap" in projection:
            sub = {**projection["configMap"], "defaultMode": mode}
            payload.update(configmap_payload(volume, sub, fetched.get(("configmap", sub.get("name", "")))))
        elif "secret" in projection:
            sub = {**projection["secret"], "defaultMode": mode}
            payload.update(secret_payload(volume, sub, fetched.get(("secret", sub.get("name", "")))))
        elif "downwardAPI" in projection:
            payload.update(downward(volume, projection["downwardAPI"].get("items") or [], mode))
        else:
            # NOTE: serviceAccountToken and clusterTrustBundle projections are
            # not written yet, because this API server serves no TokenRequest.
            log.warning("skipped unsupported projection volume=%s sources=%s", volume, ",".join(sorted(projection)))
    return payload


def _default_mode(source: Mapping[str, Any]) -> int:
    mode = source.get("defaultMode")
    return DEFAULT_MODE if mode is None else int(mode)


def _missing_object(volume: str, source: Mapping[str, Any], kind: str) -> Payload:
    name = source.get("name") or source.get("secretName") or ""
    if source.get("optional"):
        return {}
    raise VolumeError(volume, f'{kind} "{name}" not found; create it or mark the volume source optional')


def _select_items(volume: str, source: Mapping[str, Any], data: dict[str, bytes], mode: int, kind: str) -> Payload:
    items = source.get("items") or []
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    payload: Payload = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if source.get("optional"):
                continue
            noun = "config key" if kind == "configmap" else "secret key"
            raise VolumeError(
                volume, f"{kind} references non-existent {noun}: {key}; add the key or mark the source optional"
            )
        item_mode = item.get("mode")
        payload[item["path"]] = (data[key], mode if item_mode is None else int(item_mode))
    return payload


def _decode_base64(volume: str, kind: str, key: str, value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise VolumeError(volume, f"{kind} key {key!r} is not valid base64; fix the object's data") from None
