"""Kubeconfig files: written 0600, readable by kubectl, merged without dropping other entries."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pykube_control.apiserver.auth import kubeconfig
from pykube_control.apiserver.auth.kubeconfig import KubeConfigError

CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
SERVER = "https://127.0.0.1:6443"

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")

OTHER_CONFIG: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example.com"}}],
    "users": [{"name": "prod-admin", "user": {"token": "prod-token"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-admin"}}],
    "current-context": "prod",
    "preferences": {"colors": True},
}


def _kubectl_view(path: Path) -> dict[str, Any]:
    output = subprocess.run(
        ["kubectl", "config", "view", "--raw", "-o", "json", "--kubeconfig", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    loaded: dict[str, Any] = json.loads(output)
    return loaded


def _names(config: dict[str, Any], section: str) -> list[str]:
    return [entry["name"] for entry in config.get(section) or []]


@needs_kubectl
def test_token_config_read_by_kubectl(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    kubeconfig.write_kubeconfig(path, kubeconfig.build_kubeconfig(SERVER, CA_PEM, token="t0k3n"))

    view = _kubectl_view(path)

    assert view["current-context"] == "pykube"
    assert view["clusters"][0]["cluster"]["server"] == SERVER
    assert base64.b64decode(view["clusters"][0]["cluster"]["certificate-authority-data"]) == CA_PEM
    assert view["users"][0]["user"]["token"] == "t0k3n"
    assert view["contexts"][0]["context"] == {"cluster": "pykube", "user": "pykube"}


@needs_kubectl
def test_certificate_config_read_by_kubectl(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    config = kubeconfig.build_kubeconfig(
        SERVER, CA_PEM, client_certificate_pem=b"CERT", client_key_pem=b"KEY", namespace="dev"
    )
    kubeconfig.write_kubeconfig(path, config)

    view = _kubectl_view(path)

    user = view["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == b"CERT"
    assert base64.b64decode(user["client-key-data"]) == b"KEY"
    assert view["contexts"][0]["context"]["namespace"] == "dev"


def test_written_private(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"

    kubeconfig.write_kubeconfig(path, kubeconfig.build_kubeconfig(SERVER, CA_PEM, token="t"))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({}, id="no credentials"),
        pytest.param({"token": "t", "client_certificate_pem": b"C", "client_key_pem": b"K"}, id="both"),
        pytest.param({"client_certificate_pem": b"C"}, id="certificate without key"),
    ],
)
def test_build_credentials_invalid(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="pass either token or both"):
        kubeconfig.build_kubeconfig(SERVER, CA_PEM, **arguments)


@needs_kubectl
def test_merge_keeps_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER_CONFIG))

    written = kubeconfig.merge_kubeconfig(path, kubeconfig.build_kubeconfig(SERVER, CA_PEM, token="t"))

    view = _kubectl_view(path)
    assert written
    assert _names(view, "clusters") == ["prod", "pykube"]
    assert _names(view, "users") == ["prod-admin", "pykube"]
    assert _names(view, "contexts") == ["prod", "pykube"]
    assert view["current-context"] == "pykube"
    assert view["preferences"] == {"colors": True}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_merge_replaces_same_name(tmp_path: Path) -> None:
    path = tmp_path / "config"
    kubeconfig.write_kubeconfig(path, kubeconfig.merge_entries(OTHER_CONFIG, kubeconfig.build_kubeconfig(SERVER, CA_PEM, token="old")))

    kubeconfig.merge_kubeconfig(path, kubeconfig.build_kubeconfig("https://127.0.0.1:7443", CA_PEM, token="new"))

    merged = kubeconfig.load_kubeconfig(path)
    assert _names(merged, "users") == ["prod-admin", "pykube"]
    assert merged["users"][1]["user"] == {"token": "new"}
    assert merged["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:7443"


def test_merge_keep_current_context(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER_CONFIG))

    kubeconfig.merge_kubeconfig(path, kubeconfig.build_kubeconfig(SERVER, CA_PEM, token="t"), set_current=False)

    assert kubeconfig.load_kubeconfig(path)["current-context"] == "prod"


def test_merge_unchanged_not_written(tmp_path: Path) -> None:
    path = tmp_path / "config"
    config = kubeconfig.build_kubeconfig(SERVER, CA_PEM, token="t")
    kubeconfig.merge_kubeconfig(path, config)
    before = path.stat().st_mtime_ns

    written = kubeconfig.merge_kubeconfig(path, config)

    assert not written
    assert path.stat().st_mtime_ns == before


def test_merge_into_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("")

    kubeconfig.merge_kubeconfig(path, kubeconfig.build_kubeconfig(SERVER, CA_PEM, token="t"))

    assert _names(kubeconfig.load_kubeconfig(path), "contexts") == ["pykube"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("clusters: [unclosed\n", "invalid YAML", id="invalid yaml"),
        pytest.param("- a\n- b\n", "expected a kubeconfig mapping", id="list document"),
        pytest.param("clusters: {}\n", "clusters is not a list", id="clusters mapping"),
    ],
)
def test_load_invalid(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config"
    path.write_text(content)

    with pytest.raises(KubeConfigError, match=message) as raised:
        kubeconfig.merge_kubeconfig(path, kubeconfig.build_kubeconfig(SERVER, CA_PEM, token="t"))

    assert str(path) in str(raised.value)
    assert path.read_text() == content
