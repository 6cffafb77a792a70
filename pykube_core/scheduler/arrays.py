"""The arrays that cross into the scheduler kernels, and the codes inside them.

NodeArrays is a snapshot of a NodeTable, PodArrays one compiled pod and
ScoringArrays a profile's scoring settings. The native kernel
(pykube_core.scheduler._native) reads their fields by name, and the
pure-Python twin (_reference) reads the same objects, so both take exactly
the same input. csrc/scheduler/kernels.h describes every field; the codes
below must keep the values of the enums there.

All strings (label keys and values, taint keys and values, node names, IP
addresses, image names) are interned to int32 ids by one interner per table.
A pod string that no node has compiles to UNKNOWN_ID, which equals no
interned id.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Resource columns; extended resources follow from FIRST_EXTENDED_COLUMN in
# the order the table first meets them.
CPU_COLUMN = 0
MEMORY_COLUMN = 1
EPHEMERAL_STORAGE_COLUMN = 2
PODS_COLUMN = 3
FIRST_EXTENDED_COLUMN = 4
BASE_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pods")

# Id of a pod string that no node uses.
UNKNOWN_ID = -2
# Id of an empty toleration key (matches every key) and of an empty spec.nodeName.
ANY_ID = -1
# Id of the 0.0.0.0 address in host port arrays.
WILDCARD_IP = -1

MAX_NODE_SCORE = 100


class Status(enum.IntEnum):
    """Filter verdict of one node."""

    FITS = 0
    UNSCHEDULABLE = 1
    UNSCHEDULABLE_AND_UNRESOLVABLE = 2


class FilterPlugin(enum.IntEnum):
    """Filter plugins in the order of kube-scheduler's default profile."""

    NONE = 0
    NODE_UNSCHEDULABLE = 1
    NODE_NAME = 2
    TAINT_TOLERATION = 3
    NODE_AFFINITY = 4
    NODE_PORTS = 5
    NODE_RESOURCES_FIT = 6
    POD_TOPOLOGY_SPREAD = 7
    INTER_POD_AFFINITY = 8
    # kube-scheduler runs the volume filters after NodeResourcesFit and
    # before PodTopologySpread; their codes come last to keep the others.
    VOLUME_BINDING = 9
    VOLUME_ZONE = 10


class VolumeConflict(enum.IntEnum):
    """PodArrays.volume_conflicts per node: which volume filter rejects the node."""

    NONE = 0
    NODE_AFFINITY = 1  # VolumeBinding: a bound PV's spec.nodeAffinity excludes the node
    ZONE = 2  # VolumeZone: a bound PV's zone or region label excludes the node


class SpreadFailure(enum.IntEnum):
    """FilterArrays.detail of a node that PodTopologySpread rejects."""

    SKEW = 0
    MISSING_LABEL = 1


class AffinityFailure(enum.IntEnum):
    """FilterArrays.detail of a node that InterPodAffinity rejects."""

    AFFINITY = 0
    ANTI_AFFINITY = 1
    EXISTING_ANTI_AFFINITY = 2


class ScorePlugin(enum.IntEnum):
    """Columns of the score matrices."""

    TAINT_TOLERATION = 0
    NODE_AFFINITY = 1
    NODE_RESOURCES_FIT = 2
    BALANCED_ALLOCATION = 3
    IMAGE_LOCALITY = 4
    POD_TOPOLOGY_SPREAD = 5
    INTER_POD_AFFINITY = 6


SCORE_PLUGIN_COUNT = len(ScorePlugin)


class TaintEffect(enum.IntEnum):
    NO_SCHEDULE = 0
    PREFER_NO_SCHEDULE = 1
    NO_EXECUTE = 2
    OTHER = 3
    ANY = -1


class TolerationOp(enum.IntEnum):
    EQUAL = 0
    EXISTS = 1
    INVALID = 2


