"""Loading kubeconfig files into ClientConfig: credentials, file lookup and errors."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from pykube_control.client.kubeconfig import KubeconfigError, kubeconfig_paths, load_client_config

CA_PEM = b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"
CERT_PEM = b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n"
KEY_PEM = b"-----BEGIN EC PRIVATE KEY-----\nkey\n-----END EC PRIVATE KEY-----\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    user: dict[str, Any],
    cluster: dict[str, Any] | None = None,
    *,
    namespace: str | None = None,
    current: str | None = "main",
) -> dict[str, Any]:
    context: dict[str, Any] = {"cluster": "local", "user": "admin"}
    if namespace:
        context["namespace"] = namespace
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster or {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "admin", "user": user}],
        "contexts": [{"name": "main", "context": context}],
    }
    if current:
        document["current-context"] = current
    return document


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document))
    return path


def test_token_user(tmp_path: Path) -> None:
    path = write(tmp_path / "config", kubeconfig({"token": "abc"}, namespace="web"))
    config = load_client_config(path)
    assert config.server == "https://127.0.0.1:6443"
    assert config.token == "abc"
    assert config.namespace == "web"
    assert config.client_certificate_data is None


def test_client_certificate_data(tmp_path: Path) -> None:
    user = {"client-certificate-data": b64(CERT_PEM), "client-key-data": b64(KEY_PEM)}
    cluster = {"server": "https://127.0.0.1:6443", "certificate-authority-data": b64(CA_PEM)}
    config = load_client_config(write(tmp_path / "config", kubeconfig(user, cluster)))
    assert config.client_certificate_data == CERT_PEM
    assert config.client_key_data == KEY_PEM
    assert config.ca_data == CA_PEM


def test_files_relative_to_kubeconfig(tmp_path: Path) -> None:
    folder = tmp_path / "kube"
    folder.mkdir()
    (folder / "ca.crt").write_bytes(CA_PEM)
    (folder / "client.crt").write_bytes(CERT_PEM)
    (folder / "client.key").write_bytes(KEY_PEM)
    (folder / "token").write_text("from-file\n")
    user = {"client-certificate": "client.crt", "client-key": "client.key", "tokenFile": "token"}
    cluster = {"server": "https://127.0.0.1:6443", "certificate-authority": "ca.crt"}
    config = load_client_config(write(folder / "config", kubeconfig(user, cluster)))
    assert config.ca_data == CA_PEM
    assert config.client_certificate_data == CERT_PEM
    assert config.client_key_data == KEY_PEM
    assert config.token_file == folder / "token"


def test_insecure_skip_tls_verify(tmp_path: Path) -> None:
    cluster = {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}
    config = load_client_config(write(tmp_path / "config", kubeconfig({"token": "t"}, cluster)))
    assert config.insecure_skip_tls_verify is True


def test_default_namespace(tmp_path: Path) -> None:
    config = load_client_config(write(tmp_path / "config", kubeconfig({"token": "t"})))
    assert config.namespace == "default"


def test_named_context(tmp_path: Path) -> None:
    document = kubeconfig({"token": "t"})
    document["clusters"].append({"name": "other", "cluster": {"server": "https://192.0.2.1:6443/"}})
    document["contexts"].append({"name": "second", "context": {"cluster": "other", "user": "admin"}})
    config = load_client_config(write(tmp_path / "config", document), context="second")
    assert config.server == "https://192.0.2.1:6443"


def test_kubeconfig_env_merge_first_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = kubeconfig({"token": "first"})
    second = kubeconfig({"token": "second"}, current="ignored")
    paths = [write(tmp_path / "a", first), tmp_path / "missing", write(tmp_path / "b", second)]
    monkeypatch.setenv("KUBECONFIG", ":".join(str(p) for p in paths))
    config = load_client_config()
    assert config.token == "first"


def test_explicit_path_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "env"))
    assert kubeconfig_paths(tmp_path / "flag") == [tmp_path / "flag"]


def test_home_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig_paths() == [tmp_path / ".kube" / "config"]


@pytest.mark.parametrize(
    ("document", "context", "expected"),
    [
        pytest.param(kubeconfig({"token": "t"}, {"insecure-skip-tls-verify": True}), None,
                     r"clusters\[local\]\.cluster\.server is missing", id="cluster without server"),
        pytest.param(kubeconfig({"token": "t"}, current=None), None, "current-context is not set",
                     id="no current context"),
        pytest.param(kubeconfig({"token": "t"}), "absent", "context 'absent' not found", id="unknown context"),
        pytest.param(kubeconfig({"client-certificate-data": b64(CERT_PEM)}), None,
                     r"users\[admin\]\.user\.client-key\(-data\) is missing", id="certificate without key"),
        pytest.param(kubeconfig({"exec": {"command": "aws"}}), None, r"user\.exec is not supported",
                     id="exec plugin"),
        pytest.param(kubeconfig({"client-key-data": "%%%", "client-certificate-data": b64(CERT_PEM)}), None,
                     "client-key-data is not valid base64", id="bad base64"),
    ],
)  # fmt: skip
def test_invalid_kubeconfig(tmp_path: Path, document: dict[str, Any], context: str | None, expected: str) -> None:
    path = write(tmp_path / "config", document)
    with pytest.raises(KubeconfigError, match=expected) as caught:
        load_client_config(path, context=context)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="kubeconfig file not found"):
        load_client_config(tmp_path / "absent")


def test_unknown_user(tmp_path: Path) -> None:
    document = kubeconfig({"token": "t"})
    document["contexts"][0]["context"]["user"] = "nobody"
    with pytest.raises(KubeconfigError, match="user 'nobody' not found"):
        load_client_config(write(tmp_path / "config", document))


def test_missing_certificate_file(tmp_path: Path) -> None:
    cluster = {"server": "https://127.0.0.1:6443", "certificate-authority": "absent.crt"}
    with pytest.raises(KubeconfigError, match="certificate-authority file .*absent.crt cannot be read"):
        load_client_config(write(tmp_path / "config", kubeconfig({"token": "t"}, cluster)))


def test_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("- a\n- b\n")
    with pytest.raises(KubeconfigError, match="expected a kubeconfig mapping"):
        load_client_config(path)
