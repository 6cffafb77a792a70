"""Loading a kubeconfig into the ``ClientConfig`` that ``APIClient`` connects with.

The file is found as kubectl finds it: an explicit ``--kubeconfig`` path,
then the files listed in $KUBECONFIG, then ~/.kube/config. When $KUBECONFIG
lists several files they are merged as kubectl merges them: the first file
that defines a named cluster, user or context, or the current-context, wins.
Paths inside a file (certificate-authority, client-certificate, client-key,
tokenFile) are relative to the directory of that file.

Every error names the file and the field, and says what to set.

Differences from kubectl: exec and auth-provider credential plugins,
proxy-url and tls-server-name are not supported. A user entry that relies
on a plugin raises ``KubeconfigError`` rather than connecting anonymously.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

DEFAULT_NAMESPACE = "default"
KUBECONFIG_ENV = "KUBECONFIG"


class KubeconfigError(Exception):
    """A kubeconfig is missing, unreadable, or lacks a field the connection needs."""


@dataclasses.dataclass(frozen=True, slots=True)
class ClientConfig:
    """Where the API server is and how to authenticate to it."""

    server: str
    """Base URL such as https://127.0.0.1:6443, without a trailing slash."""
    ca_data: bytes | None = None
    """PEM of the CA that signed the serving certificate; None trusts the system CAs."""
    client_certificate_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = None
    token_file: Path | None = None
    """A bearer token file, read again when it changes (bound service account tokens rotate)."""
    insecure_skip_tls_verify: bool = False
    namespace: str = DEFAULT_NAMESPACE
    """The context's namespace, used when a namespaced call names none."""
    source: str = "<memory>"
    """The kubeconfig file(s) the values came from, for error messages."""

    @classmethod
    def for_url(cls, server: str, *, token: str | None = None) -> ClientConfig:
        """Build a config for ``server`` without TLS settings (such as an insecure loopback server)."""
        return cls(server=server.rstrip("/"), token=token)


def kubeconfig_paths(explicit: str | os.PathLike[str] | None = None) -> list[Path]:
    """Return the kubeconfig files to read: ``explicit``, else $KUBECONFIG's list, else ~/.kube/config."""
    if explicit is not None and str(explicit) != "":
        return [Path(explicit)]
    from_env = os.environ.get(KUBECONFIG_ENV, "")
    listed = [Path(part) for part in from_env.split(os.pathsep) if part]
    if listed:
        return listed
    return [Path.home() / ".kube" / "config"]


def load_client_config(
    path: str | os.PathLike[str] | None = None, *, context: str | None = None
) -> ClientConfig:
    """Load the client config of ``context`` (the current-context when None).

    Raise KubeconfigError naming the file and the missing or invalid field.
    """
    paths = kubeconfig_paths(path)
    explicit = path is not None and str(path) != ""
    documents = _read_documents(paths, explicit)
    source = os.pathsep.join(str(p) for p, _ in documents)
    merged = _merge(documents)

    context_name = context or merged.current_context
    if not context_name:
        raise KubeconfigError(
            f"{source}: current-context is not set; pass a context name or run "
            "`kubectl config use-context <name>`"
        )
    context_entry = _entry(merged.contexts, "context", context_name, source)
    cluster_name = _required_str(context_entry.body, "cluster", f"contexts[{context_name}].context", context_entry.path)
    user_name = context_entry.body.get("user")
    cluster = _entry(merged.clusters, "cluster", cluster_name, source)
    user = _entry(merged.users, "user", user_name, source) if user_name else _Entry({}, cluster.path)
    return _client_config(context_name, context_entry.body, cluster, user, source)


# --- reading and merging ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    body: Mapping[str, Any]
    path: Path
    """The file the entry came from; relative paths in it resolve against its directory."""


@dataclasses.dataclass(slots=True)
class _Merged:
    clusters: dict[str, _Entry] = dataclasses.field(default_factory=dict)
    users: dict[str, _Entry] = dataclasses.field(default_factory=dict)
    contexts: dict[str, _Entry] = dataclasses.field(default_factory=dict)
    current_context: str | None = None


def _read_documents(paths: Sequence[Path], explicit: bool) -> list[tuple[Path, Mapping[str, Any]]]:
    documents = []
    for path in paths:
        if not path.exists():
            # kubectl skips missing $KUBECONFIG entries, but a path the user named must exist.
            if explicit or len(paths) == 1:
                raise KubeconfigError(
                    f"{path}: kubeconfig file not found; pass --kubeconfig or set ${KUBECONFIG_ENV} to an existing file"
                )
            continue
        documents.append((path, _read_document(path)))
    if not documents:
        listed = os.pathsep.join(str(p) for p in paths)
        raise KubeconfigError(f"{listed}: none of the kubeconfig files in ${KUBECONFIG_ENV} exists")
    return documents