class RequirementOp(enum.IntEnum):
    """Node selector requirement operators; NEVER is an unparseable requirement."""

    IN = 0
    NOT_IN = 1
    EXISTS = 2
    DOES_NOT_EXIST = 3
    GREATER_THAN = 4
    LESS_THAN = 5
    NAME_IN = 6
    NAME_NOT_IN = 7
    NEVER = 8


class TermKind(enum.IntEnum):
    SELECTOR = 0
    REQUIRED = 1
    PREFERRED = 2


class Strategy(enum.IntEnum):
    """NodeResourcesFit scoring strategies."""

    LEAST_ALLOCATED = 0
    MOST_ALLOCATED = 1
    REQUESTED_TO_CAPACITY_RATIO = 2


class Normalization(enum.IntEnum):
    NONE = 0
    DEFAULT = 1
    REVERSE = 2
    # PodTopologySpread: fewer matching pods is better; a raw score of
    # IGNORED_NODE_SCORE (a node without the topology keys) normalises to 0.
    SPREAD = 3
    # InterPodAffinity: scale the range [min, max] of the raw scores to 0-100.
    MIN_MAX = 4


# Raw PodTopologySpread score of a node that the plugin ignores.
IGNORED_NODE_SCORE = -1


class PodTermKind(enum.IntEnum):
    """Kind of a pod term: an inter-pod affinity term or a topology spread constraint."""

    REQUIRED_AFFINITY = 0
    REQUIRED_ANTI_AFFINITY = 1
    PREFERRED_AFFINITY = 2
    PREFERRED_ANTI_AFFINITY = 3
    HARD_SPREAD = 4  # whenUnsatisfiable: DoNotSchedule
    SOFT_SPREAD = 5  # whenUnsatisfiable: ScheduleAnyway


class PodTermFlag(enum.IntFlag):
    """Bits of TermArrays.flags."""

    ALL_NAMESPACES = 1  # namespaceSelector {} selects every namespace
    HONOR_NODE_AFFINITY = 2  # spread: count only nodes matching the pod's node affinity
    HONOR_TAINTS = 4  # spread: count only nodes whose taints the pod tolerates
    HOSTNAME_KEY = 8  # the topology key is kubernetes.io/hostname


def _empty(dtype: type[np.generic]) -> NDArray[Any]:
    return np.zeros(0, dtype=dtype)


def _zero_offsets() -> NDArray[np.int64]:
    return np.zeros(1, dtype=np.int64)


@dataclass(frozen=True)
class TermArrays:
    """Pod terms over pod labels: inter-pod affinity terms and spread constraints.

    Term t selects pods in namespaces[namespace_offsets[t]:...[t + 1]] (or
    every namespace with the ALL_NAMESPACES flag) whose labels match all
    requirements in [selector_offsets[t], selector_offsets[t + 1]).
    Requirements use RequirementOp's IN, NOT_IN, EXISTS, DOES_NOT_EXIST and
    NEVER (a nil or unparseable selector). weights is the preferred weight,
    or maxSkew for a spread constraint. owners is the slot of the existing
    pod that declares the term (NodeArrays.pod_*), or -1 for the incoming
    pod's own terms.
    """

    kinds: NDArray[np.int8] = field(default_factory=lambda: _empty(np.int8))
    weights: NDArray[np.int64] = field(default_factory=lambda: _empty(np.int64))
    min_domains: NDArray[np.int64] = field(default_factory=lambda: _empty(np.int64))
    topology_keys: NDArray[np.int32] = field(default_factory=lambda: _empty(np.int32))
    flags: NDArray[np.uint8] = field(default_factory=lambda: _empty(np.uint8))
    owners: NDArray[np.int64] = field(default_factory=lambda: _empty(np.int64))
    namespace_offsets: NDArray[np.int64] = field(default_factory=_zero_offsets)
    namespaces: NDArray[np.int32] = field(default_factory=lambda: _empty(np.int32))
    selector_offsets: NDArray[np.int64] = field(default_factory=_zero_offsets)
    requirement_ops: NDArray[np.int8] = field(default_factory=lambda: _empty(np.int8))
    requirement_keys: NDArray[np.int32] = field(default_factory=lambda: _empty(np.int32))
    requirement_value_offsets: NDArray[np.int64] = field(default_factory=_zero_offsets)
    requirement_values: NDArray[np.int32] = field(default_factory=lambda: _empty(np.int32))

    @property
    def term_count(self) -> int:
        return int(self.kinds.shape[0])


