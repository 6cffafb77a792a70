"""Where API objects live in the store, and how they are encoded there.

Keys are ``/registry/<resource>/<namespace>/<name>`` for namespaced objects
and ``/registry/<resource>/<name>`` for cluster-scoped ones, where
``<resource>`` is the qualified plural ("pods", "deployments.apps"), so
every resource has its own prefix for list and watch.

Values are the object's JSON without ``metadata.resourceVersion``: the
version is the store's ``mod_revision`` and is put back when an object is
read, so a stored object never disagrees with its own revision.

Known difference from Kubernetes: core/v1 and events.k8s.io/v1 Events are
stored apart, so an Event written through one group is not listed through
the other.
"""

from __future__ import annotations

from typing import Any

import orjson

from pykube_control.apiserver.resources import ResourceType
from pykube_control.store.interface import KeyValue

Object = dict[str, Any]


def object_key(resource: ResourceType, namespace: str | None, name: str) -> str:
    if resource.namespaced:
        return f"/registry/{resource.qualified}/{namespace}/{name}"
    return f"/registry/{resource.qualified}/{name}"


def list_prefix(resource: ResourceType, namespace: str | None) -> str:
    """Return the prefix of every object of ``resource`` (in ``namespace`` if given)."""
    if resource.namespaced and namespace is not None:
        return f"/registry/{resource.qualified}/{namespace}/"
    return f"/registry/{resource.qualified}/"


def encode(obj: Object) -> bytes:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "resourceVersion" in metadata:
        stripped = dict(obj)
        stripped["metadata"] = {k: v for k, v in metadata.items() if k != "resourceVersion"}
        return orjson.dumps(stripped)
    return orjson.dumps(obj)


def decode(value: bytes, revision: int) -> Object:
    obj: Object = orjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


def decode_kv(kv: KeyValue) -> Object:
    return decode(kv.value, kv.mod_revision)
