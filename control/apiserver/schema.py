"""Schemas of the served kinds and the structure check the request path runs.

This is the public face of the schema modules: ``schema_for`` returns the
schema tree of a resource's kind, ``check_structure`` checks a decoded
object against it, and ``registry`` hands the whole tree to the OpenAPI
writers. The tree is derived from the official Kubernetes client's models
(schema_build) the first time any of these is called, once per process.
Building it took about 0.33 s on a 2-core AMD EPYC VM, plus 0.2 s to
import the client package. A server pays that at its first request, or
at start if it calls ``registry()`` early.
"""

from __future__ import annotations

import functools
import logging
import time

from pykube_control.apiserver.resources import RESOURCES, ResourceType
from pykube_control.apiserver.schema_build import SchemaRegistry, build_registry
from pykube_control.apiserver.schema_check import StructureResult, check_object
from pykube_control.apiserver.schema_model import GroupVersionKind, Property, Schema, SchemaType

__all__ = [
    "GroupVersionKind",
    "Property",
    "Schema",
    "SchemaRegistry",
    "SchemaType",
    "StructureResult",
    "check_structure",
    "registry",
    "schema_for",
]

logger = logging.getLogger("pykube.apiserver")


@functools.cache
def registry() -> SchemaRegistry:
    """Return the schemas of every served kind, building them on the first call."""
    started = time.perf_counter()
    built = build_registry(RESOURCES)
    logger.info(
        "built schemas definitions=%d kinds=%d seconds=%.3f",
        len(built.definitions),
        len(built.kinds),
        time.perf_counter() - started,
    )
    return built


def schema_for(resource: ResourceType) -> Schema:
    """Return the schema of the top-level object of ``resource``'s kind."""
    gvk = GroupVersionKind(resource.group, resource.version, resource.kind)
    schema = registry().kinds.get(gvk)
    if schema is None:
        raise KeyError(
            f"no schema for kind {resource.kind} in {resource.group_version}; "
            "add the resource to control/apiserver/resources.py"
        )
    return schema


def check_structure(resource: ResourceType, obj: object) -> StructureResult:
    """Check the JSON types and the field names of a decoded ``resource`` object.

    ``errors`` contains one FieldError per value of the wrong type.
    ``unknown_fields`` contains the full path of every field the schema does
    not define, which the caller rejects (Strict), warns about (Warn) or drops.
    """
    return check_object(schema_for(resource), obj)
