"""The schema tree: the shape of every served kind as typed Python objects.

One ``Schema`` node describes one JSON value: a structure with named
properties, a map, an array, or a scalar with Kubernetes' special cases
(int-or-string, resource quantity, date-time). Named nodes (those with a
``name`` such as "io.k8s.api.core.v1.PodSpec") are shared, so a type used
in many places is one object, and the OpenAPI writers emit it once as a
definition and refer to it elsewhere.

The structure check and both OpenAPI writers read this tree; none of them
looks at the Kubernetes client models directly (schema_build does that
once).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import NamedTuple


class SchemaType(enum.Enum):
    """The JSON shape of a value, with Kubernetes' special scalar types apart."""

    OBJECT = "object"
    """A structure with named properties; other keys are unknown fields."""
    MAP = "map"
    """A JSON object with free keys and values of one schema."""
    ARRAY = "array"
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    BYTES = "bytes"
    """A base64 string that decodes to bytes (Secret.data values)."""
    DATE_TIME = "date-time"
    """An RFC 3339 timestamp string (metav1.Time and metav1.MicroTime)."""
    INT_OR_STRING = "int-or-string"
    """An int32 or a string (intstr.IntOrString: ports, maxSurge)."""
    QUANTITY = "quantity"
    """A resource quantity: a string like "100m" or a JSON number."""
    FREE_FORM = "free-form"
    """A JSON object whose content is not checked (RawExtension, FieldsV1, untyped objects)."""


class GroupVersionKind(NamedTuple):
    group: str
    version: str
    kind: str


INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclasses.dataclass(eq=False)
class Schema:
    """One node of the schema tree; named nodes are shared, so compare by identity.

    The builder fills ``properties`` after creating a named node, because
    types refer to each other; treat every node as read-only afterwards.
    """

    type: SchemaType
    name: str = ""
    """Definition name such as "io.k8s.api.apps.v1.Deployment"; "" for an inline schema."""
    description: str = ""
    format: str = ""
    """OpenAPI format: "int32", "int64", "double", "byte", "date-time", "int-or-string"."""
    properties: dict[str, Property] = dataclasses.field(default_factory=dict)
    """Properties of an OBJECT by JSON name, in the client's order."""
    required: tuple[str, ...] = ()
    items: Schema | None = None
    """Element schema of an ARRAY."""
    values: Schema | None = None
    """Value schema of a MAP."""
    kinds: tuple[GroupVersionKind, ...] = ()
    """Kinds whose top-level object this is (x-kubernetes-group-version-kind)."""

    def integer_range(self) -> tuple[int, int]:
        """Return the inclusive bounds of an INTEGER: int64 when ``format`` is "int64", else int32."""
        if self.format == "int64":
            return INT64_MIN, INT64_MAX
        return INT32_MIN, INT32_MAX


@dataclasses.dataclass(frozen=True, slots=True)
class Property:
    """One property of an OBJECT schema, with what OpenAPI attaches to the field."""

    schema: Schema
    description: str = ""
    patch_strategy: str = ""
    """Strategic merge patch strategy: "merge", "retainKeys", "merge,retainKeys" or ""."""
    merge_key: str = ""
    """Key that identifies list elements under the "merge" strategy ("name", "containerPort")."""
