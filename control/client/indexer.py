"""The informer's local cache: objects by key, with secondary indexes.

Keys are "<namespace>/<name>" for namespaced objects and "<name>" for
cluster-scoped ones, as client-go's MetaNamespaceKeyFunc makes them, so a
key read from a work queue finds its object here. An index function maps an
object to zero or more values (a namespace, owner uids) and ``by_index``
returns every object with a value. Indexes are updated on every write, so
reads never scan the whole cache. Only the informer writes; components
read through ``get``, ``list`` and ``by_index``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Object = dict[str, Any]
IndexFunc = Callable[[Object], Sequence[str]]

BY_NAMESPACE = "by_namespace"
BY_OWNER_UID = "by_owner_uid"


def object_key(obj: Object) -> str:
    """Return "<namespace>/<name>", or "<name>" for an object without a namespace."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        raise ValueError(f"object of kind {obj.get('kind')!r} has no metadata.name, so it has no cache key")
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)


def split_key(key: str) -> tuple[str | None, str]:
    """Return (namespace, name) of a key made by ``object_key``; namespace is None for cluster objects."""
    namespace, _, name = key.rpartition("/")
    return (namespace or None), name


def namespace_index(obj: Object) -> Sequence[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


def owner_uid_index(obj: Object) -> Sequence[str]:
    references = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(ref["uid"]) for ref in references if isinstance(ref, dict) and ref.get("uid")]


DEFAULT_INDEXERS: Mapping[str, IndexFunc] = {BY_NAMESPACE: namespace_index, BY_OWNER_UID: owner_uid_index}


class Indexer:
    """Objects by key with named indexes; not thread-safe, meant for one event loop."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._objects: dict[str, Object] = {}
        self._index_funcs: dict[str, IndexFunc] = dict(DEFAULT_INDEXERS)
        self._index_funcs.update(indexers or {})
        self._indexes: dict[str, dict[str, set[str]]] = {name: {} for name in self._index_funcs}

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Add an index and build it from the objects already cached; raise ValueError when ``name`` exists."""
        if name in self._index_funcs:
            raise ValueError(f"indexer {name!r} already exists; choose another name")
        self._index_funcs[name] = func
        self._indexes[name] = {}
        for key, obj in self._objects.items():
            self._index_one(name, key, obj)

    def get(self, key: str) -> Object | None:
        return self._objects.get(key)

    def get_by_name(self, name: str, namespace: str | None = None) -> Object | None:
        return self._objects.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> builtins.list[Object]:
        return list(self._objects.values())

    def keys(self) -> builtins.list[str]:
        return list(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def by_index(self, index: str, value: str) -> builtins.list[Object]:
        """Return the objects whose ``index`` function produced ``value``; raise KeyError for an unknown index."""
        if index not in self._indexes:
            raise KeyError(f"no indexer named {index!r}; known: {sorted(self._indexes)}")
        return [self._objects[key] for key in self._indexes[index].get(value, ())]

    def index_values(self, index: str) -> builtins.list[str]:
        """Return the values ``index`` currently has objects for."""
        return list(self._indexes[index])

    # --- writes, by the informer ------------------------------------------------------------

    def put(self, key: str, obj: Object) -> Object | None:
        """Store ``obj`` under ``key`` and return the object it replaced, if any."""
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = obj
        for name in self._index_funcs:
            self._index_one(name, key, obj)
        return old

    def remove(self, key: str) -> Object | None:
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, objects: Iterable[tuple[str, Object]]) -> None:
        self._objects = {}
        self._indexes = {name: {} for name in self._index_funcs}
        for key, obj in objects:
            self.put(key, obj)

    def _index_one(self, name: str, key: str, obj: Object) -> None:
        for value in self._index_funcs[name](obj):
            self._indexes[name].setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Object) -> None:
        for name, func in self._index_funcs.items():
            index = self._indexes[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is None:
                    continue
                keys.discard(key)
                if not keys:
                    del index[value]