def _read_document(path: Path) -> Mapping[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise KubeconfigError(f"{path}: cannot read the kubeconfig ({error})") from error
    except yaml.YAMLError as error:
        raise KubeconfigError(f"{path}: invalid YAML ({error})") from error
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise KubeconfigError(f"{path}: expected a kubeconfig mapping, got a YAML {type(loaded).__name__}")
    return loaded


def _merge(documents: Sequence[tuple[Path, Mapping[str, Any]]]) -> _Merged:
    merged = _Merged()
    sections = (("clusters", "cluster", merged.clusters), ("users", "user", merged.users),
                ("contexts", "context", merged.contexts))  # fmt: skip
    for path, document in documents:
        if merged.current_context is None and document.get("current-context"):
            merged.current_context = str(document["current-context"])
        for section, field, target in sections:
            entries = document.get(section) or []
            if not isinstance(entries, list):
                raise KubeconfigError(f"{path}: {section} must be a list of {{name, {field}}} entries")
            for index, entry in enumerate(entries):
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise KubeconfigError(f"{path}: {section}[{index}] has no name")
                body = entry.get(field)
                if not isinstance(body, dict):
                    raise KubeconfigError(f"{path}: {section}[{index}] ({entry['name']}) has no {field} mapping")
                target.setdefault(entry["name"], _Entry(body, path))
    return merged


def _entry(entries: Mapping[str, _Entry], kind: str, name: str, source: str) -> _Entry:
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise KubeconfigError(f"{source}: {kind} {name!r} not found (defined {kind}s: {known})")
    return entries[name]


def _required_str(body: Mapping[str, Any], field: str, where: str, path: Path) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise KubeconfigError(f"{path}: {where}.{field} is missing; set it to a non-empty string")
    return value


# --- building the config ----------------------------------------------------------------


def _client_config(
    context_name: str, context: Mapping[str, Any], cluster: _Entry, user: _Entry, source: str
) -> ClientConfig:
    cluster_name = str(context["cluster"])
    user_name = str(context.get("user") or "")
    server = _required_str(cluster.body, "server", f"clusters[{cluster_name}].cluster", cluster.path)
    for plugin in ("exec", "auth-provider"):
        if user.body.get(plugin):
            raise KubeconfigError(
                f"{user.path}: users[{user_name}].user.{plugin} is not supported; "
                "use token, tokenFile or client-certificate-data/client-key-data"
            )

    certificate = _pem(user, user_name, "client-certificate")
    key = _pem(user, user_name, "client-key")
    if (certificate is None) != (key is None):
        missing = "client-key" if key is None else "client-certificate"
        raise KubeconfigError(
            f"{user.path}: users[{user_name}].user.{missing}(-data) is missing; "
            "a client certificate needs both the certificate and its key"
        )
    token_file = user.body.get("tokenFile")
    return ClientConfig(
        server=server.rstrip("/"),
        ca_data=_pem(cluster, cluster_name, "certificate-authority"),
        client_certificate_data=certificate,
        client_key_data=key,
        token=str(user.body["token"]) if user.body.get("token") else None,
        token_file=_resolve(user.path, str(token_file)) if token_file else None,
        insecure_skip_tls_verify=bool(cluster.body.get("insecure-skip-tls-verify", False)),
        namespace=str(context.get("namespace") or DEFAULT_NAMESPACE),
        source=source,
    )


def _pem(entry: _Entry, name: str, field: str) -> bytes | None:
    """Return the PEM of ``<field>-data`` (base64) or of the file ``<field>``; None when neither is set."""
    section = "clusters" if field == "certificate-authority" else "users"
    where = f"{section}[{name}].{section[:-1]}"
    data = entry.body.get(f"{field}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError) as error:
            raise KubeconfigError(f"{entry.path}: {where}.{field}-data is not valid base64 ({error})") from error
    file = entry.body.get(field)
    if not file:
        return None
    resolved = _resolve(entry.path, str(file))
    try:
        return resolved.read_bytes()
    except OSError as error:
        raise KubeconfigError(f"{entry.path}: {where}.{field} file {resolved} cannot be read ({error.strerror})") from error


def _resolve(kubeconfig: Path, file: str) -> Path:
    path = Path(file).expanduser()
    return path if path.is_absolute() else kubeconfig.parent / path
