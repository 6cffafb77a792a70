"""The OpenAPI documents the API server publishes at /openapi/v2 and /openapi/v3.

kubectl reads them to validate objects on the client (``create``,
``apply``), to print field descriptions (``explain``), to build strategic
merge patches (client-side ``apply``) and to learn whether the server
validates fields itself (the ``fieldValidation`` parameter). kubectl 1.27
and later reads /openapi/v3 as JSON: first the index of group versions,
then one document per group version at the URL the index gives. Older
kubectl (1.20) reads /openapi/v2 and accepts only its protobuf form
(``openapi_v2_protobuf``, served as ``V2_PROTOBUF_CONTENT_TYPE`` when the
Accept header names one of ``V2_PROTOBUF_ACCEPT_TYPES``).

Every document is derived from the schema tree (schema.registry) on first
use and cached for the life of the process, as dicts and as encoded
bytes. The dicts returned here are shared: treat them as read-only.

Differences from Kubernetes:

- Documents contain only the served kinds and the meta kinds they use
  (Status, DeleteOptions, WatchEvent, Patch, autoscaling/v1 Scale).
- The v3 index lists only group versions, not /api, /apis or /version.
- Descriptions of operations and parameters are shorter.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import orjson

from pykube_control.apiserver.openapi_paths import (
    DELETE_OPTIONS_NAME,
    SCALE_GVK,
    STATUS_NAME,
    WATCH_EVENT_NAME,
    PathSpec,
    path_item,
    resource_paths,
)
from pykube_control.apiserver.openapi_protobuf import encode_document
from pykube_control.apiserver.openapi_schemas import PATCH_NAME, Dialect, definitions, reachable
from pykube_control.apiserver.resources import RESOURCES, ResourceType
from pykube_control.apiserver.schema import GroupVersionKind, Schema, registry

JSON = dict[str, Any]

KUBERNETES_VERSION = "v1.32.0"
"""The version written in each document's info block."""
V2_PROTOBUF_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
"""Content-Type of the protobuf v2 document, whichever of V2_PROTOBUF_ACCEPT_TYPES was requested."""
V2_PROTOBUF_ACCEPT_TYPES = (
    V2_PROTOBUF_CONTENT_TYPE,
    # kubectl 1.32 still requests this older spelling. It is not a valid
    # media type ("@"), so the response never carries it.
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
)
V3_JSON_CONTENT_TYPE = "application/json"


def group_versions() -> list[tuple[str, str]]:
    """Return every served (group, version), core first, in the order of the resources table."""
    result: list[tuple[str, str]] = []
    for resource in RESOURCES:
        key = (resource.group, resource.version)
        if key not in result:
            result.append(key)
    return result


def v3_path(group: str, version: str) -> str:
    """Return the index key of a group version: "api/v1" or "apis/apps/v1"."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _paths_of(resources: list[ResourceType]) -> list[PathSpec]:
    kinds = registry().kinds
    scale = kinds[SCALE_GVK]
    specs: list[PathSpec] = []
    for resource in resources:
        schema = kinds[GroupVersionKind(resource.group, resource.version, resource.kind)]
        list_schema = kinds[GroupVersionKind(resource.group, resource.version, resource.list_kind)]
        specs.extend(resource_paths(resource, schema, list_schema, scale))
    return specs


def _schemas_used(specs: list[PathSpec]) -> list[Schema]:
    """Return the named schemas the operations of ``specs`` refer to, and all they refer to."""
    known = registry().definitions
    names = {STATUS_NAME, DELETE_OPTIONS_NAME, WATCH_EVENT_NAME}
    for spec in specs:
        for operation in spec.operations:
            names.update(name for name in (operation.response, operation.body) if name)
    names.discard(PATCH_NAME)
    return reachable(known[name] for name in sorted(names))


def _info() -> JSON:
    return {"title": "Kubernetes", "version": KUBERNETES_VERSION}


@functools.cache
def _v3_built(group: str, version: str) -> tuple[JSON, bytes]:
    served = [r for r in RESOURCES if r.group == group and r.version == version]
    if not served:
        known = ", ".join(v3_path(g, v) for g, v in group_versions())
        raise LookupError(f"no OpenAPI v3 document for {v3_path(group, version)}; served: {known}")
    specs = _paths_of(served)
    document: JSON = {
        "openapi": "3.0.0",
        "info": _info(),
        "paths": {spec.path: path_item(spec, Dialect.V3) for spec in specs},
        "components": {"schemas": definitions(_schemas_used(specs), Dialect.V3)},
    }
    return document, orjson.dumps(document)


def openapi_v3_document(group: str, version: str) -> JSON:
    """Return the OpenAPI 3.0 document of one group version ("" is the core group).

    Raises LookupError naming the served group versions when none matches.
    """
    return _v3_built(group, version)[0]


def openapi_v3_json(group: str, version: str) -> bytes:
    """Return ``openapi_v3_document`` encoded as JSON, the body to serve."""
    return _v3_built(group, version)[1]


@functools.cache
def openapi_v3_hash(group: str, version: str) -> str:
    """Return the hash of a group version's document, which changes when the document does."""
    return hashlib.sha512(openapi_v3_json(group, version)).hexdigest().upper()


def openapi_v3_index() -> JSON:
    """Return the /openapi/v3 discovery document: each group version and its document's URL.

    The URL carries the document's hash so that clients may cache it for
    good. The server must serve the document whatever ``hash`` a request names.
    """
    paths = {
        v3_path(group, version): {
            "serverRelativeURL": f"/openapi/v3/{v3_path(group, version)}?hash={openapi_v3_hash(group, version)}"
        }
        for group, version in group_versions()
    }
    return {"paths": paths}


@functools.cache
def _v2_built() -> tuple[JSON, bytes, bytes]:
    specs = _paths_of(list(RESOURCES))
    document: JSON = {
        "swagger": "2.0",
        "info": _info(),
        "paths": {spec.path: path_item(spec, Dialect.V2) for spec in specs},
        "definitions": definitions(_schemas_used(specs), Dialect.V2),
    }
    return document, orjson.dumps(document), encode_document(document)


def openapi_v2_document() -> JSON:
    """Return the Swagger 2.0 document of every served kind."""
    return _v2_built()[0]


def openapi_v2_json() -> bytes:
    """Return ``openapi_v2_document`` encoded as JSON."""
    return _v2_built()[1]


def openapi_v2_protobuf() -> bytes:
    """Return ``openapi_v2_document`` as a serialized gnostic ``openapi.v2.Document`` message."""
    return _v2_built()[2]
