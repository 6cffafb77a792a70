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
        return "etcd://" + etcd_endpoints
    return f"sqlite://{(data_dir / STORE_FILE).resolve()}"
