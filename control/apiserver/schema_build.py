"""Derivation of the schema tree from the official Kubernetes client's models.

The ``kubernetes`` package (a project dependency) ships one pydantic model
per API type, with ``openapi_types`` (attribute -> type string such as
"List[V1Container]"), ``attribute_map`` (attribute -> JSON name), field
descriptions and a class docstring. Reading those at run time keeps the
repository free of hand-written or copied schemas, and a client upgrade
brings new fields along. What the models lose (int32 versus int64,
quantities, IntOrString, MicroTime, patch strategies) comes back from
schema_tables.

The client names types by version and Go name only (V1PodSpec), so the
Go package of a definition name ("io.k8s.api.core.v1.PodSpec") comes from
a walk over the served kinds in table order. A type belongs to the group
of the first kind that reaches it. Core kinds come first in the table, so
every core type that a Deployment or Job embeds is named core.

NOTE: the client keeps no description for fields whose type is a struct
(DeploymentSpec.strategy, PodSpec.affinity), so those properties carry
only their type's description, where Kubernetes documents the field too.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterable, Iterator

import kubernetes.client
from pydantic.fields import FieldInfo

from pykube_control.apiserver import schema_tables as tables
from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.schema_model import GroupVersionKind, Property, Schema, SchemaType

META_PACKAGE = "io.k8s.apimachinery.pkg.apis.meta.v1"
QUANTITY_NAME = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING_NAME = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
TIME_NAME = f"{META_PACKAGE}.Time"
MICRO_TIME_NAME = f"{META_PACKAGE}.MicroTime"
FIELDS_V1_NAME = f"{META_PACKAGE}.FieldsV1"
RAW_EXTENSION_NAME = "io.k8s.apimachinery.pkg.runtime.RawExtension"

# "CoreV1Event" -> ("Core", "V1", "Event"); "V1alpha3TopologyConstraint" -> (None, "V1alpha3", ...).
_CLASS_NAME = re.compile(r"(?P<group>[A-Z][a-z]+)?(?P<version>V\d+(?:alpha\d+|beta\d+)?)(?P<name>[A-Z]\w*)")
_LIST_TYPE = re.compile(r"List\[(.+)\]")
_DICT_TYPE = re.compile(r"Dict\[str, (.+)\]")
_TYPE_REFERENCE = re.compile(r"\b(?!List\b|Dict\b)[A-Z]\w*")

_SPECIAL_DESCRIPTIONS = {
    QUANTITY_NAME: (
        "A fixed-point number with an optional suffix, such as 100m, 1.5, 2Gi or 129e6. "
        "Suffixes are n, u, m, k, M, G, T, P, E (decimal), Ki to Ei (binary) or e/E with an "
        "exponent. JSON numbers are accepted as well."
    ),
    INT_OR_STRING_NAME: "An int32 or a string, such as a port number or a port name, or 25%.",
    TIME_NAME: "A timestamp in RFC 3339 form with second precision, such as 2024-01-02T15:04:05Z.",
    MICRO_TIME_NAME: "A timestamp in RFC 3339 form with microsecond precision.",
    FIELDS_V1_NAME: "The set of fields a manager owns, in the JSON form of server-side apply.",
    RAW_EXTENSION_NAME: "An embedded object of any kind, kept as the client sent it.",
}


@dataclasses.dataclass
class SchemaRegistry:
    """Every named schema by definition name, and the schema of every kind by GVK."""

    definitions: dict[str, Schema]
    kinds: dict[GroupVersionKind, Schema]


def go_package(group: str) -> str:
    """Return the k8s.io/api package of a group: "core" for "", else its first label."""
    return group.split(".")[0] if group else "core"


def client_class_name(group: str, version: str, kind: str) -> str:
    """Return the client model class of a kind, such as "V1Deployment" or "CoreV1Event"."""
    qualified = f"{go_package(group).capitalize()}{version.capitalize()}{kind}"
    if hasattr(kubernetes.client, qualified):
        return qualified
    plain = f"{version.capitalize()}{kind}"
    if not hasattr(kubernetes.client, plain):
        raise LookupError(
            f"the kubernetes client package has no model {plain} or {qualified} for "
            f"{kind} in {group or 'core'}/{version}; upgrade the kubernetes package"
        )
    return plain


def _model(class_name: str) -> type:
    model = getattr(kubernetes.client, class_name, None)
    if not isinstance(model, type) or not hasattr(model, "openapi_types"):
        raise LookupError(f"the kubernetes client package has no model class {class_name}")
    return model


def _references(model: type) -> Iterator[str]:
    for type_string in model.openapi_types.values():  # type: ignore[attr-defined]
        yield from _TYPE_REFERENCE.findall(type_string)


def _split_class_name(class_name: str) -> tuple[str, str, str]:
    """Return (group word or "", lower-case version, Go type name) of a client class."""
    match = _CLASS_NAME.fullmatch(class_name)
    if match is None:
        raise LookupError(f"cannot read a version and type name from client class {class_name}")
    return (match.group("group") or "", match.group("version").lower(), match.group("name"))


def _description(model: type) -> str:
    """Return the type's description: the class docstring without its Attributes section."""
    text = (model.__doc__ or "").split("Attributes:")[0]
    return " ".join(text.split())


