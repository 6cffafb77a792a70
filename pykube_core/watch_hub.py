"""Fan-out of watch events to many watchers, at a cost per matched watcher.

The API server's watch cache publishes every change of a resource to all
open watches of that resource. A Python loop over every watch costs a call
per watch and event, so a pod event would cost as much with 10,000 node
agents watching as the node agents' pods would. WatchHub instead keeps the
watchers in a native hub (pykube_core._watchhub_native) that indexes them
by namespace and by one exact-match field (spec.nodeName for pods). A
publish visits only the watchers of the event's namespace, of its
index-field value, and those that fit neither index. It matches them with
the GIL released.

Policy stays here:

- Interning. Namespaces, label keys and values, and field values become
  int32 ids, but only those that some watcher's filter names. Event strings
  that no watcher names map to "absent" (label keys) or to value id 0, which
  equals no requirement's value. So the tables grow with the watchers'
  filters, not with the objects.
- Compiling the label selector to the kernel's four operators, as
  pykube_core.selector_index does, and the field selector to equal/not-equal
  terms over a fixed list of field names per resource.
- Payloads. The native hub queues (slot, event type) pairs. The payload of
  each slot (the serialized event, say) stays here with a count of the
  queues that hold the slot, and is released when the last one drains it.

Each watcher has a bounded queue. When a delivery finds it full, the hub
marks the watcher overflowed and delivers nothing more to it. publish
returns the watcher's id once more so the caller wakes it. drain then
reports the slot that did not fit, and the caller closes the watch with an
error, as etcd and Kubernetes do for a watcher that falls too far behind.

The pure-Python twin (pykube_core._watchhub_py) has the same semantics.
PYKUBE_PURE_PYTHON=1 or a missing native build selects it, and tests pass a
kernel explicitly.

Differences from Kubernetes' watch cache (k8s.io/apiserver cacher, 1.32):

- A MODIFIED event without the previous object state (the store compacted
  it) is matched as if the object had not changed. A watcher matching the
  new state gets MODIFIED, where Kubernetes always has the previous state.
- Namespace filtering compares strings: a watcher of namespace "" matches
  cluster-scoped objects, whose namespace the caller passes as "".
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Generic, NewType, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from pykube_core import _selector_py, _watchhub_py
from pykube_core.fields import FieldSelector
from pykube_core.labels import Operator, Requirement, Selector
from pykube_core.selector_index import CompiledSelector

logger = logging.getLogger("pykube.core.watchhub")

WatcherId = NewType("WatcherId", int)

PayloadT = TypeVar("PayloadT")

# Value id of every label or field value that no watcher names (see hub.h).
OTHER_VALUE_ID = 0

_IN_OPERATORS = frozenset({Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS})
_NOT_IN_OPERATORS = frozenset({Operator.NOT_IN, Operator.NOT_EQUALS})
_FIELD_OPS = {Operator.EQUALS: _watchhub_py.FIELD_EQUALS, Operator.NOT_EQUALS: _watchhub_py.FIELD_NOT_EQUALS}
_NO_IDS = np.zeros(0, dtype=np.int32)
_NO_IDS.flags.writeable = False


class WatchEventType(enum.IntEnum):
    """Event type codes shared with the kernels; ``name`` is the wire string."""

    ADDED = _watchhub_py.ADDED
    MODIFIED = _watchhub_py.MODIFIED
    DELETED = _watchhub_py.DELETED


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectState:
    """The parts of one object version that the hub matches.

    namespace is "" for a cluster-scoped object. fields maps the hub's field
    names to their string values, and a missing name counts as "", as in
    pykube_core.fields.
    """

    namespace: str
    labels: Mapping[str, str]
    fields: Mapping[str, str]


DrainedArrays = tuple[NDArray[np.int64], NDArray[np.int8], int | None]


class HubKernel(Protocol):
    """The hub interface of _watchhub_native.Hub and its twin _watchhub_py.Hub."""

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
    ) -> int: ...

    def remove_watcher(self, watcher_id: int) -> DrainedArrays | None: ...

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
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]: ...

    def drain(self, watcher_id: int) -> DrainedArrays: ...

    def pending(self, watcher_id: int) -> int: ...

    def footprint_bytes(self) -> int: ...

    def __len__(self) -> int: ...


HubFactory = Callable[[int, int], HubKernel]
"""Builds a kernel hub from (field_count, index_field column or -1)."""


def default_hub_factory() -> HubFactory:
    """Return the native hub class, or the pure-Python twin when forced or not built."""
    if os.environ.get("PYKUBE_PURE_PYTHON") == "1":
        return _watchhub_py.Hub
    try:
        from pykube_core import _watchhub_native
    except ImportError as error:
        logger.warning(
            "native watch hub unavailable, using pure Python: error=%s "
            "hint='python setup.py build_ext --inplace'",
            error,
        )
        return _watchhub_py.Hub
    return _watchhub_native.Hub


@dataclasses.dataclass(frozen=True)
class Drained(Generic[PayloadT]):
    """The deliveries a watcher had pending, oldest first.

    payloads[i] is the payload published with slots[i], and types[i] the
    WatchEventType code the watcher gets for it. overflow_slot is the slot
    of the first event that found the queue full, or None. Once it is set
    the watcher receives nothing more.
    """

    slots: NDArray[np.int64]
    types: NDArray[np.int8]
    payloads: list[PayloadT]
    overflow_slot: int | None

    @property
    def overflowed(self) -> bool:
        return self.overflow_slot is not None

    def deliveries(self) -> Iterator[tuple[PayloadT, WatchEventType]]:
        """Yield (payload, event type) pairs, oldest first."""
        for payload, code in zip(self.payloads, self.types.tolist()):
            yield payload, WatchEventType(code)


@dataclasses.dataclass(frozen=True, slots=True)
class _EventArrays:
    namespace_id: int
    key_ids: NDArray[np.int32]
    value_ids: NDArray[np.int32]
    field_values: NDArray[np.int32]


class WatchHub(Generic[PayloadT]):
    """The watchers of one resource; see the module docstring.

    Not safe to share between threads: the interning tables and payloads are
    plain dicts. The native hub itself takes a lock in every call.
    """

    def __init__(
        self,
        field_names: Sequence[str],
        *,
        index_field: str | None = None,
        kernel: HubFactory | None = None,
    ) -> None:
        """Create an empty hub for events carrying values of ``field_names``.

        index_field names the field whose exact-match requirements are
        indexed (for pods, "spec.nodeName"); None indexes no field.
        """
        self._field_names = tuple(field_names)
        self._columns = {name: column for column, name in enumerate(self._field_names)}
        if len(self._columns) != len(self._field_names):
            raise ValueError(f"field_names: {list(self._field_names)} lists a field twice; list each once")
        index_column = _watchhub_py.NO_INDEX_FIELD
        if index_field is not None:
            if index_field not in self._columns:
                raise ValueError(
                    f"index_field: {index_field!r} is not one of field_names "
                    f"({', '.join(self._field_names)}); add it there or pass None"
                )
            index_column = self._columns[index_field]
        factory = kernel if kernel is not None else default_hub_factory()
        self._kernel = factory(len(self._field_names), index_column)
        # NOTE: entries stay after the watchers that named them are removed,
        # so a long-lived hub keeps every string any past watcher named.
        self._namespace_ids: dict[str, int] = {}
        self._key_ids: dict[str, int] = {}
        self._value_ids: dict[str, int] = {}
        self._payloads: dict[int, PayloadT] = {}
        self._references: dict[int, int] = {}
        self._last_slot: int | None = None
        self._overflowed: set[int] = set()

    @property
    def field_names(self) -> tuple[str, ...]:
        return self._field_names

    @property
    def last_slot(self) -> int | None:
        """The slot of the latest publish, or None before the first."""
        return self._last_slot

    @property
    def retained_payloads(self) -> int:
        """The number of payloads kept for deliveries not yet drained."""
        return len(self._payloads)

    def __len__(self) -> int:
        return len(self._kernel)

    # --- watchers -----------------------------------------------------------

    def add_watcher(
        self, *, namespace: str | None, labels: Selector, fields: FieldSelector, capacity: int
    ) -> WatcherId:
        """Register a watcher that receives the events of publishes made after this call.

        namespace None watches every namespace. capacity is the maximum
        number of undrained deliveries before the watcher overflows.
        Raises ValueError for a field outside field_names, an unsupported
        operator, or a capacity below 1.
        """
        columns, ops, values = self._compile_fields(fields)
        compiled = self._compile_labels(labels)
        namespace_id = _watchhub_py.ANY_NAMESPACE if namespace is None else self._intern(self._namespace_ids, namespace, 0)
        watcher_id = self._kernel.add_watcher(
            namespace_id,
            compiled.matches_nothing,
            compiled.ops,
            compiled.key_ids,
            compiled.value_offsets,
            compiled.value_ids,
            columns,
            ops,
            values,
            capacity,
        )
        return WatcherId(watcher_id)

    def remove_watcher(self, watcher_id: WatcherId) -> bool:
        """Unregister a watcher and drop its pending deliveries; False if it was not registered."""
        pending = self._kernel.remove_watcher(watcher_id)
        if pending is None:
            return False
        self._overflowed.discard(watcher_id)
        self._release(pending[0].tolist())
        return True

    def pending(self, watcher_id: WatcherId) -> int:
        """Return the number of undrained deliveries; KeyError for an unknown watcher."""
        return self._kernel.pending(watcher_id)

    def overflowed(self, watcher_id: WatcherId) -> bool:
        """Tell whether the watcher's queue overflowed, so it receives nothing more."""
        return watcher_id in self._overflowed

    def drain(self, watcher_id: WatcherId) -> Drained[PayloadT]:
        """Take the watcher's pending deliveries; KeyError for an unknown watcher."""
        slots, types, overflow_slot = self._kernel.drain(watcher_id)
        slot_list = slots.tolist()
        payloads = [self._payloads[slot] for slot in slot_list]
        self._release(slot_list)
        return Drained(slots, types, payloads, overflow_slot)

    def footprint_bytes(self) -> int:
        """Return the native hub's heap estimate in bytes; 0 for the pure-Python twin."""
        return self._kernel.footprint_bytes()

    # --- events ---------------------------------------------------------------

    def publish(
        self,
        slot: int,
        payload: PayloadT,
        event_type: WatchEventType,
        obj: ObjectState,
        old: ObjectState | None = None,
    ) -> NDArray[np.int64]:
        """Queue one event for every watcher it concerns; return the ids to wake.

        slot identifies the event in the queues and must be greater than the
        previous publish's (a store revision fits). obj is the object after
        the write, or its last state for DELETED. old is the state before a
        MODIFIED write, ignored for the other types. The returned int64
        array lists the watchers that got a delivery, then those that
        overflowed on this event. payload is kept until every delivery of
        the slot is drained or its watcher removed.
        """
        if self._last_slot is not None and slot <= self._last_slot:
            raise ValueError(
                f"slot: {slot} is not greater than the previous slot {self._last_slot}; "
                "publish events in increasing slot order"
            )
        new_arrays = self._event_arrays(obj)
        old_arrays = new_arrays
        if event_type is WatchEventType.MODIFIED and old is not None:
            old_arrays = self._event_arrays(old)
        delivered, overflowed = self._kernel.publish(
            slot,
            int(event_type),
            new_arrays.namespace_id,
            new_arrays.key_ids,
            new_arrays.value_ids,
            new_arrays.field_values,
            old_arrays.namespace_id,
            old_arrays.key_ids,
            old_arrays.value_ids,
            old_arrays.field_values,
        )
        self._last_slot = slot
        if len(delivered):
            self._payloads[slot] = payload
            self._references[slot] = len(delivered)
        if not len(overflowed):
            return delivered
        self._overflowed.update(overflowed.tolist())
        return np.concatenate([delivered, overflowed])

    # --- interning and compiling ----------------------------------------------

    @staticmethod
    def _intern(table: dict[str, int], text: str, first_id: int) -> int:
        found = table.get(text)
        if found is None:
            found = table[text] = first_id + len(table)
        return found

    def _intern_value(self, value: str) -> int:
        return self._intern(self._value_ids, value, OTHER_VALUE_ID + 1)

    def _compile_labels(self, selector: Selector) -> CompiledSelector:
        ops: list[int] = []
        key_ids: list[int] = []
        value_offsets = [0]
        value_ids: list[int] = []
        for requirement in selector.requirements:
            ops.append(_operator_code(requirement))
            key_ids.append(self._intern(self._key_ids, requirement.key, 0))
            value_ids.extend(sorted({self._intern_value(value) for value in requirement.values}))
            value_offsets.append(len(value_ids))
        return CompiledSelector(
            ops=np.array(ops, dtype=np.int8),
            key_ids=np.array(key_ids, dtype=np.int32),
            value_offsets=np.array(value_offsets, dtype=np.int64),
            value_ids=np.array(value_ids, dtype=np.int32),
            matches_nothing=selector.matches_nothing,
        )

    def _compile_fields(
        self, selector: FieldSelector
    ) -> tuple[NDArray[np.int32], NDArray[np.int8], NDArray[np.int32]]:
        columns: list[int] = []
        ops: list[int] = []
        values: list[int] = []
        for requirement in selector.requirements:
            column = self._columns.get(requirement.field)
            if column is None:
                raise ValueError(
                    f"field selector requirement on {requirement.field!r}: not a field of this "
                    f"hub ({', '.join(self._field_names)}); add it to field_names"
                )
            op = _FIELD_OPS.get(requirement.operator)
            if op is None:
                raise ValueError(
                    f"field selector requirement on {requirement.field!r}: unsupported operator "
                    f"{requirement.operator.value!r}; expected = or !="
                )
            columns.append(column)
            ops.append(op)
            values.append(self._intern_value(requirement.value))
        return (
            np.array(columns, dtype=np.int32),
            np.array(ops, dtype=np.int8),
            np.array(values, dtype=np.int32),
        )

    def _event_arrays(self, state: ObjectState) -> _EventArrays:
        """Map one object state to interned ids; strings no watcher names map to absent or 0."""
        value_ids = self._value_ids
        pairs = sorted(
            (key_id, value_ids.get(value, OTHER_VALUE_ID))
            for key, value in state.labels.items()
            if (key_id := self._key_ids.get(key)) is not None
        )
        fields = state.fields
        field_values = [value_ids.get(fields.get(name, ""), OTHER_VALUE_ID) for name in self._field_names]
        # Most objects carry no label that a watcher selects on; they share one empty array.
        return _EventArrays(
            namespace_id=self._namespace_ids.get(state.namespace, _watchhub_py.ANY_NAMESPACE),
            key_ids=np.array([key_id for key_id, _ in pairs], dtype=np.int32) if pairs else _NO_IDS,
            value_ids=np.array([value_id for _, value_id in pairs], dtype=np.int32) if pairs else _NO_IDS,
            field_values=np.array(field_values, dtype=np.int32),
        )

    def _release(self, slots: list[int]) -> None:
        """Drop one reference to each slot, and the payload with the last."""
        for slot in slots:
            remaining = self._references[slot] - 1
            if remaining:
                self._references[slot] = remaining
            else:
                del self._references[slot]
                del self._payloads[slot]


def _operator_code(requirement: Requirement) -> int:
    operator = requirement.operator
    if operator in _IN_OPERATORS:
        return _selector_py.OP_IN
    if operator in _NOT_IN_OPERATORS:
        return _selector_py.OP_NOT_IN
    if operator is Operator.EXISTS:
        return _selector_py.OP_EXISTS
    if operator is Operator.DOES_NOT_EXIST:
        return _selector_py.OP_DOES_NOT_EXIST
    raise ValueError(
        f"label selector requirement on key {requirement.key!r}: unsupported "
        f"operator {operator.value!r}; expected one of in, notin, exists, !, =, ==, !="
    )