class Protocol(enum.IntEnum):
    TCP = 0
    UDP = 1
    SCTP = 2


@dataclass(frozen=True)
class NodeArrays:
    """The node table as kernel input: N nodes, R resource columns.

    Row-major 2-D arrays are N x R (allocatable, requested) and N x 2
    (nonzero_requested: cpu and memory with the scoring defaults). The
    ragged data is CSR: the labels of row i are label_keys and label_values
    in [label_offsets[i], label_offsets[i + 1]), sorted by key, and likewise
    taints, used host ports and images. string_numbers, string_is_number and
    image_node_counts have one entry per interned string.
    """

    allocatable: NDArray[np.int64]
    requested: NDArray[np.int64]
    nonzero_requested: NDArray[np.int64]
    unschedulable: NDArray[np.uint8]
    name_ids: NDArray[np.int32]
    label_offsets: NDArray[np.int64]
    label_keys: NDArray[np.int32]
    label_values: NDArray[np.int32]
    string_numbers: NDArray[np.int64]
    string_is_number: NDArray[np.uint8]
    taint_offsets: NDArray[np.int64]
    taint_keys: NDArray[np.int32]
    taint_values: NDArray[np.int32]
    taint_effects: NDArray[np.int8]
    port_offsets: NDArray[np.int64]
    port_ips: NDArray[np.int32]
    port_numbers: NDArray[np.int32]
    port_protocols: NDArray[np.int8]
    image_offsets: NDArray[np.int64]
    image_ids: NDArray[np.int32]
    image_sizes: NDArray[np.int64]
    image_node_counts: NDArray[np.int32]
    # Existing pods, one slot each: the node row (-1 for a free slot), the
    # namespace id, 1 when the pod is terminating, and the pod's labels in
    # CSR form sorted by key. pod_terms are their inter-pod affinity terms.
    pod_rows: NDArray[np.int32] = field(default_factory=lambda: _empty(np.int32))
    pod_namespaces: NDArray[np.int32] = field(default_factory=lambda: _empty(np.int32))
    pod_terminating: NDArray[np.uint8] = field(default_factory=lambda: _empty(np.uint8))
    pod_label_offsets: NDArray[np.int64] = field(default_factory=_zero_offsets)
    pod_label_keys: NDArray[np.int32] = field(default_factory=lambda: _empty(np.int32))
    pod_label_values: NDArray[np.int32] = field(default_factory=lambda: _empty(np.int32))
    pod_terms: TermArrays = field(default_factory=TermArrays)

    @property
    def node_count(self) -> int:
        return int(self.allocatable.shape[0])


