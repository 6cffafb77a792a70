"""NodeTable: the scheduler's view of every node as dense arrays, updated in place.

kube-scheduler keeps a NodeInfo object per node and walks them one by one.
NodeTable keeps the same facts as columns, one row per node, so a native
kernel can filter and score all nodes in one pass without touching Python
objects (see pykube_core.scheduler.arrays for the layout):

- resources: allocatable and requested int64 matrices, one column per
  resource in a fixed order (cpu milli-cores, memory bytes,
  ephemeral-storage bytes, pods, then extended resources in the order first
  seen), plus the cpu and memory requests with scoring defaults;
- flags and names: spec.unschedulable, the interned node name;
- ragged data in CSR arrays, as pykube_core.selector_index stores labels:
  labels, taints, used host ports and images.

Assuming a pod adds its requests to its node's row in place, so placing a
pod and assuming it costs O(resources). The CSR arrays are rebuilt lazily
from per-node records, only for the kind that changed, the next time
arrays() is called: labels, taints and images when nodes change, host ports
when a pod with host ports comes or goes.

Removing a node moves the last row into its place, so rows stay dense but
row numbers change. row_of() and names() map between rows and names.

For PodTopologySpread and InterPodAffinity the table also keeps every
accounted pod in a slot (pykube_core.scheduler.pod_slots): its node row,
namespace, terminating flag, labels and inter-pod affinity terms.

NOTE: interned strings of removed nodes and pods are never freed, so a table
with unbounded label or name churn grows. Rebuild it from the current nodes
to reclaim that memory.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from pykube_core.scheduler.arrays import (
    BASE_RESOURCES,
    CPU_COLUMN,
    MEMORY_COLUMN,
    PODS_COLUMN,
    WILDCARD_IP,
    NodeArrays,
    Protocol,
    TaintEffect,
)
from pykube_core.scheduler.interner import Interner
from pykube_core.scheduler.pod_slots import PodEntry, PodSlots
from pykube_core.scheduler.pod_terms import (
    NamespaceResolver,
    affinity_terms,
    pod_labels,
    pod_namespace,
)
from pykube_core.scheduler.requests import (
    is_sidecar,
    parse_resource_list,
    pod_requests,
    to_column_units,
)

logger = logging.getLogger("pykube.scheduler")

# Rows allocated for an empty table; the arrays double when full.
INITIAL_ROW_CAPACITY = 64


# Image sizes above this many bytes (1 PiB) are clamped, so that the
# ImageLocality sum of many containers cannot overflow int64. No real image
# comes near it.
MAX_IMAGE_SIZE = 2**50

TAINT_EFFECTS = {
    "NoSchedule": TaintEffect.NO_SCHEDULE,
    "PreferNoSchedule": TaintEffect.PREFER_NO_SCHEDULE,
    "NoExecute": TaintEffect.NO_EXECUTE,
}
PROTOCOLS = {"": Protocol.TCP, "TCP": Protocol.TCP, "UDP": Protocol.UDP, "SCTP": Protocol.SCTP}
WILDCARD_ADDRESS = "0.0.0.0"

PortKey = tuple[int, int, int]  # (ip id or WILDCARD_IP, port, protocol code)


def pod_key(pod: Mapping[str, Any]) -> str:
    """Return "namespace/name" of a pod, the key of its accounting in the table."""
    metadata = pod.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        raise ValueError("pod metadata.name: missing; every pod in the table needs a name")
    return f"{metadata.get('namespace') or 'default'}/{name}"


def host_ports(pod: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """Return the (hostIP, hostPort, protocol) of every host port of the pod.

    App containers and sidecars (restartable init containers) keep their
    ports while the pod runs. Plain init containers are not counted, as in
    kube-scheduler 1.34 and later. An empty hostIP means 0.0.0.0 and an
    empty protocol TCP.
    """
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or [])
    containers += [c for c in spec.get("initContainers") or [] if is_sidecar(c)]
    ports = []
    for container in containers:
        for port in container.get("ports") or []:
            number = int(port.get("hostPort") or 0)
            if number <= 0:
                continue
            ports.append((port.get("hostIP") or WILDCARD_ADDRESS, number, port.get("protocol") or "TCP"))
    return ports


def protocol_code(protocol: str) -> int:
    code = PROTOCOLS.get(protocol)
    if code is None:
        raise ValueError(
            f"container port protocol: unsupported value {protocol!r}; expected TCP, UDP or SCTP"
        )
    return int(code)


@dataclass
class _NodeRecord:
    name: str
    label_pairs: list[tuple[int, int]]
    taints: list[tuple[int, int, int]]
    taint_texts: list[tuple[str, str, str]]
    images: dict[int, int]
    ports: Counter[PortKey] = field(default_factory=Counter)
    pods: set[str] = field(default_factory=set)


class PodAccounting(NamedTuple):
    """The requests, scoring requests and host ports one pod adds to its node; treat ``requests`` as read-only."""

    requests: dict[str, int]
    nonzero_cpu: int
    nonzero_memory: int
    ports: tuple[PortKey, ...]


@dataclass(frozen=True)
class _PodRecord:
    node: str
    requests: dict[str, int]
    nonzero_cpu: int
    nonzero_memory: int
    ports: tuple[PortKey, ...]


class NodeTable:
    """Every node of the cluster as rows of dense arrays; see the module docstring.

    namespace_resolver resolves the namespaceSelector of inter-pod affinity
    terms to namespace names (see pykube_core.scheduler.pod_terms).
    """

    def __init__(self, *, namespace_resolver: NamespaceResolver | None = None) -> None:
        self.namespace_resolver = namespace_resolver
        self.strings = Interner()
        self._resources: list[str] = list(BASE_RESOURCES)
        self._column: dict[str, int] = {name: i for i, name in enumerate(BASE_RESOURCES)}
        self._records: list[_NodeRecord] = []
        self._row: dict[str, int] = {}
        self._pods: dict[str, _PodRecord] = {}
        self._image_nodes: Counter[int] = Counter()
        self._allocatable = np.zeros((0, len(self._resources)), dtype=np.int64)
        self._requested = np.zeros((0, len(self._resources)), dtype=np.int64)
        self._nonzero = np.zeros((0, 2), dtype=np.int64)
        self._unschedulable = np.zeros(0, dtype=np.uint8)
        self._name_ids = np.zeros(0, dtype=np.int32)
        self._snapshot: NodeArrays | None = None
        self._names: tuple[str, ...] | None = None
        self._allocate(INITIAL_ROW_CAPACITY, len(self._resources))
        self._csr: dict[str, tuple[NDArray[Any], ...]] = {}
        self._dirty = {"labels", "taints", "ports", "images", "pods"}
        self._slots = PodSlots()
        self._string_arrays: tuple[int, NDArray[np.int64], NDArray[np.uint8]] | None = None
        self._image_counts: NDArray[np.int32] | None = None

    # --- reading -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, name: object) -> bool:
        return name in self._row

    @property
    def resources(self) -> tuple[str, ...]:
        """Resource names in column order."""
        return tuple(self._resources)

    def names(self) -> tuple[str, ...]:
        """Return the node names in row order."""
        if self._names is None:
            self._names = tuple(record.name for record in self._records)
        return self._names

    def row_of(self, name: str) -> int:
        """Return the row of a node; raises KeyError when the table has no such node."""
        row = self._row.get(name)
        if row is None:
            raise KeyError(f"node {name!r} is not in the node table; add it with add_node first")
        return row

    def column_of(self, resource: str) -> int:
        """Return the column of a resource, adding an all-zero column for a new name."""
        column = self._column.get(resource)
        if column is None:
            column = self._add_column(resource)
        return column

    def taint_text(self, row: int, index: int) -> tuple[str, str, str]:
        """Return (key, value, effect) of the index-th taint of all rows in CSR order."""
        begin = int(self.arrays().taint_offsets[row])
        return self._records[row].taint_texts[index - begin]

    def labels_of_row(self, row: int) -> dict[str, str]:
        """Return the labels of the node in `row`."""
        text = self.strings.strings
        return {text[key]: text[value] for key, value in self._records[row].label_pairs}

    def pod_count(self, name: str) -> int:
        return int(self._requested[self.row_of(name), PODS_COLUMN])

    def allocatable(self, name: str) -> dict[str, int]:
        """Return a node's allocatable amounts per resource, in column units."""
        row = self.row_of(name)
        return dict(zip(self._resources, self._allocatable[row].tolist()))

    def requested(self, name: str) -> dict[str, int]:
        """Return the requests of the node's pods per resource; "pods" is the pod count."""
        row = self.row_of(name)
        return dict(zip(self._resources, self._requested[row].tolist()))

    def arrays(self) -> NodeArrays:
        """Return the kernel view of the table.

        The dense arrays are views, so later assume and forget calls update
        them in place. A node change or a new resource column makes a new
        snapshot, so call arrays() again after changing the table.
        """
        if self._snapshot is not None and not self._dirty:
            return self._snapshot
        self._rebuild_dirty()
        n = len(self._records)
        labels, taints, ports, images = (
            self._csr["labels"], self._csr["taints"], self._csr["ports"], self._csr["images"]
        )  # fmt: skip
        numbers, is_number = self._string_number_arrays()
        pods, pod_terms = self._slots.arrays()
        self._snapshot = NodeArrays(
            allocatable=self._allocatable[:n],
            requested=self._requested[:n],
            nonzero_requested=self._nonzero[:n],
            unschedulable=self._unschedulable[:n],
            name_ids=self._name_ids[:n],
            label_offsets=labels[0],
            label_keys=labels[1],
            label_values=labels[2],
            string_numbers=numbers,
            string_is_number=is_number,
            taint_offsets=taints[0],
            taint_keys=taints[1],
            taint_values=taints[2],
            taint_effects=taints[3],
            port_offsets=ports[0],
            port_ips=ports[1],
            port_numbers=ports[2],
            port_protocols=ports[3],
            image_offsets=images[0],
            image_ids=images[1],
            image_sizes=images[2],
            image_node_counts=self._image_node_counts(),
            **pods,
            pod_terms=pod_terms,
        )
        return self._snapshot

    # --- nodes ---------------------------------------------------------------

    def add_node(self, node: Mapping[str, Any]) -> None:
        """Add a node from its Kubernetes JSON, or update it when the name is known."""
        name = _node_name(node)
        if name in self._row:
            self.update_node(node)
            return
        row = len(self._records)
        if row == self._allocatable.shape[0]:
            self._allocate(2 * row, len(self._resources))
        self._records.append(_NodeRecord(name, [], [], [], {}))
        self._names = None
        self._row[name] = row
        self._name_ids[row] = self.strings.intern(name)
        self._requested[row] = 0
        self._nonzero[row] = 0
        self._set_node_fields(row, node)
        # Every per-node CSR array gains a row, not only those of the fields set above.
        self._dirty.update(("labels", "taints", "ports", "images", "pods"))

    def update_node(self, node: Mapping[str, Any]) -> None:
        """Replace a node's allocatable, labels, taints, images and flags; keep its pods."""
        self._set_node_fields(self.row_of(_node_name(node)), node)

    def remove_node(self, name: str) -> None:
        """Remove a node and the accounting of its pods; the last row moves into its place."""
        row = self.row_of(name)
        record = self._records[row]
        for key in record.pods:
            del self._pods[key]
            self._slots.free(key)
        self._image_nodes.subtract(record.images.keys())
        last = len(self._records) - 1
        if row != last:
            moved = self._records[last]
            self._records[row] = moved
            self._row[moved.name] = row
            for key in moved.pods:
                self._slots.set_row(key, row)
            for array in (self._allocatable, self._requested, self._nonzero, self._unschedulable, self._name_ids):
                array[row] = array[last]
        self._records.pop()
        self._names = None
        del self._row[name]
        self._dirty.update(("labels", "taints", "ports", "images", "pods"))

    # --- pods ----------------------------------------------------------------

    def pod_accounting(self, pod: Mapping[str, Any]) -> PodAccounting:
        """Return what accounting ``pod`` adds to a node: its requests, scoring requests and host ports.

        Pods that are identical for scheduling have equal accountings, so a
        batch computes it once and passes it to ``assume_pod`` for each pod.
        """
        nonzero = pod_requests(pod, scoring_defaults=True)
        ports = tuple(
            (self._ip_id(ip), number, protocol_code(protocol))
            for ip, number, protocol in host_ports(pod)
        )
        return PodAccounting(pod_requests(pod), nonzero.get("cpu", 0), nonzero.get("memory", 0), ports)

    def assume_pod(self, pod: Mapping[str, Any], node_name: str, accounting: PodAccounting | None = None) -> None:
        """Account a pod on a node before the binding is confirmed.

        Adds the pod's requests, one to the pod count and its host ports.
        Assuming a pod that the table already accounts moves it.
        ``accounting``, when given, must be ``pod_accounting(pod)``.
        """
        key = pod_key(pod)
        if key in self._pods:
            self._subtract(key)
        row = self.row_of(node_name)
        if accounting is None:
            accounting = self.pod_accounting(pod)
        requests = accounting.requests
        record = _PodRecord(node_name, requests, accounting.nonzero_cpu, accounting.nonzero_memory, accounting.ports)
        for resource in requests:
            self.column_of(resource)
        self._apply(row, record, +1)
        self._pods[key] = record
        self._records[row].pods.add(key)
        self._slots.add(key, row, self._pod_entry(pod))
        self._dirty.add("pods")

    def add_pod(self, pod: Mapping[str, Any]) -> None:
        """Account a bound pod (spec.nodeName set), replacing an earlier assume of it."""
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise ValueError(
                f"pod {pod_key(pod)}: spec.nodeName is empty; use assume_pod for unbound pods"
            )
        self.assume_pod(pod, node_name)

    def forget_pod(self, pod: Mapping[str, Any]) -> None:
        """Undo assume_pod; raises KeyError when the pod is not accounted."""
        key = pod_key(pod)
        if key not in self._pods:
            raise KeyError(f"pod {key} is not assumed on any node; nothing to forget")
        self._subtract(key)

    def remove_pod(self, pod: Mapping[str, Any]) -> None:
        """Stop accounting a pod; a pod the table does not know is ignored."""
        key = pod_key(pod)
        if key in self._pods:
            self._subtract(key)

    def pod_node(self, pod: Mapping[str, Any]) -> str | None:
        """Return the node a pod is accounted on, or None."""
        record = self._pods.get(pod_key(pod))
        return None if record is None else record.node

    def slot_entry(self, pod: Mapping[str, Any]) -> PodEntry:
        """Return the pod as assume_pod would account it in a pod slot, interning its strings now.

        A batch of identical pods passes this entry to the kernel, which
        adds it as an existing pod after each placement.
        """
        string_count = len(self.strings)
        entry = self._pod_entry(pod)
        if len(self.strings) != string_count:
            # The per-string arrays of the next snapshot must cover the new ids.
            self._dirty.add("pods")
        return entry

    # --- internals -----------------------------------------------------------

    def _subtract(self, key: str) -> None:
        record = self._pods.pop(key)
        row = self._row[record.node]
        self._apply(row, record, -1)
        self._records[row].pods.discard(key)
        if self._slots.free(key):
            self._dirty.add("pods")

    def _pod_entry(self, pod: Mapping[str, Any]) -> PodEntry:
        intern = self.strings.intern
        labels = tuple(sorted((intern(k), intern(v)) for k, v in pod_labels(pod).items()))
        # NOTE: namespaceSelectors are resolved now; later namespace label
        # changes reach this pod's terms only when the pod is accounted again.
        terms = affinity_terms(pod, intern, self.namespace_resolver)
        terminating = 1 if (pod.get("metadata") or {}).get("deletionTimestamp") else 0
        return PodEntry(intern(pod_namespace(pod)), terminating, labels, tuple(terms))


    def _apply(self, row: int, record: _PodRecord, sign: int) -> None:
        for resource, amount in record.requests.items():
            self._requested[row, self._column[resource]] += sign * amount
        self._requested[row, PODS_COLUMN] += sign
        self._nonzero[row, CPU_COLUMN] += sign * record.nonzero_cpu
        self._nonzero[row, MEMORY_COLUMN] += sign * record.nonzero_memory
        if record.ports:
            ports = self._records[row].ports
            for port in record.ports:
                ports[port] += sign
                if ports[port] <= 0:
                    del ports[port]
            self._dirty.add("ports")

    def _ip_id(self, address: str) -> int:
        return WILDCARD_IP if address == WILDCARD_ADDRESS else int(self.strings.intern(address))

    def _set_node_fields(self, row: int, node: Mapping[str, Any]) -> None:
        metadata = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        name = metadata["name"]

        allocatable = parse_resource_list(status.get("allocatable"), f"node {name} status.allocatable")
        for resource in allocatable:
            self.column_of(resource)
        self._allocatable[row] = 0
        for resource, nanos in allocatable.items():
            self._allocatable[row, self._column[resource]] = to_column_units(resource, nanos)
        self._unschedulable[row] = 1 if spec.get("unschedulable") else 0

        record = self._records[row]
        record.label_pairs = sorted(
            (self.strings.intern(key), self.strings.intern(value))
            for key, value in (metadata.get("labels") or {}).items()
        )
        record.taint_texts = [_taint_text(taint, name) for taint in spec.get("taints") or []]
        record.taints = [
            (self.strings.intern(key), self.strings.intern(value), int(TAINT_EFFECTS.get(effect, TaintEffect.OTHER)))
            for key, value, effect in record.taint_texts
        ]
        self._image_nodes.subtract(record.images.keys())
        record.images = self._node_images(status.get("images") or [])
        self._image_nodes.update(record.images.keys())
        self._dirty.update(("labels", "taints", "images"))

    def _node_images(self, images: Iterable[Mapping[str, Any]]) -> dict[int, int]:
        sizes: dict[int, int] = {}
        for image in images:
            size = min(max(int(image.get("sizeBytes") or 0), 0), MAX_IMAGE_SIZE)
            for image_name in image.get("names") or []:
                sizes[self.strings.intern(image_name)] = size
        return sizes

    def _image_node_counts(self) -> NDArray[np.int32]:
        if self._image_counts is not None and len(self._image_counts) == len(self.strings):
            return self._image_counts
        counts = np.zeros(len(self.strings), dtype=np.int32)
        for image_id, count in self._image_nodes.items():
            counts[image_id] = count
        self._image_counts = counts
        return counts

    def _string_number_arrays(self) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
        """Return string_numbers and string_is_number, cached until a string is interned."""
        count = len(self.strings)
        if self._string_arrays is None or self._string_arrays[0] != count:
            numbers = np.array(self.strings.numbers, dtype=np.int64)
            is_number = np.array(self.strings.is_number, dtype=np.uint8)
            self._string_arrays = (count, numbers, is_number)
        return self._string_arrays[1], self._string_arrays[2]

    def _rebuild_dirty(self) -> None:
        records = self._records
        if "labels" in self._dirty:
            pairs = [record.label_pairs for record in records]
            self._csr["labels"] = _csr(pairs, (np.int32, np.int32))
        if "taints" in self._dirty:
            self._csr["taints"] = _csr([r.taints for r in records], (np.int32, np.int32, np.int8))
        if "ports" in self._dirty:
            port_rows = [sorted(record.ports) for record in records]
            self._csr["ports"] = _csr(port_rows, (np.int32, np.int32, np.int8))
        if "images" in self._dirty:
            image_rows = [sorted(record.images.items()) for record in records]
            self._csr["images"] = _csr(image_rows, (np.int32, np.int64))
            self._image_counts = None
        self._dirty.clear()

    def _allocate(self, rows: int, columns: int) -> None:
        """Grow the dense arrays to rows x columns, keeping the current contents."""
        allocatable = np.zeros((rows, columns), dtype=np.int64)
        requested = np.zeros((rows, columns), dtype=np.int64)
        nonzero = np.zeros((rows, 2), dtype=np.int64)
        unschedulable = np.zeros(rows, dtype=np.uint8)
        name_ids = np.zeros(rows, dtype=np.int32)
        n, r = self._allocatable.shape
        allocatable[:n, :r] = self._allocatable
        requested[:n, :r] = self._requested
        nonzero[:n] = self._nonzero
        unschedulable[:n] = self._unschedulable
        name_ids[:n] = self._name_ids
        self._allocatable, self._requested, self._nonzero = allocatable, requested, nonzero
        self._unschedulable, self._name_ids = unschedulable, name_ids
        self._snapshot = None

    def _add_column(self, resource: str) -> int:
        if not resource or not isinstance(resource, str):
            raise ValueError(f"resource name: expected a non-empty string, got {resource!r}")
        self._resources.append(resource)
        self._column[resource] = len(self._resources) - 1
        self._allocate(self._allocatable.shape[0], len(self._resources))
        logger.debug("resource column added: resource=%s column=%d", resource, len(self._resources) - 1)
        return len(self._resources) - 1


def _node_name(node: Mapping[str, Any]) -> str:
    name = (node.get("metadata") or {}).get("name")
    if not name or not isinstance(name, str):
        raise ValueError(f"node metadata.name: missing or not a string ({name!r}); every node needs a name")
    return name


def _taint_text(taint: Mapping[str, Any], node_name: str) -> tuple[str, str, str]:
    key = taint.get("key")
    if not key:
        raise ValueError(f"node {node_name} spec.taints: a taint has no key ({dict(taint)!r})")
    return str(key), str(taint.get("value") or ""), str(taint.get("effect") or "")


def _csr(rows: Sequence[Sequence[tuple[int, ...]]], dtypes: tuple[Any, ...]) -> tuple[NDArray[Any], ...]:
    """Return (offsets, column arrays...) of the rows' tuples, one array per tuple field."""
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(row) for row in rows])
    flat = [item for row in rows for item in row]
    columns = tuple(
        np.array([item[i] for item in flat], dtype=dtype) for i, dtype in enumerate(dtypes)
    )
    return (offsets, *columns)