def _json_fields(model: type) -> dict[str, FieldInfo]:
    fields: dict[str, FieldInfo] = {}
    for attribute, info in model.model_fields.items():  # type: ignore[attr-defined]
        fields[info.serialization_alias or info.alias or attribute] = info
    return fields


class _Builder:
    """Builds named schemas on demand, each once, in a registry."""

    def __init__(self, roots: Iterable[tuple[str, str]]) -> None:
        self.definitions: dict[str, Schema] = {}
        self._by_class: dict[str, Schema] = {}
        self._owner_package: dict[str, str] = {}
        for class_name, package in roots:
            self._claim_reachable(class_name, package)

    def _claim_reachable(self, root: str, package: str) -> None:
        """Record ``package`` as the Go package of every type ``root`` reaches that has none yet."""
        queue = collections.deque([root])
        while queue:
            class_name = queue.popleft()
            if class_name in self._owner_package:
                continue
            self._owner_package[class_name] = package
            queue.extend(_references(_model(class_name)))

    def definition_name(self, class_name: str) -> str:
        group_word, version, name = _split_class_name(class_name)
        if not group_word and version == "v1" and name in tables.META_TYPES:
            return f"{META_PACKAGE}.{name}"
        if group_word:
            package = group_word.lower()
        elif name in tables.PACKAGE_OVERRIDES:
            package = tables.PACKAGE_OVERRIDES[name]
        elif version in tables.PACKAGE_OF_FOREIGN_VERSION:
            package = tables.PACKAGE_OF_FOREIGN_VERSION[version]
        else:
            package = self._owner_package.get(class_name, "core")
        return f"io.k8s.api.{package}.{version}.{name}"

    def named(self, class_name: str) -> Schema:
        """Return the schema of a client model class, building it and its fields on first use."""
        known = self._by_class.get(class_name)
        if known is not None:
            return known

        model = _model(class_name)
        schema = Schema(SchemaType.OBJECT, name=self.definition_name(class_name), description=_description(model))
        self._by_class[class_name] = schema
        self.definitions[schema.name] = schema

        type_name = _split_class_name(class_name)[2]
        fields = _json_fields(model)
        attribute_map: dict[str, str] = model.attribute_map  # type: ignore[attr-defined]
        for attribute, type_string in model.openapi_types.items():  # type: ignore[attr-defined]
            json_name = attribute_map[attribute]
            info = fields.get(json_name)
            schema.properties[json_name] = self._property(f"{type_name}.{json_name}", type_string, info)
        schema.required = tuple(name for name, info in fields.items() if info.is_required())
        return schema

    def _property(self, key: str, type_string: str, info: FieldInfo | None) -> Property:
        strategy, merge_key = tables.PATCH_STRATEGIES.get(key, ("", ""))
        return Property(
            schema=self.parse(key, type_string),
            description=" ".join((info.description or "").split()) if info else "",
            patch_strategy=strategy,
            merge_key=merge_key,
        )

    def parse(self, key: str, type_string: str) -> Schema:
        """Return the schema of one client type string for the field ``key`` ("PodSpec.containers")."""
        list_match = _LIST_TYPE.fullmatch(type_string)
        if list_match:
            return Schema(SchemaType.ARRAY, items=self.parse(key, list_match.group(1)))
        dict_match = _DICT_TYPE.fullmatch(type_string)
        if dict_match:
            if key in tables.QUANTITY_MAP_FIELDS:
                return Schema(SchemaType.MAP, values=self.special(QUANTITY_NAME))
            return Schema(SchemaType.MAP, values=self.parse(key, dict_match.group(1)))
        return self._parse_scalar(key, type_string)

    def _parse_scalar(self, key: str, type_string: str) -> Schema:
        if type_string == "str":
            if key in tables.QUANTITY_FIELDS:
                return self.special(QUANTITY_NAME)
            return Schema(SchemaType.STRING)
        if type_string == "int":
            wide = key in tables.INT64_FIELDS or key.split(".")[-1] in tables.INT64_FIELD_NAMES
            return Schema(SchemaType.INTEGER, format="int64" if wide else "int32")
        if type_string == "bool":
            return Schema(SchemaType.BOOLEAN)
        if type_string == "float":
            return Schema(SchemaType.NUMBER, format="double")
        if type_string == "bytes":
            return Schema(SchemaType.BYTES, format="byte")
        if type_string == "datetime":
            return self.special(MICRO_TIME_NAME if key in tables.MICRO_TIME_FIELDS else TIME_NAME)
        if type_string == "object":
            return self._parse_object(key)
        return self.named(type_string)

    def _parse_object(self, key: str) -> Schema:
        if key in tables.INT_OR_STRING_FIELDS:
            return self.special(INT_OR_STRING_NAME)
        named = tables.OBJECT_FIELD_TYPES.get(key)
        if named == "FieldsV1":
            return self.special(FIELDS_V1_NAME)
        if named == "RawExtension":
            return self.special(RAW_EXTENSION_NAME)
        return Schema(SchemaType.FREE_FORM)

    def special(self, name: str) -> Schema:
        """Return the shared schema of an apimachinery type the client has no model for."""
        known = self.definitions.get(name)
        if known is not None:
            return known
        schema_type, schema_format = {
            QUANTITY_NAME: (SchemaType.QUANTITY, ""),
            INT_OR_STRING_NAME: (SchemaType.INT_OR_STRING, "int-or-string"),
            TIME_NAME: (SchemaType.DATE_TIME, "date-time"),
            MICRO_TIME_NAME: (SchemaType.DATE_TIME, "date-time"),
            FIELDS_V1_NAME: (SchemaType.FREE_FORM, ""),
            RAW_EXTENSION_NAME: (SchemaType.FREE_FORM, ""),
        }[name]
        schema = Schema(schema_type, name=name, description=_SPECIAL_DESCRIPTIONS[name], format=schema_format)
        self.definitions[name] = schema
        return schema


