"""Decoding request bodies: size limit, content type, JSON or YAML, object shape."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import yaml
from aiohttp import web

from pykube_control.apiserver.status import APIError, bad_request, too_large, unsupported_media_type

MAX_BODY_BYTES = 3 * 1024 * 1024
"""Largest request body accepted: 3 MiB, Kubernetes' limit, which keeps any
object under etcd's default 1.5 MiB value limit after encoding overhead."""

JSON_TYPES = ("application/json", "*/*", "")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
PROTOBUF_TYPE = "application/vnd.kubernetes.protobuf"

# The C loader is much faster; PyYAML built without libyaml lacks it.
_YAMLLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


async def read_body(request: web.Request) -> bytes:
    length = request.content_length
    if length is not None:
        if length > MAX_BODY_BYTES:
            raise too_large(MAX_BODY_BYTES)
        # One read for the common case, a body with its length announced.
        try:
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise bad_request(f"the request body ended after {len(exc.partial)} of the {length} bytes its Content-Length announced") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large(MAX_BODY_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def decode_document(raw: bytes, content_type: str) -> Any:
    """Decode a JSON or YAML body; raise APIError 415 or 400."""
    if content_type in JSON_TYPES:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"the body of the request is not valid JSON: {exc}") from None
    if content_type in YAML_TYPES:
        try:
            return yaml.load(raw, Loader=_YAMLLoader)
        except yaml.YAMLError as exc:
            raise bad_request(f"the body of the request is not valid YAML: {exc}") from None
    raise unsupported_media_type(content_type, ["application/json", "application/yaml"])


def decode_object(raw: bytes, content_type: str) -> dict[str, Any]:
    """Decode a body that must be one object with object-typed metadata."""
    if not raw.strip():
        raise bad_request("the request body is empty; send a JSON or YAML object")
    document = decode_document(raw, content_type)
    if not isinstance(document, dict):
        raise bad_request(f"the request body must be a JSON object, not {type(document).__name__}")
    metadata = document.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise APIError(
            400, "BadRequest", f"metadata must be an object, not {type(metadata).__name__}"
        )
    return document
