"""Kubeconfig files: build the admin entry, write it, and merge it into an existing file.

A kubeconfig names clusters, users and contexts in three lists of
``{name, cluster|user|context}`` entries. ``build_kubeconfig`` makes one of
each with the CA and the credentials embedded as base64 data, so the file
works on its own when copied to another machine. ``merge_kubeconfig``
replaces entries of the same names in an existing file and keeps every
other entry and key, so pointing ``--write-kubeconfig`` at ~/.kube/config
never drops a user's other clusters.

Files are written 0600 by atomic rename, because they hold credentials.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pykube_control.apiserver.auth.files import PRIVATE_MODE, write_file_atomic

logger = logging.getLogger("pykube.apiserver")

DEFAULT_NAME = "pykube"
"""Name of the cluster, user and context entries written for the admin."""

KubeConfig = dict[str, Any]

_SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


class KubeConfigError(Exception):
    """An existing kubeconfig file cannot be read or is not a kubeconfig."""


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_kubeconfig(
    server_url: str,
    ca_pem: bytes,
    *,
    token: str | None = None,
    client_certificate_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    name: str = DEFAULT_NAME,
    namespace: str | None = None,
) -> KubeConfig:
    """Build a kubeconfig with one cluster, user and context, all called ``name``, as current context.

    Pass either ``token`` or both ``client_certificate_pem`` and
    ``client_key_pem``; raise ValueError otherwise.
    """
    user: dict[str, str]
    if token is not None and client_certificate_pem is None and client_key_pem is None:
        user = {"token": token}
    elif token is None and client_certificate_pem is not None and client_key_pem is not None:
        user = {
            "client-certificate-data": _base64(client_certificate_pem),
            "client-key-data": _base64(client_key_pem),
        }
    else:
        raise ValueError(
            "kubeconfig credentials: pass either token or both client_certificate_pem and client_key_pem"
        )

    context: dict[str, str] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server_url, "certificate-authority-data": _base64(ca_pem)}}
        ],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
    }


def dump_kubeconfig(config: Mapping[str, Any]) -> bytes:
    text: str = yaml.safe_dump(dict(config), default_flow_style=False, sort_keys=False)
    return text.encode()


def write_kubeconfig(path: Path, config: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``config`` (mode 0600, atomic)."""
    write_file_atomic(path, dump_kubeconfig(config), PRIVATE_MODE)
    logger.info("wrote kubeconfig path=%s", path)


def load_kubeconfig(path: Path) -> KubeConfig:
    """Read a kubeconfig; an empty file is an empty config. Raise KubeConfigError naming the file."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise KubeConfigError(f"{path}: cannot be read ({error})") from error
    except yaml.YAMLError as error:
        raise KubeConfigError(f"{path}: invalid YAML ({error}); fix or move the file") from error
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise KubeConfigError(
            f"{path}: is a YAML {type(loaded).__name__}, expected a kubeconfig mapping; fix or move the file"
        )
    for section, _ in _SECTIONS:
        if loaded.get(section) is not None and not isinstance(loaded[section], list):
            raise KubeConfigError(f"{path}: {section} is not a list; fix or move the file")
    return loaded


def merge_entries(existing: Mapping[str, Any], update: Mapping[str, Any], *, set_current: bool = True) -> KubeConfig:
    """Return ``existing`` with the clusters, users and contexts of ``update`` replacing same-named ones.

    Entries keep their position; new ones are appended. Other top-level keys
    of ``existing`` (preferences, extensions) stay. With ``set_current`` the
    current context becomes that of ``update``.
    """
    merged: KubeConfig = dict(existing)
    merged.setdefault("apiVersion", "v1")
    merged.setdefault("kind", "Config")
    for section, _ in _SECTIONS:
        entries = list(merged.get(section) or [])
        for entry in update.get(section) or []:
            index = next(
                (i for i, old in enumerate(entries) if isinstance(old, dict) and old.get("name") == entry["name"]),
                None,
            )
            if index is None:
                entries.append(entry)
            else:
                entries[index] = entry
        merged[section] = entries
    if set_current and update.get("current-context"):
        merged["current-context"] = update["current-context"]
    merged.setdefault("preferences", {})
    return merged


def merge_kubeconfig(path: Path, update: Mapping[str, Any], *, set_current: bool = True) -> bool:
    """Merge ``update`` into the kubeconfig at ``path``, creating it if missing; return True when written.

    The file is left untouched when the merge changes nothing, so a restart
    does not rewrite an unchanged kubeconfig.
    """
    existing = load_kubeconfig(path) if path.exists() else {}
    merged = merge_entries(existing, update, set_current=set_current)
    if path.exists() and merged == existing:
        return False
    write_kubeconfig(path, merged)
    return True