@dataclass(frozen=True)
class PodArrays:
    """One pod compiled against a table's interner and resource columns.

    Affinity is a list of terms, each a range of requirements: SELECTOR
    terms (spec.nodeSelector) must all match, at least one REQUIRED term must
    match when there are any, and each matching PREFERRED term adds its
    weight to the NodeAffinity score. Requirement r's sorted value ids are
    requirement_values[requirement_value_offsets[r]:...[r + 1]].
    """

    requests: NDArray[np.int64]
    nonzero_requests: NDArray[np.int64]
    node_name_id: int
    tolerates_unschedulable: bool
    toleration_keys: NDArray[np.int32]
    toleration_ops: NDArray[np.int8]
    toleration_values: NDArray[np.int32]
    toleration_effects: NDArray[np.int8]
    term_kinds: NDArray[np.int8]
    term_weights: NDArray[np.int64]
    term_offsets: NDArray[np.int64]
    requirement_ops: NDArray[np.int8]
    requirement_keys: NDArray[np.int32]
    requirement_numbers: NDArray[np.int64]
    requirement_value_offsets: NDArray[np.int64]
    requirement_values: NDArray[np.int32]
    port_ips: NDArray[np.int32]
    port_numbers: NDArray[np.int32]
    port_protocols: NDArray[np.int8]
    image_ids: NDArray[np.int32]
    container_count: int
    # The pod's own namespace and labels (sorted by key), and its inter-pod
    # affinity terms and topology spread constraints. system_default_spread
    # is True when the spread constraints are the system defaults.
    namespace_id: int = UNKNOWN_ID
    label_keys: NDArray[np.int32] = field(default_factory=lambda: _empty(np.int32))
    label_values: NDArray[np.int32] = field(default_factory=lambda: _empty(np.int32))
    terms: TermArrays = field(default_factory=TermArrays)
    system_default_spread: bool = False
    # One VolumeConflict per node row, or empty when no bound volume
    # restricts the pod's nodes.
    volume_conflicts: NDArray[np.int8] = field(default_factory=lambda: _empty(np.int8))


@dataclass(frozen=True)
class ScoringArrays:
    """A profile's NodeResourcesFit and BalancedAllocation settings as columns.

    shape_utilization (percent) and shape_scores (0-100) are the points of
    RequestedToCapacityRatio's piecewise linear function.
    """

    strategy: int
    fit_columns: NDArray[np.int64]
    fit_weights: NDArray[np.int64]
    shape_utilization: NDArray[np.int64]
    shape_scores: NDArray[np.int64]
    balanced_columns: NDArray[np.int64]
    # InterPodAffinity's hardPodAffinityWeight: the score an existing pod's
    # required affinity term adds when the incoming pod matches it.
    hard_pod_affinity_weight: int = 1


@dataclass(frozen=True)
class FilterArrays:
    """Kernel output of the filters, one entry per node row.

    detail is the taint index of the first untolerated taint for
    TAINT_TOLERATION, a SpreadFailure for POD_TOPOLOGY_SPREAD, an
    AffinityFailure for INTER_POD_AFFINITY, and -1 otherwise. insufficient (N x R) is 1 for each
    resource that NodeResourcesFit found short.
    """

    status: NDArray[np.int8]
    plugin: NDArray[np.int8]
    detail: NDArray[np.int64]
    insufficient: NDArray[np.uint8]


@dataclass(frozen=True)
class Selection:
    """Kernel output of select_node over the candidate rows."""

    normalized: NDArray[np.int64]
    totals: NDArray[np.int64]
    selected: int
    rng_state: int


@dataclass(frozen=True)
class BatchArrays:
    """A batch of `count` pods identical to one PodArrays, as schedule_batch takes it.

    nodes_to_find is percentageOfNodesToScore's cut-off (the node count to
    score every feasible node) and start_row the row where the search for
    feasible nodes starts. The slot_* fields are the pod as NodeTable
    accounts it once assumed (namespace, terminating flag, labels sorted by
    key and its own inter-pod affinity terms with owner -1), because each
    placed pod is an existing pod for the next.
    """

    count: int
    nodes_to_find: int
    start_row: int
    slot_namespace: int
    slot_terminating: int
    slot_label_keys: NDArray[np.int32]
    slot_label_values: NDArray[np.int32]
    slot_terms: TermArrays


@dataclass(frozen=True)
class BatchPlacement:
    """Kernel output of schedule_batch.

    rows[i] is the node row of pod i, or -1 from the first pod that no node
    fits on. placed counts the pods placed.
    """

    rows: NDArray[np.int64]
    placed: int
    rng_state: int
    next_start_row: int
