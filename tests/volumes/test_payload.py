"""configMap, secret and projected payloads as pure functions of (source, object)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pykube_control.agent.volumes.errors import VolumeError
from pykube_control.agent.volumes.payload import Payload, configmap_payload, projected_payload, secret_payload

CONFIGMAP: dict[str, Any] = {
    "metadata": {"name": "app"},
    "data": {"a.yaml": "x: 1", "b": "two"},
    "binaryData": {"blob": base64.b64encode(b"\x00\x01").decode()},
}
SECRET: dict[str, Any] = {"metadata": {"name": "creds"}, "data": {"user": base64.b64encode(b"root").decode()}}


def no_downward(volume: str, items: list[dict[str, Any]], mode: int) -> Payload:
    return {item["path"]: (b"down", mode) for item in items}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param({"name": "app"}, {"a.yaml": (b"x: 1", 0o644), "b": (b"two", 0o644), "blob": (b"\x00\x01", 0o644)}, id="all keys"),
        pytest.param(
            {"name": "app", "items": [{"key": "b", "path": "dir/b.txt"}]}, {"dir/b.txt": (b"two", 0o644)}, id="items"
        ),
        pytest.param(
            {"name": "app", "defaultMode": 0o400, "items": [{"key": "b", "path": "b"}, {"key": "a.yaml", "path": "a", "mode": 0o600}]},
            {"b": (b"two", 0o400), "a": (b"x: 1", 0o600)},
            id="modes",
        ),
        pytest.param(
            {"name": "app", "optional": True, "items": [{"key": "gone", "path": "g"}]}, {}, id="optional missing key"
        ),
    ],
)
def test_configmap_payload(source: dict[str, Any], expected: Payload) -> None:
    assert configmap_payload("cfg", source, CONFIGMAP) == expected


def test_configmap_missing_key() -> None:
    with pytest.raises(VolumeError, match="non-existent config key: gone"):
        configmap_payload("cfg", {"name": "app", "items": [{"key": "gone", "path": "g"}]}, CONFIGMAP)


def test_configmap_missing_object() -> None:
    with pytest.raises(VolumeError, match='volume "cfg": configmap "app" not found'):
        configmap_payload("cfg", {"name": "app"}, None)


def test_configmap_missing_optional() -> None:
    assert configmap_payload("cfg", {"name": "app", "optional": True}, None) == {}


def test_secret_payload_decodes() -> None:
    assert secret_payload("s", {"secretName": "creds"}, SECRET) == {"user": (b"root", 0o644)}


def test_secret_missing_key() -> None:
    with pytest.raises(VolumeError, match="non-existent secret key: pass"):
        secret_payload("s", {"secretName": "creds", "items": [{"key": "pass", "path": "p"}]}, SECRET)


def test_secret_invalid_base64() -> None:
    with pytest.raises(VolumeError, match="not valid base64"):
        secret_payload("s", {"secretName": "bad"}, {"data": {"k": "!!!"}})


def test_projected_merges_sources() -> None:
    source = {
        "defaultMode": 0o440,
        "sources": [
            {"configMap": {"name": "app", "items": [{"key": "b", "path": "b"}]}},
            {"secret": {"name": "creds"}},
            {"downwardAPI": {"items": [{"path": "labels"}]}},
            {"serviceAccountToken": {"path": "token"}},
        ],
    }
    fetched = {("configmap", "app"): CONFIGMAP, ("secret", "creds"): SECRET}
    payload = projected_payload("p", source, fetched, no_downward)
    assert payload == {"b": (b"two", 0o440), "user": (b"root", 0o440), "labels": (b"down", 0o440)}


def test_projected_missing_required() -> None:
    with pytest.raises(VolumeError, match='secret "creds" not found'):
        projected_payload("p", {"sources": [{"secret": {"name": "creds"}}]}, {("secret", "creds"): None}, no_downward)
