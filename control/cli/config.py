"""Defaults shared by every pykube command: the data directory and the store URL."""

from __future__ import annotations

import os
from pathlib import Path

STORE_FILE = "state.db"
"""Name of the SQLite store file inside the data directory."""


def default_data_dir() -> Path:
    """Return /var/lib/pykube for root and ~/.local/share/pykube for anyone else."""
    if os.geteuid() == 0:
        return Path("/var/lib/pykube")
    return Path.home() / ".local" / "share" / "pykube"


def store_url(data_dir: Path, etcd_endpoints: str | None) -> str:
    """Return the store URL: etcd when endpoints are given, else SQLite in ``data_dir``."""
    if etcd_endpoints:
        return "etcd://" + parse_etcd_endpoints(etcd_endpoints)
    return f"sqlite://{(data_dir / STORE_FILE).resolve()}"


def parse_etcd_endpoints(text: str) -> str:
    """Return comma-separated etcd endpoints as host:port, accepting the http:// URLs etcd prints.

    Raise ValueError for an https:// endpoint (the etcd client speaks plain
    gRPC only) and for an entry with no port.
    """
    result = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        if entry.startswith("https://"):
            raise ValueError(f"etcd endpoint {entry!r} uses TLS, which pykube's etcd client does not support yet; use http://")
        host_port = entry.removeprefix("http://").rstrip("/")
        if ":" not in host_port.rsplit("]", 1)[-1]:
            raise ValueError(f"etcd endpoint {entry!r} has no port; write it as host:port, such as 127.0.0.1:2379")
        result.append(host_port)
    if not result:
        raise ValueError(f"no etcd endpoint in {text!r}; give host:port entries separated by commas")
    return ",".join(result)
