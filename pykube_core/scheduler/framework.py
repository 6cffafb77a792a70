"""Scheduler: filter, score and select a node for a pod over a NodeTable.

This module contains the policy around the kernels: which kernel runs, the
profile (plugin weights, normalisation and the NodeResourcesFit scoring
strategy), the reason strings, and the random state for tie-breaking. The
kernels (pykube_core.scheduler._native and its pure-Python twin _reference)
only loop over arrays.

One scheduling cycle, as in kube-scheduler's default profile:

1. Filter every node with NodeUnschedulable, NodeName, TaintToleration,
   NodeAffinity, NodePorts, NodeResourcesFit, VolumeBinding and VolumeZone
   (as a per-node mask the caller computes, see volumes.py),
   PodTopologySpread and InterPodAffinity, in that order; a node reports
   the first plugin that rejects it.
2. Score the feasible nodes (all of them, or the percentageOfNodesToScore
   sample of sampling.py when the profile sets it): TaintToleration (weight 3), NodeAffinity (2),
   NodeResourcesFit (1), NodeResourcesBalancedAllocation (1),
   ImageLocality (1), PodTopologySpread (2) and InterPodAffinity (2), each
   0-100 after normalisation.
3. Select the highest weighted total, breaking ties uniformly at random
   with a seedable splitmix64 generator shared by both kernels.

Differences from kube-scheduler (Kubernetes 1.35):

- Every feasible node is scored unless the profile sets
  percentage_of_nodes_to_score; kube-scheduler samples by default in
  clusters of 100 nodes or more.
- PreFilter results are not used: a pod with spec.nodeName or a
  metadata.name field selector is filtered against every node, so other
  nodes report the filter's reason, where kube-scheduler reports them as
  not considered.
- VolumeBinding checks only bound PVs' node affinity; dynamic binding,
  VolumeRestrictions, NodeVolumeLimits and DRA are not implemented yet.
- PodTopologySpread's system default constraints apply only when the
  caller passes the selectors of the Services and workloads that select
  the pod (spread_selectors). kube-scheduler reads them from its informers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from pykube_core.scheduler import _reference, _reference_batch
from pykube_core.scheduler.arrays import (
    SCORE_PLUGIN_COUNT,
    BatchArrays,
    BatchPlacement,
    FilterArrays,
    FilterPlugin,
    NodeArrays,
    Normalization,
    PodArrays,
    ScorePlugin,
    ScoringArrays,
    Selection,
    Status,
    Strategy,
)
from pykube_core.scheduler.node_table import NodeTable, PodAccounting
from pykube_core.scheduler.pod_slots import PodEntry
from pykube_core.scheduler.pod_arrays import compile_pod
from pykube_core.scheduler.pod_terms import TermBuilder
from pykube_core.scheduler.sampling import nodes_to_find, sample_feasible
from pykube_core.scheduler.reasons import (
    DETAIL_REASONS,
    FIXED_REASONS,
    PLUGIN_NAMES,
    insufficient_reasons,
    summarize,
    untolerated_taint_reason,
)

logger = logging.getLogger("pykube.scheduler")

# kube-scheduler's default profile weights (KubeSchedulerConfiguration v1).
DEFAULT_WEIGHTS: Mapping[ScorePlugin, int] = {
    ScorePlugin.TAINT_TOLERATION: 3,
    ScorePlugin.NODE_AFFINITY: 2,
    ScorePlugin.NODE_RESOURCES_FIT: 1,
    ScorePlugin.BALANCED_ALLOCATION: 1,
    ScorePlugin.IMAGE_LOCALITY: 1,
    ScorePlugin.POD_TOPOLOGY_SPREAD: 2,
    ScorePlugin.INTER_POD_AFFINITY: 2,
}

# Normalisation per score plugin: fewer untolerated PreferNoSchedule taints
# is better, a larger matched preferred weight is better, fewer matching
# pods in the domain is better for PodTopologySpread, InterPodAffinity maps
# its range to 0-100, and the other plugins already score 0-100.
NORMALIZATION = np.array(
    [
        Normalization.REVERSE,
        Normalization.DEFAULT,
        Normalization.NONE,
        Normalization.NONE,
        Normalization.NONE,
        Normalization.SPREAD,
        Normalization.MIN_MAX,
    ],
    dtype=np.int8,
)

# Label selectors (metav1.LabelSelector) of the Services and workloads that
# select a pod, or None.
Selectors = Sequence[Mapping[str, Any]] | None

# RequestedToCapacityRatio shape scores are 0-10 in kube-scheduler's
# configuration and scaled by this factor to the 0-100 node score.
SHAPE_SCORE_SCALE = 10


class _FilterKernel(Protocol):
    def __call__(
        self, nodes: NodeArrays, pod: PodArrays, /
    ) -> tuple[NDArray[np.int8], NDArray[np.int8], NDArray[np.int64], NDArray[np.uint8]]: ...


class _ScoreKernel(Protocol):
    def __call__(
        self, nodes: NodeArrays, pod: PodArrays, scoring: ScoringArrays, candidates: NDArray[np.int64], /
    ) -> NDArray[np.int64]: ...


class _SelectKernel(Protocol):
    def __call__(
        self, raw_scores: NDArray[np.int64], weights: NDArray[np.int64], modes: NDArray[np.int8], rng_state: int, /
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], int, int]: ...


class _BatchKernel(Protocol):
    def __call__(
        self,
        nodes: NodeArrays,
        pod: PodArrays,
        scoring: ScoringArrays,
        weights: NDArray[np.int64],
        modes: NDArray[np.int8],
        rng_state: int,
        batch: BatchArrays,
        /,
    ) -> tuple[NDArray[np.int64], int, int, int]: ...


@dataclass(frozen=True)
class SchedulerKernel:
    """The four kernel functions: _native's or their pure-Python twins."""

    name: str
    filter_nodes: _FilterKernel
    score_nodes: _ScoreKernel
    select_node: _SelectKernel
    schedule_batch: _BatchKernel


