"""LabelTable against both selector kernels, with Selector.matches as the oracle."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from pykube_core import _selector_py
from pykube_core.labels import Operator, Requirement, Selector
from pykube_core.selector_index import LabelTable, MatchKernel


def req(key: str, operator: Operator, *values: str) -> Requirement:
    return Requirement(key, operator, tuple(sorted(set(values))))


def select(*requirements: Requirement) -> Selector:
    return Selector(requirements=requirements)


@pytest.fixture(params=["py", "native"], scope="module")
def kernel(request: pytest.FixtureRequest) -> MatchKernel:
    if request.param == "py":
        return _selector_py.match_rows
    native = pytest.importorskip(
        "pykube_core._selector_native", reason="build it: python setup.py build_ext --inplace"
    )
    match_rows: MatchKernel = native.match_rows
    return match_rows


OBJECTS: list[dict[str, str]] = [
    {"app": "web", "tier": "frontend", "env": "prod"},
    {"app": "web", "tier": "backend", "env": "staging"},
    {"app": "db", "tier": "backend"},
    {"app": "cache", "canary": "true"},
    {},
]

MATCH_CASES = [
    pytest.param(select(), [True, True, True, True, True], id="empty selector matches all"),
    pytest.param(Selector.nothing(), [False] * 5, id="nothing matches none"),
    pytest.param(select(req("app", Operator.EQUALS, "web")), [True, True, False, False, False], id="equals"),
    pytest.param(select(req("app", Operator.DOUBLE_EQUALS, "db")), [False, False, True, False, False], id="double equals"),
    pytest.param(select(req("env", Operator.NOT_EQUALS, "prod")), [False, True, True, True, True], id="not equals includes missing key"),
    pytest.param(select(req("app", Operator.IN, "db", "cache")), [False, False, True, True, False], id="in two values"),
    pytest.param(select(req("tier", Operator.NOT_IN, "backend", "frontend")), [False, False, False, True, True], id="notin includes missing key"),
    pytest.param(select(req("env", Operator.EXISTS)), [True, True, False, False, False], id="exists"),
    pytest.param(select(req("env", Operator.DOES_NOT_EXIST)), [False, False, True, True, True], id="does not exist"),
    pytest.param(select(req("team", Operator.EXISTS)), [False] * 5, id="exists on unknown key"),
    pytest.param(select(req("team", Operator.DOES_NOT_EXIST)), [True] * 5, id="does not exist on unknown key"),
    pytest.param(select(req("team", Operator.IN, "a")), [False] * 5, id="in on unknown key"),
    pytest.param(select(req("team", Operator.NOT_IN, "a")), [True] * 5, id="notin on unknown key"),
    pytest.param(select(req("app", Operator.IN, "nope")), [False] * 5, id="in on unknown value"),
    pytest.param(select(req("app", Operator.IN, "nope", "db")), [False, False, True, False, False], id="in mixing unknown value"),
    pytest.param(select(req("app", Operator.NOT_IN, "nope")), [True] * 5, id="notin on unknown value"),
    pytest.param(select(req("app", Operator.EQUALS, "prod")), [False] * 5, id="value of another key"),
    pytest.param(
        select(req("app", Operator.EQUALS, "web"), req("env", Operator.NOT_EQUALS, "prod")),
        [False, True, False, False, False],
        id="requirements are ANDed",
    ),
    pytest.param(
        select(req("app", Operator.EXISTS), req("canary", Operator.DOES_NOT_EXIST), req("tier", Operator.IN, "backend")),
        [False, True, True, False, False],
        id="three requirements",
    ),
]


@pytest.mark.parametrize(("selector", "expected"), MATCH_CASES)
def test_match_table(kernel: MatchKernel, selector: Selector, expected: list[bool]) -> None:
    table = LabelTable.from_labels(OBJECTS, kernel=kernel)

    result = table.match(selector)

    assert result.dtype == np.bool_
    assert result.tolist() == expected


def test_match_empty_table(kernel: MatchKernel) -> None:
    table = LabelTable(kernel=kernel)

    assert table.match(select(req("app", Operator.EXISTS))).tolist() == []


def test_match_sees_appended_values(kernel: MatchKernel) -> None:
    table = LabelTable.from_labels(OBJECTS, kernel=kernel)
    selector = select(req("app", Operator.EQUALS, "queue"))
    assert not table.match(selector).any()

    row = table.append({"app": "queue"})

    assert table.match(selector).tolist() == [False] * 5 + [True]
    assert row == 5


def test_match_all_rows_per_selector(kernel: MatchKernel) -> None:
    table = LabelTable.from_labels(OBJECTS, kernel=kernel)
    selectors = [select(req("app", Operator.EQUALS, "web")), Selector.nothing()]

    result = table.match_all(selectors)

    assert result.shape == (2, 5)
    assert result[0].tolist() == [True, True, False, False, False]
    assert result[1].tolist() == [False] * 5


def test_append_grows_past_capacity(kernel: MatchKernel) -> None:
    table = LabelTable(kernel=kernel)
    rows = [table.append({"index": str(i), "parity": str(i % 2)}) for i in range(1000)]

    matched = table.match(select(req("parity", Operator.EQUALS, "1")))

    assert rows == list(range(1000))
    assert len(table) == 1000
    assert matched.tolist() == [i % 2 == 1 for i in range(1000)]


def test_table_layout_is_csr_sorted_by_key() -> None:
    # Ids follow first use: a=0, b=1 and "1"=0, "2"=1, "3"=2. Row 2 lists b
    # first but is stored in key id order.
    labels = [{"a": "1"}, {}, {"b": "2", "a": "3"}]

    table = LabelTable.from_labels(labels, kernel=_selector_py.match_rows)

    assert table.offsets.tolist() == [0, 1, 1, 3]
    assert table.key_ids.tolist() == [0, 0, 1]
    assert table.value_ids.tolist() == [0, 2, 1]


def test_table_arrays_read_only() -> None:
    table = LabelTable.from_labels(OBJECTS, kernel=_selector_py.match_rows)

    with pytest.raises(ValueError, match="read-only"):
        table.offsets[0] = 1
    with pytest.raises(ValueError, match="read-only"):
        table.key_ids[0] = 1
    with pytest.raises(ValueError, match="read-only"):
        table.value_ids[0] = 1


def test_row_labels_roundtrip() -> None:
    table = LabelTable.from_labels(OBJECTS, kernel=_selector_py.match_rows)

    for row, labels in enumerate(OBJECTS):
        assert table.row_labels(row) == labels


def test_row_labels_out_of_range() -> None:
    table = LabelTable.from_labels(OBJECTS, kernel=_selector_py.match_rows)

    with pytest.raises(IndexError, match="row 5 is out of range"):
        table.row_labels(5)


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param({"app": 1}, id="int value"),
        pytest.param({1: "web"}, id="int key"),
    ],
)
def test_append_non_string_label(labels: dict[object, object]) -> None:
    table = LabelTable(kernel=_selector_py.match_rows)

    with pytest.raises(TypeError, match="expected str"):
        table.append(labels)  # type: ignore[arg-type]


def test_compile_unsupported_operator() -> None:
    class GreaterThan(enum.Enum):
        GT = "gt"

    table = LabelTable.from_labels(OBJECTS, kernel=_selector_py.match_rows)
    selector = Selector(requirements=(Requirement("app", GreaterThan.GT, ("1",)),))  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="unsupported operator 'gt'"):
        table.match(selector)


def test_compile_maps_equals_to_in() -> None:
    table = LabelTable.from_labels(OBJECTS, kernel=_selector_py.match_rows)

    compiled = table.compile(select(req("app", Operator.EQUALS, "db"), req("env", Operator.NOT_EQUALS, "prod")))

    assert compiled.ops.tolist() == [_selector_py.OP_IN, _selector_py.OP_NOT_IN]
    assert compiled.value_offsets.tolist() == [0, 1, 2]
    assert compiled.matches_nothing is False


# --- the native shims' input checks -----------------------------------------


def native_arguments() -> dict[str, NDArray[Any]]:
    return {
        "offsets": np.array([0, 1, 2], dtype=np.int64),
        "key_ids": np.array([0, 0], dtype=np.int32),
        "value_ids": np.array([0, 1], dtype=np.int32),
        "ops": np.array([0], dtype=np.int8),
        "requirement_key_ids": np.array([0], dtype=np.int32),
        "value_offsets": np.array([0, 1], dtype=np.int64),
        "requirement_value_ids": np.array([1], dtype=np.int32),
    }


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        pytest.param("offsets", np.array([0, 1, 2], dtype=np.int32), "offsets: expected dtype int64", id="offsets dtype"),
        pytest.param("key_ids", np.array([[0, 0]], dtype=np.int32), "key_ids: expected a 1-D array", id="key_ids 2-D"),
        pytest.param("value_ids", np.array([0, 9, 1], dtype=np.int32)[::2], "value_ids: array is not C-contiguous", id="value_ids strided"),
        pytest.param("value_ids", np.array([0], dtype=np.int32), "value_ids: expected 2 entries", id="value_ids short"),
        pytest.param("offsets", np.array([], dtype=np.int64), "offsets: expected at least 1 entry", id="offsets empty"),
        pytest.param("offsets", np.array([0, 1, 5], dtype=np.int64), "offsets: expected to start at 0", id="offsets past pairs"),
        pytest.param("offsets", np.array([0, 3, 2], dtype=np.int64), "offsets: row 0 spans", id="offsets decreasing"),
        pytest.param("ops", np.array([7], dtype=np.int8), r"ops\[0\]: invalid operator code 7", id="bad op code"),
        pytest.param("requirement_key_ids", np.array([0, 1], dtype=np.int32), "requirement_key_ids: expected 1 entries", id="key per op"),
        pytest.param("value_offsets", np.array([0], dtype=np.int64), r"value_offsets: expected 2 entries", id="value_offsets short"),
        pytest.param("value_offsets", np.array([0, 2], dtype=np.int64), "value_offsets: expected to start at 0", id="value_offsets past values"),
        pytest.param("requirement_value_ids", np.array([1], dtype=np.int64), "requirement_value_ids: expected dtype int32", id="values dtype"),
    ],
)
def test_native_rejects_bad_array(name: str, bad: NDArray[Any], message: str) -> None:
    native = pytest.importorskip("pykube_core._selector_native")
    arguments = native_arguments()
    arguments[name] = bad

    with pytest.raises(ValueError, match=message):
        native.match_rows(**arguments)


def test_native_accepts_valid_arrays() -> None:
    native = pytest.importorskip("pykube_core._selector_native")

    assert native.match_rows(**native_arguments()).tolist() == [False, True]


# --- properties: kernel, twin and Selector.matches agree ---------------------

KEYS = ["app", "tier", "env", "zone"]
VALUES = ["a", "b", "c", "d"]

label_sets = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=len(KEYS))

requirements = st.builds(
    req,
    st.sampled_from(KEYS + ["unknown"]),
    st.sampled_from(list(Operator)),
).flatmap(
    lambda r: st.lists(st.sampled_from(VALUES + ["z"]), min_size=1, max_size=3).map(
        lambda values: req(r.key, r.operator, *values)
        if r.operator in (Operator.IN, Operator.NOT_IN)
        else req(r.key, r.operator, values[0])
        if r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS)
        else r
    )
)

selectors = st.one_of(
    st.lists(requirements, max_size=4).map(lambda rs: Selector(requirements=tuple(rs))),
    st.just(Selector.nothing()),
)


@settings(max_examples=300, deadline=None)
@given(objects=st.lists(label_sets, max_size=30), selector=selectors)
def test_match_agrees_with_selector(kernel: MatchKernel, objects: list[dict[str, str]], selector: Selector) -> None:
    table = LabelTable.from_labels(objects, kernel=kernel)

    result = table.match(selector)

    assert result.tolist() == [selector.matches(labels) for labels in objects]


@settings(max_examples=200, deadline=None)
@given(objects=st.lists(label_sets, max_size=30), selector=selectors)
def test_native_agrees_with_twin(objects: list[dict[str, str]], selector: Selector) -> None:
    native = pytest.importorskip("pykube_core._selector_native")
    table = LabelTable.from_labels(objects, kernel=native.match_rows)
    compiled = table.compile(selector)
    arguments = (
        table.offsets,
        table.key_ids,
        table.value_ids,
        compiled.ops,
        compiled.key_ids,
        compiled.value_offsets,
        compiled.value_ids,
    )

    assert native.match_rows(*arguments).tolist() == _selector_py.match_rows(*arguments).tolist()
