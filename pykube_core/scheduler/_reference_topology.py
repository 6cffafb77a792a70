"""Pure-Python twin of csrc/scheduler/topology.h: PodTopologySpread and InterPodAffinity.

_reference calls these with the kernel inputs converted to lists (see
_reference._lists). Each "state" function is kube-scheduler's PreFilter or
PreScore step over every node; the per-node functions are its Filter and
Score steps. Topology domains are (topology key id, node label value id)
pairs. A node without the key has no domain, except in PreScore of the
system default constraints, where such nodes share the ABSENT domain, as
kube-scheduler's empty label value does.

Differences from kube-scheduler (Kubernetes 1.35):

- Nodes missing a system default topology key share a domain that differs
  from the domain of nodes whose label value is the empty string.
- Pod affinity terms' matchLabelKeys and mismatchLabelKeys are not read;
  the API server merges them into labelSelector when the pod is created.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pykube_core.scheduler.arrays import (
    IGNORED_NODE_SCORE,
    AffinityFailure,
    PodTermFlag,
    PodTermKind,
    RequirementOp,
    SpreadFailure,
)

ABSENT = -1


def _lookup(keys: list[int], values: list[int], begin: int, end: int, key: int) -> int:
    for i in range(begin, end):
        if keys[i] == key:
            return values[i]
    return ABSENT


def node_value(nodes: Any, row: int, key: int) -> int:
    """Return the value id of label `key` on node `row`, or ABSENT."""
    return _lookup(nodes.label_keys, nodes.label_values, nodes.label_offsets[row], nodes.label_offsets[row + 1], key)


def _selector_matches(terms: Any, t: int, keys: list[int], values: list[int], begin: int, end: int) -> bool:
    for q in range(terms.selector_offsets[t], terms.selector_offsets[t + 1]):
        op = terms.requirement_ops[q]
        if op == RequirementOp.NEVER:
            return False
        value = _lookup(keys, values, begin, end, terms.requirement_keys[q])
        allowed = terms.requirement_values[terms.requirement_value_offsets[q] : terms.requirement_value_offsets[q + 1]]
        if op == RequirementOp.IN:
            matched = value != ABSENT and value in allowed
        elif op == RequirementOp.NOT_IN:
            matched = value == ABSENT or value not in allowed
        elif op == RequirementOp.EXISTS:
            matched = value != ABSENT
        elif op == RequirementOp.DOES_NOT_EXIST:
            matched = value == ABSENT
        else:
            matched = False
        if not matched:
            return False
    return True


def _namespace_matches(terms: Any, t: int, namespace: int) -> bool:
    if terms.flags[t] & PodTermFlag.ALL_NAMESPACES:
        return True
    return namespace in terms.namespaces[terms.namespace_offsets[t] : terms.namespace_offsets[t + 1]]


def matches_existing(terms: Any, t: int, nodes: Any, slot: int) -> bool:
    """Return True when term t selects the existing pod in `slot`."""
    begin, end = nodes.pod_label_offsets[slot], nodes.pod_label_offsets[slot + 1]
    return _namespace_matches(terms, t, nodes.pod_namespaces[slot]) and _selector_matches(
        terms, t, nodes.pod_label_keys, nodes.pod_label_values, begin, end
    )


def matches_incoming(terms: Any, t: int, pod: Any) -> bool:
    """Return True when term t selects the incoming pod."""
    return _namespace_matches(terms, t, pod.namespace_id) and _selector_matches(
        terms, t, pod.label_keys, pod.label_values, 0, len(pod.label_keys)
    )


def _terms_of_kind(terms: Any, kind: PodTermKind) -> list[int]:
    return [t for t, k in enumerate(terms.kinds) if k == kind]


def _spread_matches_per_node(nodes: Any, terms: Any, t: int) -> list[int]:
    """Count, per node row, the non-terminating pods that spread constraint t selects."""
    counts = [0] * len(nodes.unschedulable)
    for slot, row in enumerate(nodes.pod_rows):
        if row >= 0 and not nodes.pod_terminating[slot] and matches_existing(terms, t, nodes, slot):
            counts[row] += 1
    return counts


def _included(terms: Any, t: int, row: int, affinity_ok: list[bool], taints_ok: list[bool]) -> bool:
    """Apply nodeAffinityPolicy and nodeTaintsPolicy: may node `row` count for constraint t?"""
    if terms.flags[t] & PodTermFlag.HONOR_NODE_AFFINITY and not affinity_ok[row]:
        return False
    return not (terms.flags[t] & PodTermFlag.HONOR_TAINTS and not taints_ok[row])


def _has_all_keys(nodes: Any, terms: Any, constraints: list[int], row: int) -> bool:
    return all(node_value(nodes, row, terms.topology_keys[t]) != ABSENT for t in constraints)


# --- PodTopologySpread filter --------------------------------------------


@dataclass
class SpreadFilterState:
    constraints: list[int]
    counts: list[dict[int, int]]  # per constraint: domain value -> matching pods
    minimums: list[int]
    self_matches: list[int]


def spread_filter_state(nodes: Any, pod: Any, affinity_ok: list[bool], taints_ok: list[bool]) -> SpreadFilterState | None:
    """Count matching pods per domain of every DoNotSchedule constraint (PreFilter)."""
    terms = pod.terms
    constraints = _terms_of_kind(terms, PodTermKind.HARD_SPREAD)
    if not constraints:
        return None
    rows = range(len(nodes.unschedulable))
    eligible = [_has_all_keys(nodes, terms, constraints, row) for row in rows]
    state = SpreadFilterState(constraints, [], [], [])
    for t in constraints:
        per_node = _spread_matches_per_node(nodes, terms, t)
        counts: dict[int, int] = {}
        for row in rows:
            if eligible[row] and _included(terms, t, row, affinity_ok, taints_ok):
                value = node_value(nodes, row, terms.topology_keys[t])
                counts[value] = counts.get(value, 0) + per_node[row]
        # Fewer domains than minDomains make the global minimum 0.
        minimum = 0 if len(counts) < terms.min_domains[t] else min(counts.values())
        state.counts.append(counts)
        state.minimums.append(minimum)
        state.self_matches.append(1 if _selector_matches(terms, t, pod.label_keys, pod.label_values, 0, len(pod.label_keys)) else 0)
    return state


def spread_filter(nodes: Any, pod: Any, state: SpreadFilterState, row: int) -> int:
    """Return -1 when node `row` passes the spread filter, else its SpreadFailure."""
    terms = pod.terms
    for index, t in enumerate(state.constraints):
        value = node_value(nodes, row, terms.topology_keys[t])
        if value == ABSENT:
            return int(SpreadFailure.MISSING_LABEL)
        skew = state.counts[index].get(value, 0) + state.self_matches[index] - state.minimums[index]
        if skew > terms.weights[t]:
            return int(SpreadFailure.SKEW)
    return -1


# --- InterPodAffinity filter ---------------------------------------------


@dataclass
class AffinityFilterState:
    affinity: list[int]
    anti_affinity: list[int]
    affinity_pairs: set[tuple[int, int]]
    anti_affinity_pairs: set[tuple[int, int]]
    existing_anti_affinity: dict[int, set[int]]  # topology key -> values
    self_affine: bool


def affinity_filter_state(nodes: Any, pod: Any) -> AffinityFilterState:
    """Collect the domains of the pods that the pod's terms select, and existing pods' anti-affinity (PreFilter)."""
    terms, existing = pod.terms, nodes.pod_terms
    state = AffinityFilterState(
        _terms_of_kind(terms, PodTermKind.REQUIRED_AFFINITY),
        _terms_of_kind(terms, PodTermKind.REQUIRED_ANTI_AFFINITY),
        set(),
        set(),
        {},
        False,
    )
    for t in _terms_of_kind(existing, PodTermKind.REQUIRED_ANTI_AFFINITY):
        row = nodes.pod_rows[existing.owners[t]]
        if row < 0 or not matches_incoming(existing, t, pod):
            continue
        key = existing.topology_keys[t]
        value = node_value(nodes, row, key)
        if value != ABSENT:
            state.existing_anti_affinity.setdefault(key, set()).add(value)
    for slot, row in enumerate(nodes.pod_rows):
        if row < 0:
            continue
        for t in state.anti_affinity:
            value = node_value(nodes, row, terms.topology_keys[t])
            if value != ABSENT and matches_existing(terms, t, nodes, slot):
                state.anti_affinity_pairs.add((terms.topology_keys[t], value))
        # An existing pod counts for affinity only when it matches every required term.
        if state.affinity and all(matches_existing(terms, t, nodes, slot) for t in state.affinity):
            for t in state.affinity:
                value = node_value(nodes, row, terms.topology_keys[t])
                if value != ABSENT:
                    state.affinity_pairs.add((terms.topology_keys[t], value))
    state.self_affine = bool(state.affinity) and all(matches_incoming(terms, t, pod) for t in state.affinity)
    return state


def affinity_filter(nodes: Any, pod: Any, state: AffinityFilterState, row: int) -> int:
    """Return -1 when node `row` passes the inter-pod affinity filter, else its AffinityFailure."""
    terms = pod.terms
    if state.affinity:
        pods_exist = True
        for t in state.affinity:
            key = terms.topology_keys[t]
            value = node_value(nodes, row, key)
            if value == ABSENT:
                return int(AffinityFailure.AFFINITY)
            if (key, value) not in state.affinity_pairs:
                pods_exist = False
        # The first pod of a group whose terms select the pod itself may land
        # anywhere, or the group could never start.
        if not pods_exist and not (not state.affinity_pairs and state.self_affine):
            return int(AffinityFailure.AFFINITY)
    for t in state.anti_affinity:
        key = terms.topology_keys[t]
        if (key, node_value(nodes, row, key)) in state.anti_affinity_pairs:
            return int(AffinityFailure.ANTI_AFFINITY)
    for key, values in state.existing_anti_affinity.items():
        if node_value(nodes, row, key) in values:
            return int(AffinityFailure.EXISTING_ANTI_AFFINITY)
    return -1


# --- scores --------------------------------------------------------------


def round_half_away(value: float) -> int:
    """Round as Go's math.Round and C++'s std::round do: halves away from zero (value >= 0)."""
    floor = math.floor(value)
    return int(floor + 1 if value - floor >= 0.5 else floor)


def spread_scores(nodes: Any, pod: Any, candidates: list[int], affinity_ok: list[bool], taints_ok: list[bool]) -> list[int]:
    """Score the candidates for PodTopologySpread (PreScore and Score); ignored nodes get IGNORED_NODE_SCORE."""
    terms = pod.terms
    constraints = _terms_of_kind(terms, PodTermKind.SOFT_SPREAD)
    if not constraints:
        return [IGNORED_NODE_SCORE] * len(candidates)
    # System default constraints also score nodes that lack their keys.
    require_all = not pod.system_default_spread
    ignored = [require_all and not _has_all_keys(nodes, terms, constraints, row) for row in candidates]

    # Domains are those of the scored nodes; hostname constraints count per node.
    domains: list[dict[int, int]] = [{} for _ in constraints]
    weights: list[float] = []
    for index, t in enumerate(constraints):
        hostname = terms.flags[t] & PodTermFlag.HOSTNAME_KEY
        for row, skip in zip(candidates, ignored):
            if not skip and not hostname:
                domains[index].setdefault(node_value(nodes, row, terms.topology_keys[t]), 0)
        size = len(candidates) - sum(ignored) if hostname else len(domains[index])
        weights.append(math.log(float(size + 2)))

    per_node = [_spread_matches_per_node(nodes, terms, t) for t in constraints]
    for row in range(len(nodes.unschedulable)):
        if require_all and not _has_all_keys(nodes, terms, constraints, row):
            continue
        for index, t in enumerate(constraints):
            if terms.flags[t] & PodTermFlag.HOSTNAME_KEY or not _included(terms, t, row, affinity_ok, taints_ok):
                continue
            value = node_value(nodes, row, terms.topology_keys[t])
            if value in domains[index]:
                domains[index][value] += per_node[index][row]

    scores = []
    for row, skip in zip(candidates, ignored):
        if skip:
            scores.append(IGNORED_NODE_SCORE)
            continue
        total = 0.0
        for index, t in enumerate(constraints):
            value = node_value(nodes, row, terms.topology_keys[t])
            if value == ABSENT:
                continue
            hostname = terms.flags[t] & PodTermFlag.HOSTNAME_KEY
            count = per_node[index][row] if hostname else domains[index][value]
            total = total + (float(count) * weights[index] + float(terms.weights[t] - 1))
        scores.append(round_half_away(total))
    return scores


def affinity_scores(nodes: Any, pod: Any, hard_weight: int, candidates: list[int]) -> list[int]:
    """Score the candidates for InterPodAffinity (PreScore and Score): summed term weights of their domains."""
    terms, existing = pod.terms, nodes.pod_terms
    domain_scores: dict[int, dict[int, int]] = {}

    def add(key: int, row: int, amount: int) -> None:
        value = node_value(nodes, row, key)
        if value != ABSENT:
            values = domain_scores.setdefault(key, {})
            values[value] = values.get(value, 0) + amount

    preferred = _terms_of_kind(terms, PodTermKind.PREFERRED_AFFINITY)
    preferred_anti = _terms_of_kind(terms, PodTermKind.PREFERRED_ANTI_AFFINITY)
    if preferred or preferred_anti:
        for slot, row in enumerate(nodes.pod_rows):
            if row < 0:
                continue
            for t in preferred:
                if matches_existing(terms, t, nodes, slot):
                    add(terms.topology_keys[t], row, terms.weights[t])
            for t in preferred_anti:
                if matches_existing(terms, t, nodes, slot):
                    add(terms.topology_keys[t], row, -terms.weights[t])
    for t, kind in enumerate(existing.kinds):
        row = nodes.pod_rows[existing.owners[t]]
        if row < 0 or kind == PodTermKind.REQUIRED_ANTI_AFFINITY:
            continue
        if kind == PodTermKind.REQUIRED_AFFINITY and hard_weight <= 0:
            continue
        if not matches_incoming(existing, t, pod):
            continue
        amount = hard_weight if kind == PodTermKind.REQUIRED_AFFINITY else existing.weights[t]
        add(existing.topology_keys[t], row, -amount if kind == PodTermKind.PREFERRED_ANTI_AFFINITY else amount)
    scores = []
    for row in candidates:
        total = 0
        for key, values in domain_scores.items():
            value = node_value(nodes, row, key)
            if value != ABSENT:
                total += values.get(value, 0)
        scores.append(total)
    return scores
