"""Label-selector matching over the labels of many objects at once.

The API server filters list results and watch events by label selector. Doing
that one dict at a time costs a Python call per object and requirement. So
LabelTable keeps every object's labels as interned ids in CSR arrays. Each
match call compiles the selector into small arrays, and a native kernel
(pykube_core._selector_native) runs them over all rows with the GIL released.

Policy stays here: interning, the mapping of the seven selector operators to
the kernel's four, and the shortcuts for keys and values that no object uses
(for example "tier in (gold)" matches nothing when no object has the value
"gold"). The kernel only checks arrays and loops. Its pure-Python twin
(pykube_core._selector_py) has the same semantics; PYKUBE_PURE_PYTHON=1 or a
missing native build selects it, and tests pass a kernel explicitly.

Matching follows Kubernetes' labels.Requirement semantics for the operators
pykube_core.labels defines. Differences from Kubernetes: the numeric "gt" and
"lt" operators are not supported, because pykube_core.labels has none.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
import dataclasses
from dataclasses import dataclass
from typing import NewType, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from pykube_core import _selector_py
from pykube_core.labels import Operator, Requirement, Selector

logger = logging.getLogger("pykube.core.selector")

KeyId = NewType("KeyId", int)
ValueId = NewType("ValueId", int)

# Operator codes of the kernel (csrc/selector/match.h).
OP_IN = _selector_py.OP_IN
OP_NOT_IN = _selector_py.OP_NOT_IN
OP_EXISTS = _selector_py.OP_EXISTS
OP_DOES_NOT_EXIST = _selector_py.OP_DOES_NOT_EXIST

# Selector operators that compile to the kernel's In and NotIn.
_IN_OPERATORS = frozenset({Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS})
_NOT_IN_OPERATORS = frozenset({Operator.NOT_IN, Operator.NOT_EQUALS})

# Initial array capacities of an empty table, in rows and label pairs. They
# only save the first few reallocations, because the arrays double when full.
INITIAL_ROW_CAPACITY = 64
INITIAL_PAIR_CAPACITY = 256


class MatchKernel(Protocol):
    """A label-selector kernel: _selector_native.match_rows or its twin."""

    def __call__(
        self,
        offsets: NDArray[np.int64],
        key_ids: NDArray[np.int32],
        value_ids: NDArray[np.int32],
        ops: NDArray[np.int8],
        requirement_key_ids: NDArray[np.int32],
        value_offsets: NDArray[np.int64],
        requirement_value_ids: NDArray[np.int32],
        /,
    ) -> NDArray[np.bool_]: ...


def default_match_kernel() -> MatchKernel:
    """Return the native kernel, or the pure-Python twin when forced or not built."""
    if os.environ.get("PYKUBE_PURE_PYTHON") == "1":
        return _selector_py.match_rows
    try:
        from pykube_core import _selector_native
    except ImportError as error:
        logger.warning(
            "native selector kernel unavailable, using pure Python: error=%s "
            "hint='python setup.py build_ext --inplace'",
            error,
        )
        return _selector_py.match_rows
    return _selector_native.match_rows


@dataclass(frozen=True)
class CompiledSelector:
    """A selector as kernel arrays, valid for one LabelTable until its next append.

    Requirement r has operator ops[r] on key key_ids[r] and the sorted value
    ids value_ids[value_offsets[r]:value_offsets[r + 1]]. Requirements that
    every object satisfies are left out. matches_nothing is True when some
    requirement can match no object, and the arrays are then empty.
    """

    ops: NDArray[np.int8]
    key_ids: NDArray[np.int32]
    value_offsets: NDArray[np.int64]
    value_ids: NDArray[np.int32]
    matches_nothing: bool


class _SelectorBuilder:
    """Accumulates compiled requirements into the lists behind CompiledSelector."""

    def __init__(self) -> None:
        self.ops: list[int] = []
        self.key_ids: list[int] = []
        self.value_offsets: list[int] = [0]
        self.value_ids: list[int] = []

    def add(self, op: int, key_id: KeyId, value_ids: Sequence[ValueId] = ()) -> None:
        self.ops.append(op)
        self.key_ids.append(key_id)
        self.value_ids.extend(value_ids)
        self.value_offsets.append(len(self.value_ids))

    def build(self) -> CompiledSelector:
        return CompiledSelector(
            ops=np.array(self.ops, dtype=np.int8),
            key_ids=np.array(self.key_ids, dtype=np.int32),
            value_offsets=np.array(self.value_offsets, dtype=np.int64),
            value_ids=np.array(self.value_ids, dtype=np.int32),
            matches_nothing=False,
        )


def _matching_nothing() -> CompiledSelector:
    return dataclasses.replace(_SelectorBuilder().build(), matches_nothing=True)


# TODO: replace and remove rows. The watch cache needs both when an object's
# labels change or the object is deleted.
class LabelTable:
    """The labels of N objects, row i for the i-th appended object.

    Keys and values are interned to int32 ids in two dicts. Row i's pairs are
    key_ids[offsets[i]:offsets[i + 1]] and value_ids[same range], sorted by
    key id. Rows are append-only.
    """

    def __init__(self, *, kernel: MatchKernel | None = None) -> None:
        self._kernel = kernel if kernel is not None else default_match_kernel()
        self._key_index: dict[str, KeyId] = {}
        self._value_index: dict[str, ValueId] = {}
        self._keys: list[str] = []
        self._values: list[str] = []
        self._row_count = 0
        self._offsets = np.zeros(INITIAL_ROW_CAPACITY + 1, dtype=np.int64)
        self._key_ids = np.zeros(INITIAL_PAIR_CAPACITY, dtype=np.int32)
        self._value_ids = np.zeros(INITIAL_PAIR_CAPACITY, dtype=np.int32)

    @classmethod
    def from_labels(
        cls, labels: Iterable[Mapping[str, str]], *, kernel: MatchKernel | None = None
    ) -> LabelTable:
        """Build a table with one row per mapping, in iteration order."""
        table = cls(kernel=kernel)
        rows = [table._intern_row(row_labels) for row_labels in labels]
        table._extend(rows)
        return table

    def append(self, labels: Mapping[str, str]) -> int:
        """Add one object's labels as a new row and return its row index."""
        self._extend([self._intern_row(labels)])
        return self._row_count - 1

    def __len__(self) -> int:
        return self._row_count

    @property
    def offsets(self) -> NDArray[np.int64]:
        """Read-only view of the row offsets, len(self) + 1 entries."""
        return _read_only(self._offsets[: self._row_count + 1])

    @property
    def key_ids(self) -> NDArray[np.int32]:
        """Read-only view of the key id of every label pair."""
        return _read_only(self._key_ids[: self._pair_count])

    @property
    def value_ids(self) -> NDArray[np.int32]:
        """Read-only view of the value id of every label pair."""
        return _read_only(self._value_ids[: self._pair_count])

    def row_labels(self, row: int) -> dict[str, str]:
        """Return the labels of one row, decoded back to strings."""
        if not 0 <= row < self._row_count:
            raise IndexError(f"row {row} is out of range for a table of {self._row_count} rows")
        begin, end = int(self._offsets[row]), int(self._offsets[row + 1])
        return {
            self._keys[key_id]: self._values[value_id]
            for key_id, value_id in zip(
                self._key_ids[begin:end].tolist(), self._value_ids[begin:end].tolist()
            )
        }

    def compile(self, selector: Selector) -> CompiledSelector:
        """Compile a selector against the keys and values interned so far."""
        if selector.matches_nothing:
            return _matching_nothing()
        builder = _SelectorBuilder()
        for requirement in selector.requirements:
            if not self._compile_requirement(requirement, builder):
                return _matching_nothing()
        return builder.build()

    def match(self, selector: Selector) -> NDArray[np.bool_]:
        """Return a bool array of length len(self), True for each matching row."""
        compiled = self.compile(selector)
        if compiled.matches_nothing:
            return np.zeros(self._row_count, dtype=np.bool_)
        if len(compiled.ops) == 0:
            return np.ones(self._row_count, dtype=np.bool_)
        return self._kernel(
            self._offsets[: self._row_count + 1],
            self._key_ids[: self._pair_count],
            self._value_ids[: self._pair_count],
            compiled.ops,
            compiled.key_ids,
            compiled.value_offsets,
            compiled.value_ids,
        )

    def match_all(self, selectors: Sequence[Selector]) -> NDArray[np.bool_]:
        """Return a (len(selectors), len(self)) bool array, row s for selectors[s]."""
        result = np.zeros((len(selectors), self._row_count), dtype=np.bool_)
        for index, selector in enumerate(selectors):
            result[index] = self.match(selector)
        return result

    @property
    def _pair_count(self) -> int:
        return int(self._offsets[self._row_count])

    def _compile_requirement(self, requirement: Requirement, builder: _SelectorBuilder) -> bool:
        """Add one requirement to builder, or return False if it can match no object.

        A key or value that was never interned is on no object, so IN and
        EXISTS on it match nothing, and NOT_IN and DOES_NOT_EXIST on it match
        everything and are left out.
        """
        operator = requirement.operator
        key_id = self._key_index.get(requirement.key)
        if operator in _IN_OPERATORS:
            value_ids = self._known_value_ids(requirement.values)
            if key_id is None or not value_ids:
                return False
            builder.add(OP_IN, key_id, value_ids)
        elif operator in _NOT_IN_OPERATORS:
            value_ids = self._known_value_ids(requirement.values)
            if key_id is not None and value_ids:
                builder.add(OP_NOT_IN, key_id, value_ids)
        elif operator is Operator.EXISTS:
            if key_id is None:
                return False
            builder.add(OP_EXISTS, key_id)
        elif operator is Operator.DOES_NOT_EXIST:
            if key_id is not None:
                builder.add(OP_DOES_NOT_EXIST, key_id)
        else:
            raise ValueError(
                f"label selector requirement on key {requirement.key!r}: unsupported "
                f"operator {operator.value!r}; expected one of in, notin, exists, !, =, ==, !="
            )
        return True

    def _known_value_ids(self, values: Iterable[str]) -> list[ValueId]:
        found = (self._value_index.get(value) for value in values)
        return sorted(value_id for value_id in found if value_id is not None)

    def _intern_row(self, labels: Mapping[str, str]) -> list[tuple[KeyId, ValueId]]:
        pairs = [(self._intern_key(key), self._intern_value(value)) for key, value in labels.items()]
        pairs.sort()
        return pairs

    def _intern_key(self, key: str) -> KeyId:
        if not isinstance(key, str):
            raise TypeError(f"label key {key!r}: expected str, got {type(key).__name__}")
        key_id = self._key_index.get(key)
        if key_id is None:
            key_id = KeyId(len(self._keys))
            self._key_index[key] = key_id
            self._keys.append(key)
        return key_id

    def _intern_value(self, value: str) -> ValueId:
        if not isinstance(value, str):
            raise TypeError(f"label value {value!r}: expected str, got {type(value).__name__}")
        value_id = self._value_index.get(value)
        if value_id is None:
            value_id = ValueId(len(self._values))
            self._value_index[value] = value_id
            self._values.append(value)
        return value_id

    def _extend(self, rows: Sequence[Sequence[tuple[KeyId, ValueId]]]) -> None:
        """Append interned rows, growing the arrays once for all of them."""
        new_pairs = [pair for row in rows for pair in row]
        first_pair = self._pair_count
        self._reserve(self._row_count + len(rows), first_pair + len(new_pairs))

        row_ends = np.cumsum([len(row) for row in rows], dtype=np.int64) + first_pair
        self._offsets[self._row_count + 1 : self._row_count + 1 + len(rows)] = row_ends
        if new_pairs:
            pair_array = np.array(new_pairs, dtype=np.int32)
            self._key_ids[first_pair : first_pair + len(new_pairs)] = pair_array[:, 0]
            self._value_ids[first_pair : first_pair + len(new_pairs)] = pair_array[:, 1]
        self._row_count += len(rows)

    def _reserve(self, row_count: int, pair_count: int) -> None:
        """Grow the arrays, doubling, so they fit row_count rows and pair_count pairs."""
        if row_count + 1 > len(self._offsets):
            self._offsets = _grown(self._offsets, row_count + 1)
        if pair_count > len(self._key_ids):
            self._key_ids = _grown(self._key_ids, pair_count)
            self._value_ids = _grown(self._value_ids, pair_count)


ScalarT = TypeVar("ScalarT", bound=np.generic)


def _grown(array: NDArray[ScalarT], minimum: int) -> NDArray[ScalarT]:
    capacity = max(minimum, 2 * len(array))
    grown = np.zeros(capacity, dtype=array.dtype)
    grown[: len(array)] = array
    return grown


def _read_only(array: NDArray[ScalarT]) -> NDArray[ScalarT]:
    view = array.view()
    view.flags.writeable = False
    return view
