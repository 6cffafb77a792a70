"""Storage of API objects: one async contract (interface.Store), two backends.

``open_store`` picks the backend from a URL so that daemons and tests name a
store the same way: ``sqlite:///abs/path/state.db`` (or a plain path) for
the embedded SQLite store, ``etcd://host:port[,host:port...]`` for etcd v3.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pykube_control.store.interface import Store


async def open_store(url: str) -> Store:
    """Open the store named by ``url``; raise ValueError for an unknown scheme."""
    if "://" not in url:
        from pykube_control.store.sqlite import SQLiteStore

        return await SQLiteStore.open(url)
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        from pykube_control.store.sqlite import SQLiteStore

        if not parts.path:
            raise ValueError(f"store URL {url!r} has no file path; use sqlite:///path/to/state.db")
        return await SQLiteStore.open(parts.path)
    if parts.scheme == "etcd":
        from pykube_control.store.etcd import EtcdStore

        endpoints = [e for e in parts.netloc.split(",") if e]
        if not endpoints:
            raise ValueError(f"store URL {url!r} names no endpoint; use etcd://127.0.0.1:2379")
        return EtcdStore(endpoints, key_prefix=parts.path.rstrip("/"))
    raise ValueError(f"store URL {url!r} has unknown scheme {parts.scheme!r}; use sqlite:// or etcd://")
