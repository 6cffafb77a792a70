"""PATCH bodies: JSON merge patch, JSON patch and strategic merge patch."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykube_control.apiserver.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    SUPPORTED_PATCH_TYPES,
    InvalidPatch,
    UnsupportedPatchType,
    apply_patch,
    create_merge_patch,
)
from pykube_control.apiserver.patch_json import MAX_OPERATIONS
from pykube_control.apiserver.patch_merge import json_equal, merge_patch
from pykube_control.apiserver.resources import ResourceType, by_kind

JSON = dict[str, Any]


def resource(group: str, kind: str) -> ResourceType:
    found = by_kind(group, kind)
    assert found is not None
    return found


CONFIG_MAP = resource("", "ConfigMap")
POD = resource("", "Pod")
SERVICE = resource("", "Service")
NODE = resource("", "Node")
DEPLOYMENT = resource("apps", "Deployment")
JOB = resource("batch", "Job")


def patched(content_type: str, original: JSON, patch: Any, kind: ResourceType = CONFIG_MAP) -> JSON:
    return apply_patch(content_type, original, orjson.dumps(patch), kind)


def container(name: str, **fields: Any) -> JSON:
    return {"name": name, **fields}


def pod(*containers: JSON, **spec: Any) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"containers": list(containers), **spec},
    }


def deployment(*containers: JSON) -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": list(containers)},
            },
        },
    }


def names(items: list[JSON]) -> list[str]:
    return [item["name"] for item in items]


# --- JSON merge patch (RFC 7386) ---------------------------------------------

# The cases of RFC 7386 appendix A, with other keys and values.
MERGE_CASES = [
    pytest.param({"mode": "a"}, {"mode": "b"}, {"mode": "b"}, id="replace member"),
    pytest.param({"mode": "a"}, {"size": "s"}, {"mode": "a", "size": "s"}, id="add member"),
    pytest.param({"mode": "a"}, {"mode": None}, {}, id="null removes member"),
    pytest.param({"mode": "a", "size": "s"}, {"mode": None}, {"size": "s"}, id="null keeps others"),
    pytest.param({"mode": ["a"]}, {"mode": "b"}, {"mode": "b"}, id="scalar replaces list"),
    pytest.param({"mode": "b"}, {"mode": ["a"]}, {"mode": ["a"]}, id="list replaces scalar"),
    pytest.param(
        {"spec": {"mode": "a"}},
        {"spec": {"mode": "b", "size": None}},
        {"spec": {"mode": "b"}},
        id="nested merge",
    ),
    pytest.param({"ports": [{"port": 80}]}, {"ports": [1]}, {"ports": [1]}, id="lists replaced whole"),
    pytest.param({"gone": None}, {"mode": 1}, {"gone": None, "mode": 1}, id="original null kept"),
    pytest.param({}, {"spec": {"inner": {"leaf": None}}}, {"spec": {"inner": {}}}, id="null in new object"),
]


@pytest.mark.parametrize(("original", "patch", "expected"), MERGE_CASES)
def test_merge_patch_rfc_cases(original: JSON, patch: JSON, expected: JSON) -> None:
    assert patched(MERGE_PATCH, original, patch) == expected


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param(["a", "b"], ["c", "d"], ["c", "d"], id="list root"),
        pytest.param({"mode": "a"}, ["c"], ["c"], id="list replaces object"),
        pytest.param({"mode": "a"}, None, None, id="null replaces object"),
        pytest.param({"mode": "a"}, "text", "text", id="string replaces object"),
        pytest.param([1, 2], {"mode": "a", "size": None}, {"mode": "a"}, id="object replaces list"),
    ],
)
def test_merge_patch_non_object(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def test_merge_patch_body_not_object() -> None:
    with pytest.raises(InvalidPatch) as caught:
        patched(MERGE_PATCH, {"mode": "a"}, ["c"])
    assert caught.value.status == 400
    assert "must be a JSON object" in str(caught.value)


# Generated JSON documents for the property tests: no nulls as object members
# (a merge patch reads those as "delete") and no keys that start with "$".
_KEYS = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
_SCALARS = st.one_of(st.booleans(), st.integers(-5, 5), st.text(alphabet="xyz", max_size=2))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)),
    max_leaves=12,
)
_DOCUMENTS = st.dictionaries(_KEYS, _VALUES, max_size=4)
_LIST_FREE = st.recursive(
    _SCALARS, lambda inner: st.dictionaries(_KEYS, inner, max_size=3), max_leaves=12
)
_LIST_FREE_DOCUMENTS = st.dictionaries(_KEYS, _LIST_FREE, max_size=4)


@given(_DOCUMENTS, _DOCUMENTS)
def test_merge_patch_roundtrip(source: JSON, target: JSON) -> None:
    patch = create_merge_patch(source, target)

    result = patched(MERGE_PATCH, source, patch)

    assert json_equal(result, target)


@given(_LIST_FREE_DOCUMENTS, _LIST_FREE_DOCUMENTS)
def test_strategic_equals_merge_without_lists(source: JSON, target: JSON) -> None:
    patch = create_merge_patch(source, target)

    strategic = patched(STRATEGIC_MERGE_PATCH, source, patch)

    assert json_equal(strategic, patched(MERGE_PATCH, source, patch))


@given(_DOCUMENTS, _DOCUMENTS)
def test_patch_original_unchanged(source: JSON, patch: JSON) -> None:
    before = copy.deepcopy(source)

    for content_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
        try:
            patched(content_type, source, patch)
        except InvalidPatch:
            pass

    assert source == before


def test_create_merge_patch_null_target() -> None:
    with pytest.raises(ValueError, match="'mode' is null"):
        create_merge_patch({"mode": "a"}, {"mode": None})


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        pytest.param(True, 1, False, id="true is not one"),
        pytest.param(1, 1.0, True, id="int equals float"),
        pytest.param("1", 1, False, id="string is not number"),
        pytest.param({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True, id="nested equal"),
        pytest.param({"a": 1}, {"a": 1, "b": 2}, False, id="extra member"),
        pytest.param([False], [0], False, id="false in list"),
    ],
)
def test_json_equal_cases(left: Any, right: Any, equal: bool) -> None:
    assert json_equal(left, right) is equal


# --- JSON patch (RFC 6902) ---------------------------------------------------

# The cases of RFC 6902 appendix A, with other keys and values.
JSON_PATCH_CASES = [
    pytest.param({"a": 1}, [{"op": "add", "path": "/b", "value": 2}], {"a": 1, "b": 2}, id="add member"),
    pytest.param(
        {"l": ["x", "z"]}, [{"op": "add", "path": "/l/1", "value": "y"}], {"l": ["x", "y", "z"]}, id="insert item"
    ),
    pytest.param({"a": 1, "b": 2}, [{"op": "remove", "path": "/b"}], {"a": 1}, id="remove member"),
    pytest.param({"l": ["x", "y", "z"]}, [{"op": "remove", "path": "/l/1"}], {"l": ["x", "z"]}, id="remove item"),
    pytest.param({"a": 1, "b": 2}, [{"op": "replace", "path": "/b", "value": 3}], {"a": 1, "b": 3}, id="replace"),
    pytest.param(
        {"from": {"k": "v", "j": 1}, "to": {}},
        [{"op": "move", "from": "/from/k", "path": "/to/k"}],
        {"from": {"j": 1}, "to": {"k": "v"}},
        id="move member",
    ),
    pytest.param(
        {"l": ["a", "b", "c", "d"]}, [{"op": "move", "from": "/l/1", "path": "/l/3"}], {"l": ["a", "c", "d", "b"]},
        id="move item",
    ),
    pytest.param(
        {"a": "x", "l": [1, 2]},
        [{"op": "test", "path": "/a", "value": "x"}, {"op": "test", "path": "/l/1", "value": 2}],
        {"a": "x", "l": [1, 2]},
        id="test passes",
    ),
    pytest.param(
        {"a": 1}, [{"op": "add", "path": "/b", "value": {"c": [1]}}], {"a": 1, "b": {"c": [1]}}, id="add object"
    ),
    pytest.param(
        {"a": 1}, [{"op": "add", "path": "/b", "value": 2, "extra": "ignored"}], {"a": 1, "b": 2},
        id="unknown members ignored",
    ),
    pytest.param(
        {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}, id="tilde escapes"
    ),
    pytest.param({"l": [1]}, [{"op": "add", "path": "/l/-", "value": [2, 3]}], {"l": [1, [2, 3]]}, id="append list"),
    pytest.param(
        {"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}], {"a": {"b": 1}, "c": {"b": 1}}, id="copy"
    ),
]


@pytest.mark.parametrize(("original", "operations", "expected"), JSON_PATCH_CASES)
def test_json_patch_rfc_cases(original: JSON, operations: list[JSON], expected: JSON) -> None:
    assert patched(JSON_PATCH, original, operations) == expected


JSON_PATCH_FAILURES = [
    pytest.param(
        {"a": "x"},
        [{"op": "replace", "path": "/a", "value": "y"}, {"op": "test", "path": "/a", "value": "x"}],
        "operation 1 (test '/a') failed",
        id="test fails",
    ),
    pytest.param(
        {"n": 10}, [{"op": "test", "path": "/n", "value": "10"}], "operation 0 (test '/n') failed", id="string vs number"
    ),
    pytest.param(
        {"n": True}, [{"op": "test", "path": "/n", "value": 1}], "operation 0 (test '/n') failed", id="true vs one"
    ),
    pytest.param(
        {"a": 1}, [{"op": "add", "path": "/missing/b", "value": 1}], "operation 0 (add '/missing/b')",
        id="add under missing parent",
    ),
    pytest.param({"a": 1}, [{"op": "remove", "path": "/b"}], "operation 0 (remove '/b')", id="remove missing"),
    pytest.param(
        {"l": [1]}, [{"op": "add", "path": "/l/5", "value": 1}], "list index is out of range", id="index out of range"
    ),
    pytest.param(
        {"a": 1}, [{"op": "move", "from": "/nope", "path": "/b"}], "operation 0 (move '/b')", id="move missing"
    ),
]


@pytest.mark.parametrize(("original", "operations", "message"), JSON_PATCH_FAILURES)
def test_json_patch_failures(original: JSON, operations: list[JSON], message: str) -> None:
    with pytest.raises(InvalidPatch) as caught:
        patched(JSON_PATCH, original, operations)
    assert caught.value.status == 422
    assert message in str(caught.value)


JSON_PATCH_MALFORMED = [
    pytest.param({"op": "add"}, "JSON array", id="not array"),
    pytest.param([1], "operation 0 is 1, not a JSON object", id="not object"),
    pytest.param([{"op": "frobnicate", "path": "/a"}], 'op "frobnicate"', id="unknown op"),
    pytest.param([{"path": "/a"}], "op null", id="missing op"),
    pytest.param([{"op": "remove"}], '"path" as a JSON pointer', id="missing path"),
    pytest.param([{"op": "add", "path": "/a"}], 'missing "value"', id="missing value"),
    pytest.param([{"op": "move", "path": "/a"}], '"from" as a JSON pointer', id="missing from"),
    pytest.param([{"op": "remove", "path": "a"}], 'write it as "/a"', id="pointer without slash"),
]


@pytest.mark.parametrize(("operations", "message"), JSON_PATCH_MALFORMED)
def test_json_patch_malformed(operations: Any, message: str) -> None:
    with pytest.raises(InvalidPatch) as caught:
        patched(JSON_PATCH, {"a": 1}, operations)
    assert caught.value.status == 400
    assert message in str(caught.value)


def test_json_patch_too_many_operations() -> None:
    operations = [{"op": "test", "path": "/a", "value": 1}] * (MAX_OPERATIONS + 1)
    with pytest.raises(InvalidPatch) as caught:
        patched(JSON_PATCH, {"a": 1}, operations)
    assert caught.value.status == 413


def test_json_patch_root_not_object() -> None:
    with pytest.raises(InvalidPatch) as caught:
        patched(JSON_PATCH, {"a": 1}, [{"op": "replace", "path": "", "value": [1]}])
    assert caught.value.status == 422
    assert "not a JSON object" in str(caught.value)


def test_json_patch_keeps_secret_out() -> None:
    with pytest.raises(InvalidPatch) as caught:
        patched(JSON_PATCH, {"data": {"password": "hunter2"}}, [{"op": "replace", "path": "/data/x/y", "value": 1}])
    assert "hunter2" not in str(caught.value)


# --- content types and request bodies ----------------------------------------


def test_unsupported_type() -> None:
    with pytest.raises(UnsupportedPatchType) as caught:
        patched("application/json", {"a": 1}, {"a": 2})
    message = str(caught.value)
    assert message.startswith("the body of the request was in an unknown format - accepted media types include: ")
    for supported in SUPPORTED_PATCH_TYPES:
        assert supported in message
    assert "'application/json'" in message


def test_server_side_apply_unsupported() -> None:
    with pytest.raises(UnsupportedPatchType) as caught:
        patched(APPLY_PATCH, {"a": 1}, {"a": 2})
    assert "server-side apply is not supported" in str(caught.value)
    assert caught.value.content_type == APPLY_PATCH


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("application/merge-patch+json; charset=utf-8", id="charset parameter"),
        pytest.param("Application/Merge-Patch+JSON", id="upper case"),
    ],
)
def test_content_type_normalized(content_type: str) -> None:
    assert patched(content_type, {"a": 1}, {"a": 2}) == {"a": 2}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"  \n", "empty", id="blank"),
        pytest.param(b"{not json", "not valid JSON", id="broken json"),
    ],
)
def test_body_invalid(body: bytes, message: str) -> None:
    with pytest.raises(InvalidPatch) as caught:
        apply_patch(STRATEGIC_MERGE_PATCH, {"a": 1}, body, CONFIG_MAP)
    assert caught.value.status == 400
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        pytest.param(MERGE_PATCH, {"kind": "Secret"}, id="merge kind"),
        pytest.param(STRATEGIC_MERGE_PATCH, {"apiVersion": "v2"}, id="strategic apiVersion"),
        pytest.param(JSON_PATCH, [{"op": "remove", "path": "/kind"}], id="json remove kind"),
    ],
)
def test_type_change_rejected(content_type: str, patch: Any) -> None:
    original = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    with pytest.raises(InvalidPatch) as caught:
        patched(content_type, original, patch)
    assert caught.value.field in ("kind", "apiVersion")
    assert "a patch cannot change" in str(caught.value)


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        pytest.param(MERGE_PATCH, {"data": {"k": None, "n": {"x": 1}}}, id="merge"),
        pytest.param(JSON_PATCH, [{"op": "add", "path": "/data/n", "value": 1}], id="json"),
        pytest.param(
            STRATEGIC_MERGE_PATCH,
            {"metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]}, "data": {"k": None}},
            id="strategic",
        ),
    ],
)
def test_original_unchanged(content_type: str, patch: Any) -> None:
    original = {"metadata": {"name": "c", "finalizers": ["a"]}, "data": {"k": "v"}}
    before = copy.deepcopy(original)

    result = patched(content_type, original, patch)

    assert original == before
    assert result != before


# --- strategic merge patch: lists merged by key ------------------------------


def test_strategic_change_image() -> None:
    original = pod(container("web", image="nginx:1.25"), container("log", image="busybox"))

    result = patched(STRATEGIC_MERGE_PATCH, original, {"spec": {"containers": [{"name": "log", "image": "alpine"}]}}, POD)

    assert result["spec"]["containers"] == [container("web", image="nginx:1.25"), container("log", image="alpine")]


def test_strategic_new_container_first() -> None:
    # Kubernetes places patch items that the original lacks before the
    # original-only items, because the original order cannot place them.
    original = pod(container("web", image="nginx"))

    result = patched(STRATEGIC_MERGE_PATCH, original, {"spec": {"containers": [{"name": "log", "image": "busybox"}]}}, POD)

    assert names(result["spec"]["containers"]) == ["log", "web"]


def test_strategic_delete_container() -> None:
    original = pod(container("web", image="nginx"), container("log", image="busybox"))

    result = patched(STRATEGIC_MERGE_PATCH, original, {"spec": {"containers": [{"$patch": "delete", "name": "web"}]}}, POD)

    assert result["spec"]["containers"] == [container("log", image="busybox")]


def test_strategic_replace_list() -> None:
    original = pod(container("web", image="nginx", ports=[{"containerPort": 80}]), container("log"))
    patch = {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x", "tty": None}]}}

    result = patched(STRATEGIC_MERGE_PATCH, original, patch, POD)

    assert result["spec"]["containers"] == [container("only", image="x")]


STRATEGIC_LIST_CASES = [
    pytest.param(
        [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        "env",
        id="env merged by name",
    ),
    pytest.param(
        [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        [{"name": "A", "value": "x", "valueFrom": None}],
        [{"name": "A", "value": "x"}],
        "env",
        id="env source switched",
    ),
    pytest.param(
        [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
        [{"containerPort": 443, "name": "https"}],
        [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}],
        "ports",
        id="ports merged by containerPort",
    ),
    pytest.param(
        [{"mountPath": "/data", "name": "a"}],
        [{"mountPath": "/data", "readOnly": True}],
        [{"mountPath": "/data", "name": "a", "readOnly": True}],
        "volumeMounts",
        id="mounts merged by mountPath",
    ),
    pytest.param(
        [{"devicePath": "/dev/a", "name": "a"}],
        [{"$patch": "delete", "devicePath": "/dev/a"}],
        [],
        "volumeDevices",
        id="device deleted by devicePath",
    ),
]


@pytest.mark.parametrize(("before", "patch", "after", "field"), STRATEGIC_LIST_CASES)
def test_strategic_container_lists(before: list[JSON], patch: list[JSON], after: list[JSON], field: str) -> None:
    original = pod(container("web", image="nginx", **{field: before}))

    result = patched(STRATEGIC_MERGE_PATCH, original, {"spec": {"containers": [{"name": "web", field: patch}]}}, POD)

    assert result["spec"]["containers"][0][field] == after


def test_strategic_service_ports() -> None:
    original = {
        "apiVersion": "v1",
        "kind": "Service",
        "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]},
    }

    result = patched(STRATEGIC_MERGE_PATCH, original, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, SERVICE)

    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}]


@pytest.mark.parametrize(
    ("field", "before", "patch"),
    [
        pytest.param("tolerations", [{"key": "a", "operator": "Exists"}], [{"key": "b", "operator": "Exists"}], id="tolerations"),
        pytest.param("readinessGates", [{"conditionType": "a"}], [{"conditionType": "b"}], id="readiness gates"),
    ],
)
def test_strategic_atomic_lists(field: str, before: list[JSON], patch: list[JSON]) -> None:
    original = pod(container("web"), **{field: before})

    result = patched(STRATEGIC_MERGE_PATCH, original, {"spec": {field: patch}}, POD)

    assert result["spec"][field] == patch


def test_strategic_volumes_retain_keys() -> None:
    original = pod(container("web"), volumes=[{"name": "data", "emptyDir": {}}, {"name": "keep", "emptyDir": {}}])
    patch = {"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "data", "configMap": {"name": "cfg"}}]}}

    result = patched(STRATEGIC_MERGE_PATCH, original, patch, POD)

    assert result["spec"]["volumes"] == [
        {"name": "data", "configMap": {"name": "cfg"}},
        {"name": "keep", "emptyDir": {}},
    ]


def test_strategic_status_conditions() -> None:
    original = {
        "kind": "Node",
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "DiskPressure", "status": "False"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        },
    }
    patch = {
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "n1"}],
        }
    }

    result = patched(STRATEGIC_MERGE_PATCH, original, patch, NODE)

    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "DiskPressure", "status": "False"},
    ]
    assert result["status"]["addresses"] == [
        {"type": "Hostname", "address": "n1"},
        {"type": "InternalIP", "address": "10.0.0.1"},
    ]


def test_strategic_owner_references() -> None:
    original = {"metadata": {"ownerReferences": [{"uid": "u1", "name": "a"}, {"uid": "u2", "name": "b"}]}}

    result = patched(
        STRATEGIC_MERGE_PATCH, original, {"metadata": {"ownerReferences": [{"uid": "u2", "controller": True}]}}
    )

    assert result["metadata"]["ownerReferences"] == [
        {"uid": "u1", "name": "a"},
        {"uid": "u2", "name": "b", "controller": True},
    ]


# --- strategic merge patch: lists of scalars ----------------------------------


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        pytest.param({"finalizers": ["b", "c"]}, ["a", "b", "c"], id="merged as set"),
        pytest.param({"$deleteFromPrimitiveList/finalizers": ["a"]}, ["b"], id="delete from list"),
        pytest.param({"$deleteFromPrimitiveList/finalizers": ["zz"]}, ["a", "b"], id="delete absent value"),
        pytest.param(
            {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]},
            ["b", "c", "a"],
            id="set element order",
        ),
        pytest.param({"finalizers": None}, None, id="null deletes list"),
    ],
)
def test_strategic_finalizers(patch: JSON, expected: list[str] | None) -> None:
    original = {"metadata": {"name": "c", "finalizers": ["a", "b"]}}

    result = patched(STRATEGIC_MERGE_PATCH, original, {"metadata": patch})

    assert result["metadata"].get("finalizers") == expected


def test_strategic_labels_are_a_map() -> None:
    original = {"metadata": {"labels": {"app": "web", "tier": "front"}}}

    result = patched(STRATEGIC_MERGE_PATCH, original, {"metadata": {"labels": {"tier": None, "env": "prod"}}})

    assert result["metadata"]["labels"] == {"app": "web", "env": "prod"}


# --- strategic merge patch: map directives ------------------------------------


def test_strategic_replace_map() -> None:
    original = {"data": {"a": "1", "b": "2"}}

    result = patched(STRATEGIC_MERGE_PATCH, original, {"data": {"$patch": "replace", "c": "3"}})

    assert result["data"] == {"c": "3"}


def test_strategic_delete_map() -> None:
    original = {"data": {"a": "1"}, "keep": 1}

    result = patched(STRATEGIC_MERGE_PATCH, original, {"data": {"$patch": "delete"}})

    assert result == {"data": {}, "keep": 1}


def test_strategic_merge_directive() -> None:
    original = {"data": {"a": "1"}}

    result = patched(STRATEGIC_MERGE_PATCH, original, {"data": {"$patch": "merge", "b": "2"}})

    assert result["data"] == {"a": "1", "b": "2"}


def test_strategic_null_deletes() -> None:
    original = pod(container("web", image="nginx", tty=True))

    result = patched(STRATEGIC_MERGE_PATCH, original, {"spec": {"containers": [{"name": "web", "tty": None}]}}, POD)

    assert result["spec"]["containers"] == [container("web", image="nginx")]


def test_strategic_retain_keys_strategy() -> None:
    original = deployment(container("web", image="nginx"))
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}

    result = patched(STRATEGIC_MERGE_PATCH, original, patch, DEPLOYMENT)

    assert result["spec"]["strategy"] == {"type": "Recreate"}


# --- strategic merge patch: element order -------------------------------------


def test_strategic_set_element_order() -> None:
    original = pod(container("a", image="1"), container("b", image="2"), container("c", image="3"))
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "new"}],
            "containers": [{"name": "a", "image": "9"}, {"name": "new", "image": "4"}],
        }
    }

    result = patched(STRATEGIC_MERGE_PATCH, original, patch, POD)

    # b is in the original only. It goes before c, the first ordered item,
    # because b precedes c in the original list (Kubernetes does the same).
    assert names(result["spec"]["containers"]) == ["b", "c", "a", "new"]
    assert result["spec"]["containers"][2]["image"] == "9"


def test_strategic_set_element_order_only() -> None:
    original = pod(container("a"), container("b"))

    result = patched(
        STRATEGIC_MERGE_PATCH, original, {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}, POD
    )

    assert names(result["spec"]["containers"]) == ["b", "a"]


# --- strategic merge patch: pod templates --------------------------------------


def test_strategic_kubectl_apply_deployment() -> None:
    # The shape of the three-way patch kubectl apply sends after a manifest
    # changed the image of one container and removed another.
    original = deployment(container("web", image="nginx:1.25"), container("sidecar", image="envoy"))
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [{"image": "nginx:1.26", "name": "web"}, {"$patch": "delete", "name": "sidecar"}],
                }
            }
        },
    }

    result = patched(STRATEGIC_MERGE_PATCH, original, patch, DEPLOYMENT)

    assert result["spec"]["template"]["spec"]["containers"] == [container("web", image="nginx:1.26")]
    assert result["metadata"]["annotations"] == {"kubectl.kubernetes.io/last-applied-configuration": "{}"}


def test_strategic_rollout_restart() -> None:
    original = deployment(container("web", image="nginx"))
    stamp = {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}

    result = patched(
        STRATEGIC_MERGE_PATCH, original, {"spec": {"template": {"metadata": {"annotations": stamp}}}}, DEPLOYMENT
    )

    assert result["spec"]["template"]["metadata"] == {"labels": {"app": "web"}, "annotations": stamp}


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [
        pytest.param(DEPLOYMENT, ("spec", "template", "spec"), id="deployment"),
        pytest.param(JOB, ("spec", "template", "spec"), id="job"),
        pytest.param(POD, ("spec",), id="pod"),
    ],
)
def test_strategic_template_env_merge(kind: ResourceType, prefix: tuple[str, ...]) -> None:
    pod_spec: JSON = {"containers": [container("web", env=[{"name": "A", "value": "1"}])]}
    env_patch: JSON = {"containers": [{"name": "web", "env": [{"name": "B", "value": "2"}]}]}
    original: JSON = pod_spec
    patch: JSON = env_patch
    for field in reversed(prefix):
        original = {field: original}
        patch = {field: patch}

    result = patched(STRATEGIC_MERGE_PATCH, original, patch, kind)

    for field in prefix:
        result = result[field]
    assert names(result["containers"][0]["env"]) == ["B", "A"]


def test_strategic_new_field_cleaned() -> None:
    original = deployment(container("web"))
    patch = {"spec": {"template": {"spec": {"initContainers": [{"name": "init", "image": "x", "tty": None}]}}}}

    result = patched(STRATEGIC_MERGE_PATCH, original, patch, DEPLOYMENT)

    assert result["spec"]["template"]["spec"]["initContainers"] == [container("init", image="x")]


# --- strategic merge patch: errors ---------------------------------------------

STRATEGIC_ERRORS = [
    pytest.param(
        {"spec": {"containers": [{"image": "x"}]}}, "spec.containers", "merge key 'name'", id="item without merge key"
    ),
    pytest.param(
        {"spec": {"containers": [{"$patch": "delete"}]}}, "spec.containers", "merge key 'name'", id="delete without key"
    ),
    pytest.param(
        {"spec": {"containers": [{"$patch": "explode", "name": "web"}]}}, "spec.containers", "unknown $patch", id="bad item directive"
    ),
    pytest.param({"spec": {"$patch": "explode"}}, "spec", "unknown $patch directive", id="bad map directive"),
    pytest.param({"spec": {"$frobnicate": 1}}, "spec", "unknown directive '$frobnicate'", id="unknown directive"),
    pytest.param({"spec": {"containers": ["web"]}}, "spec.containers", "has the wrong type", id="scalar in keyed list"),
    pytest.param({"metadata": {"finalizers": [{"a": 1}]}}, "metadata.finalizers", "contains scalars", id="object in set"),
    pytest.param({"metadata": {"finalizers": [["a"]]}}, "metadata.finalizers", "lists of lists", id="list of lists"),
    pytest.param({"spec": {"$retainKeys": "name"}}, "spec", "list of field names", id="retain keys not list"),
    pytest.param(
        {"spec": {"$retainKeys": ["containers"], "hostname": "h"}}, "spec", "add 'hostname' to $retainKeys",
        id="retain keys missing field",
    ),
    pytest.param(
        {"spec": {"$setElementOrder/containers": {"name": "web"}}}, "spec", "needs a field name", id="order not list"
    ),
    pytest.param(
        {"spec": {"$setElementOrder/containers": [{"name": "web"}], "containers": [{"name": "other"}]}},
        "spec.containers",
        "does not follow the order",
        id="order misses patch item",
    ),
    pytest.param(
        {"spec": {"$setElementOrder/containers": [{"image": "x"}]}}, "spec.containers", "merge key 'name'",
        id="order item without key",
    ),
    pytest.param(
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "metadata", "list of values", id="delete list not list"
    ),
]


@pytest.mark.parametrize(("patch", "field", "message"), STRATEGIC_ERRORS)
def test_strategic_errors(patch: JSON, field: str, message: str) -> None:
    original = pod(container("web", image="nginx"))
    original["metadata"]["finalizers"] = ["a"]

    with pytest.raises(InvalidPatch) as caught:
        patched(STRATEGIC_MERGE_PATCH, original, patch, POD)

    assert caught.value.field == field
    assert message in caught.value.message
    assert caught.value.status == 400
