"""Pure-Python twin of the watch fan-out hub in csrc/watchhub/.

Hub takes the same arguments and returns the same results as
_watchhub_native.Hub, written for clarity rather than speed: the tests use
it as the oracle and the benchmarks as the baseline, and
PYKUBE_PURE_PYTHON=1 makes pykube_core.watch_hub use it. It keeps the same
buckets as the native hub, so the tests check the index as well as the
matching. csrc/watchhub/hub.h describes the id conventions and the buckets.

Two differences from the native hub, neither visible through watch_hub.py:
arrays are not checked for dtype or contiguity, and the hub has no lock,
so it must be used from one thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pykube_core import _selector_py

ADDED = 0
MODIFIED = 1
DELETED = 2

ANY_NAMESPACE = -1
NO_INDEX_FIELD = -1

FIELD_EQUALS = 0
FIELD_NOT_EQUALS = 1

DrainedArrays = tuple[NDArray[np.int64], NDArray[np.int8], int | None]


@dataclasses.dataclass(eq=False)
class _Watcher:
    watcher_id: int
    namespace_id: int
    matches_nothing: bool
    label_requirements: list[tuple[int, int, frozenset[int]]]
    """(operator code, key id, value ids), operator codes of _selector_py."""
    field_requirements: list[tuple[int, int, int]]
    """(column, FIELD_EQUALS or FIELD_NOT_EQUALS, value id)."""
    capacity: int
    bucket: list[_Watcher]
    pending: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    overflow_slot: int | None = None


@dataclasses.dataclass(frozen=True)
class _ObjectState:
    namespace_id: int
    labels: dict[int, int]
    field_values: list[int]


class Hub:
    """Watchers in namespace, index-field and unindexed buckets, each with a bounded queue."""

    def __init__(self, field_count: int, index_field: int) -> None:
        if field_count < 0:
            raise ValueError(f"field_count: {field_count} is out of range; expected 0 or more")
        if not NO_INDEX_FIELD <= index_field < field_count:
            raise ValueError(
                f"index_field: {index_field} is not a field column; expected -1 (none) "
                f"or 0 to {field_count - 1}"
            )
        self._field_count = field_count
        self._index_field = index_field
        self._next_id = 1
        self._watchers: dict[int, _Watcher] = {}
        self._namespace_buckets: dict[int, list[_Watcher]] = {}
        self._field_buckets: dict[int, list[_Watcher]] = {}
        self._unindexed: list[_Watcher] = []

    @property
    def field_count(self) -> int:
        return self._field_count

    @property
    def index_field(self) -> int:
        return self._index_field

    def __len__(self) -> int:
        return len(self._watchers)

    def add_watcher(
        self,
        namespace_id: int,
        matches_nothing: bool,
        ops: NDArray[np.int8],
        key_ids: NDArray[np.int32],
        value_offsets: NDArray[np.int64],
        value_ids: NDArray[np.int32],
        field_columns: NDArray[np.int32],
        field_ops: NDArray[np.int8],
        field_value_ids: NDArray[np.int32],
        capacity: int,
    ) -> int:
        """Add a watcher and return its id."""
        if capacity < 1:
            raise ValueError(
                f"capacity: {capacity} is too small; a watcher needs room for at least 1 delivery"
            )
        labels = [
            (
                int(ops[r]),
                int(key_ids[r]),
                frozenset(value_ids[value_offsets[r] : value_offsets[r + 1]].tolist()),
            )
            for r in range(len(ops))
        ]
        fields = [
            (int(column), int(op), int(value))
            for column, op, value in zip(field_columns, field_ops, field_value_ids)
        ]
        watcher = _Watcher(
            watcher_id=self._next_id,
            namespace_id=namespace_id,
            matches_nothing=matches_nothing,
            label_requirements=labels,
            field_requirements=fields,
            capacity=capacity,
            bucket=self._bucket_for(namespace_id, fields),
        )
        self._next_id += 1
        watcher.bucket.append(watcher)
        self._watchers[watcher.watcher_id] = watcher
        return watcher.watcher_id

    def _bucket_for(self, namespace_id: int, fields: Sequence[tuple[int, int, int]]) -> list[_Watcher]:
        for column, op, value in fields:
            if column == self._index_field and op == FIELD_EQUALS:
                return self._field_buckets.setdefault(value, [])
        if namespace_id != ANY_NAMESPACE:
            return self._namespace_buckets.setdefault(namespace_id, [])
        return self._unindexed

    def remove_watcher(self, watcher_id: int) -> DrainedArrays | None:
        """Remove a watcher; return its pending deliveries, or None when the id is unknown."""
        watcher = self._watchers.pop(watcher_id, None)
        if watcher is None:
            return None
        watcher.bucket.remove(watcher)
        return self._take(watcher)

    def publish(
        self,
        slot: int,
        event_type: int,
        namespace_id: int,
        key_ids: NDArray[np.int32],
        value_ids: NDArray[np.int32],
        field_values: NDArray[np.int32],
        old_namespace_id: int,
        old_key_ids: NDArray[np.int32],
        old_value_ids: NDArray[np.int32],
        old_field_values: NDArray[np.int32],
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Fan one event out; return (delivered ids, overflowed ids)."""
        if event_type not in (ADDED, MODIFIED, DELETED):
            raise ValueError(
                f"event_type: invalid code {event_type}; expected 0 (ADDED), 1 (MODIFIED) or 2 (DELETED)"
            )
        new = _ObjectState(namespace_id, _label_map(key_ids, value_ids), field_values.tolist())
        old = _ObjectState(old_namespace_id, _label_map(old_key_ids, old_value_ids), old_field_values.tolist())
        delivered: list[int] = []
        overflowed: list[int] = []
        for bucket in self._visited_buckets(event_type, new, old):
            for watcher in bucket:
                delivered_type = self._delivered_type(watcher, event_type, new, old)
                if watcher.overflow_slot is not None or delivered_type is None:
                    continue
                if len(watcher.pending) >= watcher.capacity:
                    watcher.overflow_slot = slot
                    overflowed.append(watcher.watcher_id)
                else:
                    watcher.pending.append((slot, delivered_type))
                    delivered.append(watcher.watcher_id)
        return np.array(delivered, dtype=np.int64), np.array(overflowed, dtype=np.int64)

    def _visited_buckets(self, event_type: int, new: _ObjectState, old: _ObjectState) -> list[list[_Watcher]]:
        """Return the distinct buckets that can hold a watcher of either object state."""
        states = [new, old] if event_type == MODIFIED else [new]
        buckets: list[list[_Watcher]] = []
        for state in states:
            buckets.append(self._namespace_buckets.get(state.namespace_id, []))
            if self._index_field != NO_INDEX_FIELD:
                buckets.append(self._field_buckets.get(state.field_values[self._index_field], []))
        buckets.append(self._unindexed)
        distinct: dict[int, list[_Watcher]] = {id(bucket): bucket for bucket in buckets}
        return list(distinct.values())

    def _delivered_type(
        self, watcher: _Watcher, event_type: int, new: _ObjectState, old: _ObjectState
    ) -> int | None:
        """Apply Kubernetes' transition rule; None means the watcher gets nothing."""
        now = _matches(watcher, new)
        if event_type != MODIFIED:
            return event_type if now else None
        before = _matches(watcher, old)
        if now and before:
            return MODIFIED
        if now:
            return ADDED
        if before:
            return DELETED
        return None

    def drain(self, watcher_id: int) -> DrainedArrays:
        """Take a watcher's pending deliveries: (slots, types, overflow_slot or None)."""
        return self._take(self._get(watcher_id))

    def pending(self, watcher_id: int) -> int:
        """Return the number of deliveries waiting in a watcher's queue."""
        return len(self._get(watcher_id).pending)

    def footprint_bytes(self) -> int:
        """Return 0: Python objects are measured with tracemalloc, not by the hub."""
        return 0

    def _get(self, watcher_id: int) -> _Watcher:
        watcher = self._watchers.get(watcher_id)
        if watcher is None:
            raise KeyError(f"watcher {watcher_id} is not registered in this hub; it was removed or never added")
        return watcher

    @staticmethod
    def _take(watcher: _Watcher) -> DrainedArrays:
        slots = np.array([slot for slot, _ in watcher.pending], dtype=np.int64)
        types = np.array([event_type for _, event_type in watcher.pending], dtype=np.int8)
        watcher.pending = []
        return slots, types, watcher.overflow_slot


def _label_map(key_ids: NDArray[np.int32], value_ids: NDArray[np.int32]) -> dict[int, int]:
    return dict(zip(key_ids.tolist(), value_ids.tolist()))


def _matches(watcher: _Watcher, state: _ObjectState) -> bool:
    if watcher.matches_nothing:
        return False
    if watcher.namespace_id != ANY_NAMESPACE and watcher.namespace_id != state.namespace_id:
        return False
    for column, op, value in watcher.field_requirements:
        if (state.field_values[column] == value) != (op == FIELD_EQUALS):
            return False
    return all(_satisfies(state.labels, *requirement) for requirement in watcher.label_requirements)


def _satisfies(labels: dict[int, int], op: int, key: int, values: frozenset[int]) -> bool:
    present = key in labels
    if op == _selector_py.OP_IN:
        return present and labels[key] in values
    if op == _selector_py.OP_NOT_IN:
        return not present or labels[key] not in values
    if op == _selector_py.OP_EXISTS:
        return present
    if op == _selector_py.OP_DOES_NOT_EXIST:
        return not present
    raise ValueError(f"ops: invalid operator code {op}; expected 0 to 3")
