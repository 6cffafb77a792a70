"""Pure-Python twin of the scheduler kernels in csrc/scheduler/.

The three functions take the same objects and return the same values as
pykube_core.scheduler._native: the tests use them as the oracle and the
benchmarks as the baseline, and PYKUBE_PURE_PYTHON=1 makes the framework
use them. They are written for clarity, one node at a time, and mirror the
C++ arithmetic exactly: integer division truncates toward zero as Go's and
C++'s do, and the float steps of BalancedAllocation and ImageLocality run
in the same order.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pykube_core.scheduler.arrays import (
    CPU_COLUMN,
    IGNORED_NODE_SCORE,
    AffinityFailure,
    PodTermKind,
    SpreadFailure,
    FIRST_EXTENDED_COLUMN,
    MAX_NODE_SCORE,
    MEMORY_COLUMN,
    PODS_COLUMN,
    SCORE_PLUGIN_COUNT,
    WILDCARD_IP,
    FilterPlugin,
    NodeArrays,
    Normalization,
    PodArrays,
    RequirementOp,
    ScoringArrays,
    Status,
    Strategy,
    TaintEffect,
    TermArrays,
    TermKind,
    TolerationOp,
    VolumeConflict,
)
from pykube_core.scheduler import _reference_topology as topology

MEBIBYTE = 1024 * 1024
IMAGE_MIN_THRESHOLD = 23 * MEBIBYTE
IMAGE_MAX_CONTAINER_THRESHOLD = 1000 * MEBIBYTE
UINT64_MASK = (1 << 64) - 1


def _truncating_divide(numerator: int, denominator: int) -> int:
    """Divide rounding toward zero, as Go and C++ do (Python's // floors)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


def _lists(source: Any) -> Any:
    """Return the dataclass's fields with every array converted to nested Python lists."""
    fields: dict[str, Any] = {}
    for name, value in vars(source).items():
        if isinstance(value, np.ndarray):
            fields[name] = value.tolist()
        elif isinstance(value, TermArrays):
            fields[name] = _lists(value)
        else:
            fields[name] = value
    return SimpleNamespace(**fields)


# --- filters -------------------------------------------------------------


def _label_value(nodes: Any, row: int, key: int) -> int:
    for i in range(nodes.label_offsets[row], nodes.label_offsets[row + 1]):
        if nodes.label_keys[i] == key:
            return int(nodes.label_values[i])
    return -1


def _requirement_matches(nodes: Any, pod: Any, row: int, r: int) -> bool:
    op = pod.requirement_ops[r]
    values = pod.requirement_values[
        pod.requirement_value_offsets[r] : pod.requirement_value_offsets[r + 1]
    ]
    if op == RequirementOp.NAME_IN:
        return nodes.name_ids[row] in values
    if op == RequirementOp.NAME_NOT_IN:
        return nodes.name_ids[row] not in values
    if op == RequirementOp.NEVER:
        return False
    value = _label_value(nodes, row, pod.requirement_keys[r])
    if op == RequirementOp.IN:
        return value >= 0 and value in values
    if op == RequirementOp.NOT_IN:
        return value < 0 or value not in values
    if op == RequirementOp.EXISTS:
        return value >= 0
    if op == RequirementOp.DOES_NOT_EXIST:
        return value < 0
    if op in (RequirementOp.GREATER_THAN, RequirementOp.LESS_THAN):
        if value < 0 or not nodes.string_is_number[value]:
            return False
        number = nodes.string_numbers[value]
        operand = pod.requirement_numbers[r]
        return bool(number > operand if op == RequirementOp.GREATER_THAN else number < operand)
    return False


def _term_matches(nodes: Any, pod: Any, row: int, term: int) -> bool:
    return all(
        _requirement_matches(nodes, pod, row, r)
        for r in range(pod.term_offsets[term], pod.term_offsets[term + 1])
    )


def _tolerates(pod: Any, t: int, key: int, value: int, effect: int) -> bool:
    if pod.toleration_effects[t] not in (TaintEffect.ANY, effect):
        return False
    if pod.toleration_keys[t] not in (-1, key):
        return False
    if pod.toleration_ops[t] == TolerationOp.EQUAL:
        return bool(pod.toleration_values[t] == value)
    return bool(pod.toleration_ops[t] == TolerationOp.EXISTS)


def _any_tolerates(pod: Any, key: int, value: int, effect: int, prefer_only: bool) -> bool:
    for t in range(len(pod.toleration_keys)):
        if prefer_only and pod.toleration_effects[t] not in (
            TaintEffect.ANY,
            TaintEffect.PREFER_NO_SCHEDULE,
        ):
            continue
        if _tolerates(pod, t, key, value, effect):
            return True
    return False


def _first_untolerated_taint(nodes: Any, pod: Any, row: int) -> int:
    for i in range(nodes.taint_offsets[row], nodes.taint_offsets[row + 1]):
        effect = nodes.taint_effects[i]
        if effect not in (TaintEffect.NO_SCHEDULE, TaintEffect.NO_EXECUTE):
            continue
        if not _any_tolerates(pod, nodes.taint_keys[i], nodes.taint_values[i], effect, False):
            return i
    return -1


def _matches_required_affinity(nodes: Any, pod: Any, row: int) -> bool:
    required = []
    for term, kind in enumerate(pod.term_kinds):
        if kind == TermKind.SELECTOR and not _term_matches(nodes, pod, row, term):
            return False
        if kind == TermKind.REQUIRED:
            required.append(_term_matches(nodes, pod, row, term))
    return not required or any(required)


def _has_port_conflict(nodes: Any, pod: Any, row: int) -> bool:
    for p in range(len(pod.port_ips)):
        for u in range(nodes.port_offsets[row], nodes.port_offsets[row + 1]):
            if (nodes.port_numbers[u], nodes.port_protocols[u]) != (
                pod.port_numbers[p],
                pod.port_protocols[p],
            ):
                continue
            if WILDCARD_IP in (pod.port_ips[p], nodes.port_ips[u]):
                return True
            if nodes.port_ips[u] == pod.port_ips[p]:
                return True
    return False


def _check_resources(nodes: Any, pod: Any, row: int, insufficient: list[int]) -> Status:
    allocatable = nodes.allocatable[row]
    requested = nodes.requested[row]
    failed = unresolvable = False
    if requested[PODS_COLUMN] + 1 > allocatable[PODS_COLUMN]:
        insufficient[PODS_COLUMN] = 1
        failed = True
        unresolvable = allocatable[PODS_COLUMN] < 1
    for column, request in enumerate(pod.requests):
        if column == PODS_COLUMN or request <= 0:
            continue
        if request > allocatable[column] - requested[column]:
            insufficient[column] = 1
            failed = True
            unresolvable = unresolvable or request > allocatable[column]
    if not failed:
        return Status.FITS
    return Status.UNSCHEDULABLE_AND_UNRESOLVABLE if unresolvable else Status.UNSCHEDULABLE


def _inclusion(nodes: Any, pod: Any, row_count: int) -> tuple[list[bool], list[bool]]:
    """Return per row whether the pod's node affinity matches and its tolerations cover the taints."""
    if PodTermKind.HARD_SPREAD not in pod.terms.kinds and PodTermKind.SOFT_SPREAD not in pod.terms.kinds:
        return [], []
    affinity_ok = [_matches_required_affinity(nodes, pod, row) for row in range(row_count)]
    taints_ok = [_first_untolerated_taint(nodes, pod, row) < 0 for row in range(row_count)]
    return affinity_ok, taints_ok


def filter_nodes(
    node_arrays: NodeArrays, pod_arrays: PodArrays
) -> tuple[NDArray[np.int8], NDArray[np.int8], NDArray[np.int64], NDArray[np.uint8]]:
    """Return (status, plugin, detail, insufficient) arrays, one entry per node."""
    nodes, pod = _lists(node_arrays), _lists(pod_arrays)
    row_count, resource_count = node_arrays.allocatable.shape
    status = [0] * row_count
    plugin = [0] * row_count
    detail = [-1] * row_count
    insufficient = [[0] * resource_count for _ in range(row_count)]
    unresolvable = Status.UNSCHEDULABLE_AND_UNRESOLVABLE
    affinity_ok, taints_ok = _inclusion(nodes, pod, row_count)
    spread = topology.spread_filter_state(nodes, pod, affinity_ok, taints_ok)
    inter_pod = topology.affinity_filter_state(nodes, pod)

    for row in range(row_count):
        if nodes.unschedulable[row] and not pod.tolerates_unschedulable:
            status[row], plugin[row] = unresolvable, FilterPlugin.NODE_UNSCHEDULABLE
        elif pod.node_name_id != -1 and pod.node_name_id != nodes.name_ids[row]:
            status[row], plugin[row] = unresolvable, FilterPlugin.NODE_NAME
        elif (taint := _first_untolerated_taint(nodes, pod, row)) >= 0:
            status[row], plugin[row], detail[row] = unresolvable, FilterPlugin.TAINT_TOLERATION, taint
        elif not _matches_required_affinity(nodes, pod, row):
            status[row], plugin[row] = unresolvable, FilterPlugin.NODE_AFFINITY
        elif _has_port_conflict(nodes, pod, row):
            status[row], plugin[row] = Status.UNSCHEDULABLE, FilterPlugin.NODE_PORTS
        elif (fit := _check_resources(nodes, pod, row, insufficient[row])) != Status.FITS:
            status[row], plugin[row] = fit, FilterPlugin.NODE_RESOURCES_FIT
        elif pod.volume_conflicts and pod.volume_conflicts[row] != VolumeConflict.NONE:
            status[row] = unresolvable
            zone = pod.volume_conflicts[row] == VolumeConflict.ZONE
            plugin[row] = FilterPlugin.VOLUME_ZONE if zone else FilterPlugin.VOLUME_BINDING
        elif spread is not None and (failure := topology.spread_filter(nodes, pod, spread, row)) >= 0:
            status[row] = unresolvable if failure == SpreadFailure.MISSING_LABEL else Status.UNSCHEDULABLE
            plugin[row], detail[row] = FilterPlugin.POD_TOPOLOGY_SPREAD, failure
        elif (failure := topology.affinity_filter(nodes, pod, inter_pod, row)) >= 0:
            status[row] = unresolvable if failure == AffinityFailure.AFFINITY else Status.UNSCHEDULABLE
            plugin[row], detail[row] = FilterPlugin.INTER_POD_AFFINITY, failure
    return (
        np.array(status, dtype=np.int8),
        np.array(plugin, dtype=np.int8),
        np.array(detail, dtype=np.int64),
        np.array(insufficient, dtype=np.uint8).reshape(row_count, resource_count),
    )


# --- scores --------------------------------------------------------------


def _amounts_after(
    nodes: Any, row: int, column: int, pod_request: int, use_nonzero: bool
) -> tuple[int, int]:
    """Return (allocatable, requested after placing the pod); (0, 0) skips the resource."""
    if column == PODS_COLUMN or (column >= FIRST_EXTENDED_COLUMN and pod_request == 0):
        return 0, 0
    requested = nodes.requested[row][column]
    if use_nonzero and column in (CPU_COLUMN, MEMORY_COLUMN):
        requested = nodes.nonzero_requested[row][column]
    return nodes.allocatable[row][column], requested + pod_request


def _shape_score(scoring: Any, p: int) -> int:
    points = list(zip(scoring.shape_utilization, scoring.shape_scores))
    for i, (utilization, score) in enumerate(points):
        if p <= utilization:
            if i == 0:
                return int(score)
            previous_utilization, previous_score = points[i - 1]
            step = _truncating_divide(
                (score - previous_score) * (p - previous_utilization),
                utilization - previous_utilization,
            )
            return int(previous_score + step)
    return int(points[-1][1])


def _resource_score(scoring: Any, requested: int, capacity: int) -> int:
    if scoring.strategy == Strategy.LEAST_ALLOCATED:
        if capacity == 0 or requested > capacity:
            return 0
        return (capacity - requested) * MAX_NODE_SCORE // capacity
    if scoring.strategy == Strategy.MOST_ALLOCATED:
        if capacity == 0:
            return 0
        return min(requested, capacity) * MAX_NODE_SCORE // capacity
    if capacity == 0 or requested > capacity:
        return _shape_score(scoring, 100)
    return _shape_score(scoring, requested * 100 // capacity)


def _fit_score(nodes: Any, pod: Any, scoring: Any, row: int) -> int:
    node_score = weight_sum = 0
    ratio = scoring.strategy == Strategy.REQUESTED_TO_CAPACITY_RATIO
    for column, weight in zip(scoring.fit_columns, scoring.fit_weights):
        allocatable, requested = _amounts_after(nodes, row, column, pod.nonzero_requests[column], True)
        if allocatable == 0:
            continue
        score = _resource_score(scoring, requested, allocatable)
        if ratio and score <= 0:
            continue
        node_score += score * weight
        weight_sum += weight
    if weight_sum == 0:
        return 0
    if ratio:
        return (2 * node_score + weight_sum) // (2 * weight_sum)
    return node_score // weight_sum


def _balanced_score(nodes: Any, pod: Any, scoring: Any, row: int) -> int:
    fractions = []
    total = 0.0
    for column in scoring.balanced_columns:
        allocatable, requested = _amounts_after(nodes, row, column, pod.requests[column], False)
        if allocatable == 0:
            continue
        fraction = min(float(requested) / float(allocatable), 1.0)
        total += fraction
        fractions.append(fraction)
    deviation = 0.0
    if len(fractions) == 2:
        deviation = abs((fractions[0] - fractions[1]) / 2.0)
    elif len(fractions) > 2:
        mean = total / float(len(fractions))
        squares = 0.0
        for fraction in fractions:
            squares = squares + (fraction - mean) * (fraction - mean)
        deviation = math.sqrt(squares / float(len(fractions)))
    return int((1.0 - deviation) * float(MAX_NODE_SCORE))


def _image_score(nodes: Any, pod: Any, row: int, node_count: int) -> int:
    if pod.container_count == 0:
        return 0
    sizes: dict[int, int] = {}
    for j in range(nodes.image_offsets[row], nodes.image_offsets[row + 1]):
        sizes.setdefault(nodes.image_ids[j], nodes.image_sizes[j])
    total = 0
    for image in pod.image_ids:
        if image in sizes:
            spread = float(nodes.image_node_counts[image]) / float(node_count)
            total += int(float(sizes[image]) * spread)
    max_threshold = IMAGE_MAX_CONTAINER_THRESHOLD * pod.container_count
    total = min(max(total, IMAGE_MIN_THRESHOLD), max_threshold)
    return int(MAX_NODE_SCORE * (total - IMAGE_MIN_THRESHOLD) // (max_threshold - IMAGE_MIN_THRESHOLD))


def _taint_count(nodes: Any, pod: Any, row: int) -> int:
    prefer = TaintEffect.PREFER_NO_SCHEDULE
    return sum(
        1
        for i in range(nodes.taint_offsets[row], nodes.taint_offsets[row + 1])
        if nodes.taint_effects[i] == prefer
        and not _any_tolerates(pod, nodes.taint_keys[i], nodes.taint_values[i], prefer, True)
    )


def _preferred_weight(nodes: Any, pod: Any, row: int) -> int:
    return sum(
        weight
        for term, (kind, weight) in enumerate(zip(pod.term_kinds, pod.term_weights))
        if kind == TermKind.PREFERRED and _term_matches(nodes, pod, row, term)
    )


def score_nodes(
    node_arrays: NodeArrays,
    pod_arrays: PodArrays,
    scoring_arrays: ScoringArrays,
    candidates: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Return the raw score matrix, one row per candidate and one column per ScorePlugin."""
    nodes, pod, scoring = _lists(node_arrays), _lists(pod_arrays), _lists(scoring_arrays)
    node_count = node_arrays.node_count
    skip_balanced = all(pod.requests[column] == 0 for column in scoring.balanced_columns)
    candidate_rows = candidates.tolist()
    affinity_ok, taints_ok = _inclusion(nodes, pod, node_count)
    spread = topology.spread_scores(nodes, pod, candidate_rows, affinity_ok, taints_ok)
    inter_pod = topology.affinity_scores(nodes, pod, scoring.hard_pod_affinity_weight, candidate_rows)
    rows = []
    for index, row in enumerate(candidate_rows):
        rows.append(
            [
                _taint_count(nodes, pod, row),
                _preferred_weight(nodes, pod, row),
                _fit_score(nodes, pod, scoring, row),
                0 if skip_balanced else _balanced_score(nodes, pod, scoring, row),
                _image_score(nodes, pod, row, node_count),
                spread[index],
                inter_pod[index],
            ]
        )
    return np.array(rows, dtype=np.int64).reshape(len(rows), SCORE_PLUGIN_COUNT)


# --- selection -----------------------------------------------------------


def splitmix64_next(state: int) -> tuple[int, int]:
    """Return (output, next state) of splitmix64, as csrc/scheduler/select.cpp computes it."""
    state = (state + 0x9E3779B97F4A7C15) & UINT64_MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & UINT64_MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & UINT64_MASK
    return z ^ (z >> 31), state


def _normalize_spread(column: list[int]) -> list[int]:
    """PodTopologySpread's NormalizeScore: fewer matching pods scores higher; ignored nodes score 0."""
    counted = [score for score in column if score != IGNORED_NODE_SCORE]
    if not counted:
        return [0] * len(column)
    minimum, maximum = min(counted), max([0, *counted])
    result = []
    for score in column:
        if score == IGNORED_NODE_SCORE:
            result.append(0)
        elif maximum == 0:
            result.append(MAX_NODE_SCORE)
        else:
            result.append(MAX_NODE_SCORE * (maximum + minimum - score) // maximum)
    return result


def _normalize_min_max(column: list[int]) -> list[int]:
    """InterPodAffinity's NormalizeScore: map [min, max] to [0, 100], truncating."""
    if not column:
        return []
    minimum, maximum = min(column), max(column)
    spread = maximum - minimum
    if spread <= 0:
        return [0] * len(column)
    return [int(float(MAX_NODE_SCORE) * (float(score - minimum) / float(spread))) for score in column]


def _normalize(column: list[int], reverse: bool) -> list[int]:
    maximum = max([0, *column])
    if maximum == 0:
        return [MAX_NODE_SCORE if reverse else score for score in column]
    scaled = [MAX_NODE_SCORE * score // maximum for score in column]
    return [MAX_NODE_SCORE - score for score in scaled] if reverse else scaled


def select_node(
    raw_scores: NDArray[np.int64],
    weights: NDArray[np.int64],
    modes: NDArray[np.int8],
    rng_state: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64], int, int]:
    """Return (normalized scores, totals, selected row or -1, next rng state)."""
    columns = [list(column) for column in zip(*raw_scores.tolist())] or [[]] * SCORE_PLUGIN_COUNT
    for index, mode in enumerate(modes.tolist()):
        if mode == Normalization.SPREAD:
            columns[index] = _normalize_spread(columns[index])
        elif mode == Normalization.MIN_MAX:
            columns[index] = _normalize_min_max(columns[index])
        elif mode != Normalization.NONE:
            columns[index] = _normalize(columns[index], mode == Normalization.REVERSE)
    row_count = len(raw_scores)
    normalized = [[columns[c][i] for c in range(SCORE_PLUGIN_COUNT)] for i in range(row_count)]
    weight_list = weights.tolist()
    totals = [sum(s * w for s, w in zip(row, weight_list)) for row in normalized]

    selected, best, ties = -1, 0, 0
    for index, total in enumerate(totals):
        if selected < 0 or total > best:
            selected, best, ties = index, total, 1
        elif total == best:
            ties += 1
            output, rng_state = splitmix64_next(rng_state)
            if output % ties == 0:
                selected = index
    return (
        np.array(normalized, dtype=np.int64).reshape(row_count, SCORE_PLUGIN_COUNT),
        np.array(totals, dtype=np.int64),
        selected,
        rng_state,
    )