def build_registry(resources: Iterable[ResourceType]) -> SchemaRegistry:
    """Build the schemas of ``resources``, their list kinds and the shared meta kinds.

    Resources are visited in the order given, which decides the Go package
    of types shared between groups (see the module docstring).
    """
    served = list(resources)
    roots: list[tuple[str, str]] = []
    for resource in served:
        class_name = client_class_name(resource.group, resource.version, resource.kind)
        roots.append((class_name, go_package(resource.group)))
        roots.append((class_name + "List", go_package(resource.group)))
    builder = _Builder(roots)
    kinds: dict[GroupVersionKind, Schema] = {}

    for resource in served:
        class_name = client_class_name(resource.group, resource.version, resource.kind)
        for kind, name in ((resource.kind, class_name), (resource.list_kind, class_name + "List")):
            gvk = GroupVersionKind(resource.group, resource.version, kind)
            schema = builder.named(name)
            schema.kinds = (gvk,)
            kinds[gvk] = schema

    group_versions = sorted({(r.group, r.version) for r in served})
    shared = {
        "V1Status": [GroupVersionKind("", "v1", "Status")],
        "V1Scale": [GroupVersionKind("autoscaling", "v1", "Scale")],
        "V1DeleteOptions": [GroupVersionKind(g, v, "DeleteOptions") for g, v in group_versions],
        "V1WatchEvent": [GroupVersionKind(g, v, "WatchEvent") for g, v in group_versions],
    }
    for class_name, gvks in shared.items():
        schema = builder.named(class_name)
        schema.kinds = tuple(gvks)
        for gvk in gvks:
            kinds[gvk] = schema
    builder.special(INT_OR_STRING_NAME)
    return SchemaRegistry(definitions=builder.definitions, kinds=kinds)
