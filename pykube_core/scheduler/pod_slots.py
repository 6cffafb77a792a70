"""PodSlots: the node table's existing pods as flat arrays for PodTopologySpread and InterPodAffinity.

Each accounted pod gets a slot: its node row, namespace id, terminating
flag, labels (sorted by key id) and inter-pod affinity terms, whose owner
is the slot. The per-slot columns live in numpy buffers that double when
full, so adding a pod writes O(its labels) entries, and freeing a pod or
moving a node's row writes its row in place, which snapshots see because
they are views. A freed slot keeps row -1 until free slots outnumber live
ones (and MIN_FREE_POD_SLOTS), when the slots are compacted.

The terms are rebuilt into TermArrays only when a pod with terms comes or
the slots are compacted, because most pods have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pykube_core.scheduler.arrays import TermArrays
from pykube_core.scheduler.pod_terms import PodTerm, TermBuilder

# Free pod slots tolerated before compaction, so that a few pods coming and
# going do not rebuild the slots every time.
MIN_FREE_POD_SLOTS = 64

# Slots and label entries allocated for an empty table; buffers double when full.
INITIAL_SLOT_CAPACITY = 64


@dataclass(frozen=True)
class PodEntry:
    """The compiled pod behind a slot: namespace id, terminating flag, label id pairs and terms."""

    namespace: int
    terminating: int
    labels: tuple[tuple[int, int], ...]
    terms: tuple[PodTerm, ...]


class PodSlots:
    """The accounted pods of a NodeTable, one slot each; see the module docstring."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Drop every slot."""
        self._slots: dict[str, int] = {}
        self._entries: list[PodEntry | None] = []
        self._rows = np.full(INITIAL_SLOT_CAPACITY, -1, dtype=np.int32)
        self._namespaces = np.zeros(INITIAL_SLOT_CAPACITY, dtype=np.int32)
        self._terminating = np.zeros(INITIAL_SLOT_CAPACITY, dtype=np.uint8)
        self._label_offsets = np.zeros(INITIAL_SLOT_CAPACITY + 1, dtype=np.int64)
        self._label_keys = np.zeros(INITIAL_SLOT_CAPACITY, dtype=np.int32)
        self._label_values = np.zeros(INITIAL_SLOT_CAPACITY, dtype=np.int32)
        self._label_count = 0
        self._terms = TermBuilder()
        self._term_arrays: TermArrays | None = None
        self._free = 0

    def __len__(self) -> int:
        """Return the number of slots, free ones included."""
        return len(self._entries)

    def add(self, key: str, row: int, entry: PodEntry) -> None:
        """Give the pod `key` (namespace/name) on node `row` a new slot."""
        slot = len(self._entries)
        self._grow(slot + 1, self._label_count + len(entry.labels))
        self._slots[key] = slot
        self._entries.append(entry)
        self._rows[slot] = row
        self._namespaces[slot] = entry.namespace
        self._terminating[slot] = entry.terminating
        for label_key, label_value in entry.labels:
            self._label_keys[self._label_count] = label_key
            self._label_values[self._label_count] = label_value
            self._label_count += 1
        self._label_offsets[slot + 1] = self._label_count
        for term in entry.terms:
            self._terms.add(term, slot)
        if entry.terms:
            self._term_arrays = None

    def free(self, key: str) -> bool:
        """Free the pod's slot; return True when that compacted the slots (all slot numbers change)."""
        slot = self._slots.pop(key)
        self._entries[slot] = None
        self._rows[slot] = -1
        self._free += 1
        if self._free <= max(MIN_FREE_POD_SLOTS, len(self._slots)):
            return False
        self._compact()
        return True

    def set_row(self, key: str, row: int) -> None:
        """Record that the pod's node moved to `row`."""
        self._rows[self._slots[key]] = row

    def arrays(self) -> tuple[dict[str, NDArray[Any]], TermArrays]:
        """Return views of the slot columns, keyed by NodeArrays' field name, and the terms.

        The views follow later free() and set_row() calls, but not add()
        or a compaction: call arrays() again after those.
        """
        count = len(self._entries)
        columns: dict[str, NDArray[Any]] = {
            "pod_rows": self._rows[:count],
            "pod_namespaces": self._namespaces[:count],
            "pod_terminating": self._terminating[:count],
            "pod_label_offsets": self._label_offsets[: count + 1],
            "pod_label_keys": self._label_keys[: self._label_count],
            "pod_label_values": self._label_values[: self._label_count],
        }
        if self._term_arrays is None:
            self._term_arrays = self._terms.arrays()
        return columns, self._term_arrays

    def _compact(self) -> None:
        live = [
            (key, int(self._rows[slot]), self._entries[slot])
            for key, slot in sorted(self._slots.items(), key=lambda item: item[1])
        ]
        self.reset()
        for key, row, entry in live:
            assert entry is not None, f"pod {key} has a live slot without an entry"
            self.add(key, row, entry)
        self._term_arrays = None

    def _grow(self, slots: int, labels: int) -> None:
        if slots > len(self._rows):
            capacity = max(slots, 2 * len(self._rows))
            self._rows = _resized(self._rows, capacity, -1)
            self._namespaces = _resized(self._namespaces, capacity, 0)
            self._terminating = _resized(self._terminating, capacity, 0)
            self._label_offsets = _resized(self._label_offsets, capacity + 1, 0)
        if labels > len(self._label_keys):
            capacity = max(labels, 2 * len(self._label_keys))
            self._label_keys = _resized(self._label_keys, capacity, 0)
            self._label_values = _resized(self._label_values, capacity, 0)


def _resized(array: NDArray[Any], size: int, fill: int) -> NDArray[Any]:
    grown = np.full(size, fill, dtype=array.dtype)
    grown[: len(array)] = array
    return grown