PURE_PYTHON_KERNEL = SchedulerKernel(
    "py", _reference.filter_nodes, _reference.score_nodes, _reference.select_node, _reference_batch.schedule_batch
)


def native_kernel() -> SchedulerKernel:
    """Return the C++ kernels; raises ImportError when the extension is not built."""
    from pykube_core.scheduler import _native

    return SchedulerKernel(
        "native", _native.filter_nodes, _native.score_nodes, _native.select_node, _native.schedule_batch
    )


def default_kernel() -> SchedulerKernel:
    """Return the native kernels, or the pure-Python twin when forced or not built."""
    if os.environ.get("PYKUBE_PURE_PYTHON") == "1":
        return PURE_PYTHON_KERNEL
    try:
        return native_kernel()
    except ImportError as error:
        logger.warning(
            "native scheduler kernel unavailable, using pure Python: error=%s "
            "hint='python setup.py build_ext --inplace'",
            error,
        )
        return PURE_PYTHON_KERNEL


@dataclass(frozen=True)
class ShapePoint:
    """A RequestedToCapacityRatio point: utilization in percent, score 0-10."""

    utilization: int
    score: int


@dataclass(frozen=True)
class Profile:
    """Scoring settings of a scheduler profile, defaulting to kube-scheduler's default profile.

    fit_resources and their weights feed NodeResourcesFit's strategy;
    shape is required for REQUESTED_TO_CAPACITY_RATIO. legacy_taint_reason
    names the untolerated taint in the reason, as Kubernetes 1.34.1 and
    older did. hard_pod_affinity_weight is InterPodAffinity's
    hardPodAffinityWeight (0-100). percentage_of_nodes_to_score is
    kube-scheduler's percentageOfNodesToScore: None scores every feasible
    node, 0 picks kube-scheduler's adaptive percentage, 1-100 a fixed one.
    """

    strategy: Strategy = Strategy.LEAST_ALLOCATED
    fit_resources: tuple[tuple[str, int], ...] = (("cpu", 1), ("memory", 1))
    shape: tuple[ShapePoint, ...] = ()
    balanced_resources: tuple[str, ...] = ("cpu", "memory")
    weights: Mapping[ScorePlugin, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    legacy_taint_reason: bool = False
    hard_pod_affinity_weight: int = 1
    percentage_of_nodes_to_score: int | None = None

    def __post_init__(self) -> None:
        percentage = self.percentage_of_nodes_to_score
        if percentage is not None and not 0 <= percentage <= 100:
            raise ValueError(
                f"Profile.percentage_of_nodes_to_score: {percentage} is out of range; "
                "use 0 (adaptive), 1-100, or None to score every feasible node"
            )
        if not 0 <= self.hard_pod_affinity_weight <= 100:
            raise ValueError(
                f"Profile.hard_pod_affinity_weight: {self.hard_pod_affinity_weight} is out of range; use 0-100"
            )
        for name, weight in self.fit_resources:
            if weight <= 0:
                raise ValueError(f"Profile.fit_resources: weight of {name!r} is {weight}; use a positive integer")
        if self.strategy == Strategy.REQUESTED_TO_CAPACITY_RATIO and not self.shape:
            raise ValueError("Profile.shape: RequestedToCapacityRatio needs at least one shape point")
        previous = -1
        for point in self.shape:
            if not 0 <= point.utilization <= 100 or point.utilization <= previous:
                raise ValueError(
                    f"Profile.shape: utilization {point.utilization} must be 0-100 and increase strictly"
                )
            if not 0 <= point.score <= 10:
                raise ValueError(f"Profile.shape: score {point.score} must be 0-10")
            previous = point.utilization
        unknown = set(self.weights) - set(ScorePlugin)
        if unknown or any(weight < 0 for weight in self.weights.values()):
            raise ValueError(f"Profile.weights: expected non-negative weights per ScorePlugin, got {self.weights!r}")

    def scoring_arrays(self, table: NodeTable) -> ScoringArrays:
        """Return the settings as kernel arrays, resolving resource names to the table's columns."""
        return ScoringArrays(
            strategy=int(self.strategy),
            fit_columns=np.array([table.column_of(name) for name, _ in self.fit_resources], dtype=np.int64),
            fit_weights=np.array([weight for _, weight in self.fit_resources], dtype=np.int64),
            shape_utilization=np.array([p.utilization for p in self.shape], dtype=np.int64),
            shape_scores=np.array([p.score * SHAPE_SCORE_SCALE for p in self.shape], dtype=np.int64),
            balanced_columns=np.array([table.column_of(name) for name in self.balanced_resources], dtype=np.int64),
            hard_pod_affinity_weight=self.hard_pod_affinity_weight,
        )

    def weight_array(self) -> NDArray[np.int64]:
        return np.array([self.weights.get(plugin, 0) for plugin in ScorePlugin], dtype=np.int64)


@dataclass(frozen=True)
class NodeVerdict:
    """Why one node was rejected: the status, the plugin and its reasons."""

    node: str
    status: Status
    plugin: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class FilterResult:
    """The filter outcome of one pod over every node of the table."""

    node_names: tuple[str, ...]
    arrays: FilterArrays
    rejected: tuple[NodeVerdict, ...]

    @property
    def feasible_rows(self) -> NDArray[np.int64]:
        return np.flatnonzero(self.arrays.status == Status.FITS).astype(np.int64)

    @property
    def feasible(self) -> tuple[str, ...]:
        return tuple(self.node_names[row] for row in self.feasible_rows.tolist())

    def message(self) -> str:
        """Return kube-scheduler's "0/N nodes are available: ..." summary of the rejections."""
        return summarize(len(self.node_names), (verdict.reasons for verdict in self.rejected))


@dataclass(frozen=True)
class ScheduleResult:
    """The chosen node (None when no node fits) and the numbers behind the choice.

    candidates are the feasible nodes in table order. Row for row, normalized
    contains their per-plugin scores (columns indexed by ScorePlugin) and
    weighted_totals their weighted sums.
    """

    node: str | None
    filter: FilterResult
    candidates: tuple[str, ...] = ()
    normalized: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, SCORE_PLUGIN_COUNT), dtype=np.int64))
    weighted_totals: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def scores(self) -> dict[str, tuple[int, ...]]:
        """Return the normalised per-plugin scores of each feasible node."""
        return {name: tuple(row) for name, row in zip(self.candidates, self.normalized.tolist())}

    @property
    def totals(self) -> dict[str, int]:
        """Return the weighted total score of each feasible node."""
        return dict(zip(self.candidates, self.weighted_totals.tolist()))

    def message(self) -> str:
        return self.filter.message()


@dataclass(frozen=True)
class BatchResult:
    """The nodes chosen for a batch of identical pods, in pod order.

    nodes[i] is None for every pod from the first one that no node fits.
    failure is that pod's full ScheduleResult (verdicts and message), or
    None when every pod was placed.
    """

    nodes: tuple[str | None, ...]
    failure: ScheduleResult | None = None


# A pod object, whatever mapping type the caller keeps pods in.
PodT = TypeVar("PodT", bound=Mapping[str, Any])


class Scheduler:
    """Places pods on the nodes of one NodeTable with one profile and kernel.

    seed fixes the tie-breaking sequence: two schedulers with the same seed,
    table and pods choose the same nodes with either kernel.
    """

    def __init__(
        self,
        table: NodeTable,
        *,
        profile: Profile | None = None,
        kernel: SchedulerKernel | None = None,
        seed: int = 0,
    ) -> None:
        self.table = table
        self.profile = profile if profile is not None else Profile()
        self.kernel = kernel if kernel is not None else default_kernel()
        self._rng_state = seed & ((1 << 64) - 1)
        self._weights = self.profile.weight_array()
        # Row where the next search for feasible nodes starts. It moves only
        # when percentage_of_nodes_to_score cuts the search short.
        self._next_start_row = 0

    def compile(
        self,
        pod: Mapping[str, Any],
        *,
        spread_selectors: Selectors = None,
        volume_conflicts: NDArray[np.int8] | None = None,
    ) -> PodArrays:
        """Compile a pod for this table.

        spread_selectors are the label selectors of the Services,
        ReplicaSets, ReplicationControllers and StatefulSets that select the
        pod. With them, a pod without topology spread constraints gets the
        system default constraints (see pod_terms.spread_terms).
        volume_conflicts is one VolumeConflict per table row (see
        volumes.check_volumes), or None when no volume restricts the pod.
        """
        compiled = compile_pod(self.table, pod, default_spread_selectors=spread_selectors)
        if volume_conflicts is None:
            return compiled
        if len(volume_conflicts) != len(self.table):
            raise ValueError(
                f"volume_conflicts: {len(volume_conflicts)} entries for a table of {len(self.table)} nodes; "
                "compute them again after the node change"
            )
        return dataclasses.replace(compiled, volume_conflicts=np.ascontiguousarray(volume_conflicts, dtype=np.int8))

    def filter(
        self, pod: Mapping[str, Any], compiled: PodArrays | None = None, *, spread_selectors: Selectors = None
    ) -> FilterResult:
        """Run the filter plugins for a pod on every node."""
        compiled = compiled if compiled is not None else self.compile(pod, spread_selectors=spread_selectors)
        nodes = self.table.arrays()
        arrays = FilterArrays(*self.kernel.filter_nodes(nodes, compiled))
        names = self.table.names()
        rejected = tuple(
            self._verdict(names, arrays, row)
            for row in np.flatnonzero(arrays.status != Status.FITS).tolist()
        )
        return FilterResult(names, arrays, rejected)

    def schedule(
        self,
        pod: Mapping[str, Any],
        *,
        spread_selectors: Selectors = None,
        volume_conflicts: NDArray[np.int8] | None = None,
    ) -> ScheduleResult:
        """Filter, score and select a node for a pod; the table is not changed."""
        # Resolving the profile's resources and compiling the pod may add
        # resource columns, so both come before the table snapshot.
        scoring = self.profile.scoring_arrays(self.table)
        compiled = self.compile(pod, spread_selectors=spread_selectors, volume_conflicts=volume_conflicts)
        filtered = self.filter(pod, compiled)
        candidates = self._sample(filtered.arrays.status)
        if len(candidates) == 0:
            return ScheduleResult(None, filtered)
        nodes = self.table.arrays()
        raw = self.kernel.score_nodes(nodes, compiled, scoring, candidates)
        selection = Selection(*self.kernel.select_node(raw, self._weights, NORMALIZATION, self._rng_state))
        self._rng_state = selection.rng_state
        names = tuple(filtered.node_names[row] for row in candidates.tolist())
        return ScheduleResult(names[selection.selected], filtered, names, selection.normalized, selection.totals)

    def schedule_and_assume(
        self,
        pod: Mapping[str, Any],
        *,
        spread_selectors: Selectors = None,
        volume_conflicts: NDArray[np.int8] | None = None,
    ) -> ScheduleResult:
        """Schedule a pod and, when a node fits, assume it there."""
        result = self.schedule(pod, spread_selectors=spread_selectors, volume_conflicts=volume_conflicts)
        if result.node is not None:
            self.table.assume_pod(pod, result.node)
        return result

    def schedule_batch(
        self,
        pods: Sequence[PodT],
        *,
        spread_selectors: Selectors = None,
        volume_conflicts: NDArray[np.int8] | None = None,
        assume: Callable[[PodT, str, PodAccounting], None] | None = None,
    ) -> BatchResult:
        """Place pods that are identical for scheduling in one kernel call, and assume each placed pod.

        The caller guarantees that the pods differ only in what no plugin
        reads, such as their names and uids. The
        nodes, and the random tie-breaks, are exactly those of calling
        schedule_and_assume on each pod in order. assume defaults to the
        table's assume_pod; a cache passes its own, which also records the
        assumption. Both get the first pod's accounting, computed once,
        since every pod of the batch has the same requests and host ports.
        """
        if not pods:
            return BatchResult(())
        if assume is None:
            assume = self.table.assume_pod
        first = pods[0]
        # The slot entry interns the pod's strings, so it comes before
        # compiling. Compiling may add columns, so both precede the snapshot.
        entry = self.table.slot_entry(first)
        scoring = self.profile.scoring_arrays(self.table)
        compiled = self.compile(first, spread_selectors=spread_selectors, volume_conflicts=volume_conflicts)
        nodes = self.table.arrays()
        placement = BatchPlacement(
            *self.kernel.schedule_batch(
                nodes, compiled, scoring, self._weights, NORMALIZATION, self._rng_state,
                self._batch_arrays(len(pods), entry, nodes.node_count),
            )
        )  # fmt: skip
        self._rng_state = placement.rng_state
        self._next_start_row = placement.next_start_row
        names = self.table.names()
        chosen = tuple(names[row] if row >= 0 else None for row in placement.rows.tolist())
        accounting = self.table.pod_accounting(first)
        for pod, node in zip(pods, chosen):
            if node is not None:
                assume(pod, node, accounting)
        if placement.placed == len(pods):
            return BatchResult(chosen)
        failure = self.schedule(
            pods[placement.placed], spread_selectors=spread_selectors, volume_conflicts=volume_conflicts
        )
        if failure.node is not None:
            raise RuntimeError(
                f"schedule_batch: kernel {self.kernel.name} found no node for pod {placement.placed} "
                f"but schedule() chose {failure.node}; the batch and one-pod kernels disagree"
            )
        return BatchResult(chosen, failure)

    def _batch_arrays(self, count: int, entry: PodEntry, node_count: int) -> BatchArrays:
        builder = TermBuilder()
        for term in entry.terms:
            builder.add(term)
        return BatchArrays(
            count=count,
            nodes_to_find=max(nodes_to_find(self.profile.percentage_of_nodes_to_score, node_count), 1),
            start_row=self._next_start_row % node_count if node_count else 0,
            slot_namespace=entry.namespace,
            slot_terminating=entry.terminating,
            slot_label_keys=np.array([key for key, _ in entry.labels], dtype=np.int32),
            slot_label_values=np.array([value for _, value in entry.labels], dtype=np.int32),
            slot_terms=builder.arrays(),
        )

    def _sample(self, status: NDArray[np.int8]) -> NDArray[np.int64]:
        """Return the candidate rows of one cycle and move the next cycle's start row."""
        node_count = len(status)
        if node_count == 0:
            return np.zeros(0, dtype=np.int64)
        limit = max(nodes_to_find(self.profile.percentage_of_nodes_to_score, node_count), 1)
        start = self._next_start_row % node_count
        if limit >= node_count and start == 0:
            return np.flatnonzero(status == Status.FITS).astype(np.int64)
        candidates, processed = sample_feasible(status, start, limit)
        self._next_start_row = (start + processed) % node_count
        return candidates

    def _verdict(self, names: tuple[str, ...], arrays: FilterArrays, row: int) -> NodeVerdict:
        plugin = FilterPlugin(int(arrays.plugin[row]))
        if plugin == FilterPlugin.TAINT_TOLERATION:
            key, value, _ = self.table.taint_text(row, int(arrays.detail[row]))
            reasons: tuple[str, ...] = (
                untolerated_taint_reason(key, value, legacy=self.profile.legacy_taint_reason),
            )
        elif plugin == FilterPlugin.NODE_RESOURCES_FIT:
            reasons = tuple(insufficient_reasons(self.table.resources, arrays.insufficient[row].tolist()))
        elif plugin in DETAIL_REASONS:
            reasons = (DETAIL_REASONS[plugin][int(arrays.detail[row])],)
        else:
            reasons = (FIXED_REASONS[plugin],)
        return NodeVerdict(names[row], Status(int(arrays.status[row])), PLUGIN_NAMES[plugin], reasons)


__all__ = [
    "BatchResult",
    "DEFAULT_WEIGHTS",
    "PURE_PYTHON_KERNEL",
    "SCORE_PLUGIN_COUNT",
    "FilterResult",
    "NodeVerdict",
    "Profile",
    "ScheduleResult",
    "Scheduler",
    "SchedulerKernel",
    "ShapePoint",
    "default_kernel",
    "native_kernel",
]
