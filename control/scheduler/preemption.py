"""Preemption: when no node fits a pod, find the node where evicting lower-priority pods makes room.

This is kube-scheduler's DefaultPreemption PostFilter plugin, run on the
scheduler's NodeTable:

1. A pod with preemptionPolicy Never does not preempt, and a nominated
   pod whose earlier victims are still accounted waits for them instead
   of picking more.
2. Nodes that the filters rejected as unschedulable and unresolvable
   (node affinity, taints, a node name) are skipped: removing pods cannot
   help there.
3. On every other node, all pods of lower priority are removed from the
   table and the pod is filtered again. If it fits, the removed pods are
   added back one at a time, most important first (higher priority, then
   earlier start), and each one whose return still lets the pod fit is
   spared. Pods whose eviction would violate a PodDisruptionBudget are
   offered back before the others, so they are spared first. The
   remaining pods are that node's victims.
4. Of the candidate nodes, the one with the fewest budget violations
   wins. Ties go to the lowest highest-victim priority, then the smallest
   sum of victim priorities, the fewest victims, and the latest start
   among the highest-priority victims. Any tie left goes to the first
   node in table order.

The table is changed only during the search and restored before
``preempt`` returns, so the kernels see every simulated state without a
copy of the table. That is safe because a scheduling cycle runs without
awaiting.

The outcome carries the text kube-scheduler appends to the
FailedScheduling message: "preemption: 0/3 nodes are available: 3 No
preemption victims found for incoming pod." when no node helps, or
"preemption: not eligible due to preemptionPolicy=Never.".

The search stops once it has found max(10% of the nodes, 100) candidates,
kube-scheduler's default minCandidateNodesPercentage and
minCandidateNodesAbsolute, which bounds the work in large clusters.

Differences from kube-scheduler (Kubernetes 1.35): the search walks the
nodes in table order, where kube-scheduler starts at a random node. Each
simulation filters every node of the table, not only the simulated one,
so one node costs O(victims) filter calls of O(nodes) each. A search
over 100 full nodes took about 0.4 s with the native kernel on a shared
2-core machine (bench/bench_preemption.py). Pods whose bind is still in
flight (assumed) are never victims.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pykube_core.disruption import budget_selects
from pykube_core.scheduler import Scheduler
from pykube_core.scheduler.arrays import FilterArrays, PodArrays, Status
from pykube_core.scheduler.framework import FilterResult
from pykube_core.scheduler.reasons import summarize
from pykube_control.scheduler.queue import pod_key, pod_priority

log = logging.getLogger("pykube.scheduler")

Pod = dict[str, Any]

NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NEVER_POLICY = "not eligible due to preemptionPolicy=Never."
VICTIMS_TERMINATING = "not eligible due to a terminating pod on the nominated node."
PRIORITY_OFFSET = 2**31
"""Added to each victim priority before summing, so that negative priorities still add up, as kube-scheduler does."""
NOT_STARTED = "9999-12-31T23:59:59Z"
"""Start time of a pod that has not started: later than any real one."""

MIN_CANDIDATE_NODES_PERCENTAGE = 10
"""Percent of the nodes the search wants as candidates before it stops; kube-scheduler's default."""
MIN_CANDIDATE_NODES_ABSOLUTE = 100
"""Candidates the search wants at least, whatever the percentage gives; kube-scheduler's default."""

PodsOnNode = Callable[[str], Sequence[Pod]]
"""Return the bound pods of a node (the scheduler cache's view)."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A node where evicting ``victims`` lets the pod fit."""

    node: str
    victims: tuple[Pod, ...]
    budget_violations: int


@dataclasses.dataclass(frozen=True)
class PreemptionOutcome:
    """The chosen candidate, or None with the "preemption: ..." text for the FailedScheduling message."""

    candidate: Candidate | None
    message: str


def start_time(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("startTime") or NOT_STARTED)


def importance(pod: Mapping[str, Any]) -> tuple[int, str]:
    """Sort key that puts the most important pod first: higher priority, then earlier start."""
    return -pod_priority(dict(pod)), start_time(pod)


def split_by_budget(pods: Sequence[Pod], budgets: Sequence[Mapping[str, Any]]) -> tuple[list[Pod], list[Pod]]:
    """Split pods (most important first) into those whose eviction violates a budget and the rest.

    Each budget's status.disruptionsAllowed is spent in pod order, and a
    pod already listed in the budget's status.disruptedPods spends none,
    as in kube-scheduler's filterPodsWithPDBViolation.
    """
    allowed = [int((budget.get("status") or {}).get("disruptionsAllowed") or 0) for budget in budgets]
    violating: list[Pod] = []
    other: list[Pod] = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name")
        violates = False
        for index, budget in enumerate(budgets):
            if not budget_selects(budget, pod):
                continue
            if name in ((budget.get("status") or {}).get("disruptedPods") or {}):
                continue
            allowed[index] -= 1
            if allowed[index] < 0:
                violates = True
        (violating if violates else other).append(pod)
    return violating, other


def candidates_wanted(node_count: int) -> int:
    """Return how many candidates the search collects before it stops, for a cluster of ``node_count`` nodes."""
    return max(node_count * MIN_CANDIDATE_NODES_PERCENTAGE // 100, MIN_CANDIDATE_NODES_ABSOLUTE)


def candidate_rank(candidate: Candidate) -> tuple[int, int, int, int, str]:
    """Sort key of a candidate; the smallest wins (see the module docstring)."""
    priorities = [pod_priority(victim) for victim in candidate.victims]
    highest = max(priorities, default=-PRIORITY_OFFSET)
    total = sum(priority + PRIORITY_OFFSET for priority in priorities)
    earliest_of_highest = min(
        (start_time(victim) for victim in candidate.victims if pod_priority(victim) == highest), default=NOT_STARTED
    )
    # A later start wins, so the timestamp is inverted for an ascending sort.
    inverted = "".join(chr(0x10FFFF - ord(character)) for character in earliest_of_highest)
    return candidate.budget_violations, highest, total, len(candidate.victims), inverted


class Preemptor:
    """Searches victims on the scheduler's table; see the module docstring."""

    def __init__(self, scheduler: Scheduler, pods_on: PodsOnNode) -> None:
        self.scheduler = scheduler
        self.pods_on = pods_on

    def preempt(
        self,
        pod: Pod,
        filtered: FilterResult,
        budgets: Sequence[Mapping[str, Any]],
        *,
        compiled: PodArrays | None = None,
        victims_pending: bool = False,
    ) -> PreemptionOutcome:
        """Pick the best candidate node and its victims for a pod that no node fits.

        victims_pending is True while the pod's earlier victims are still on
        their node, so the pod waits for them instead of preempting again.
        compiled is the pod as the failed cycle compiled it; by default it is
        compiled without spread selectors and volume conflicts.
        """
        if (pod.get("spec") or {}).get("preemptionPolicy") == "Never":
            return PreemptionOutcome(None, f"preemption: {NEVER_POLICY}")
        if victims_pending:
            return PreemptionOutcome(None, f"preemption: {VICTIMS_TERMINATING}")

        table = self.scheduler.table
        if compiled is None:
            compiled = self.scheduler.compile(pod)
        candidates: list[Candidate] = []
        reasons: list[tuple[str, ...]] = []
        wanted = candidates_wanted(len(filtered.node_names))
        for row, name in enumerate(filtered.node_names):
            if len(candidates) >= wanted:
                break
            status = Status(int(filtered.arrays.status[row]))
            if status == Status.UNSCHEDULABLE_AND_UNRESOLVABLE or name not in table:
                reasons.append((NOT_HELPFUL,))
                continue
            candidate = self._victims_on(pod, compiled, name, budgets)
            if candidate is None:
                reasons.append((NO_VICTIMS,))
            else:
                candidates.append(candidate)

        if not candidates:
            return PreemptionOutcome(None, "preemption: " + summarize(len(filtered.node_names), reasons))
        best = min(candidates, key=candidate_rank)
        log.info(
            "preemption candidate chosen pod=%s node=%s victims=%d budget_violations=%d candidates=%d",
            pod_key(pod), best.node, len(best.victims), best.budget_violations, len(candidates),
        )  # fmt: skip
        return PreemptionOutcome(best, "")

    def _victims_on(
        self, pod: Pod, compiled: PodArrays, node: str, budgets: Sequence[Mapping[str, Any]]
    ) -> Candidate | None:
        """Simulate evictions on one node and return its victims, or None when no eviction helps."""
        table = self.scheduler.table
        priority = pod_priority(pod)
        # NOTE: pods whose bind is in flight are not in pods_on, so they are never victims.
        lower = [other for other in self.pods_on(node) if pod_priority(other) < priority]
        lower = [other for other in lower if table.pod_node(other) == node]
        if not lower:
            return None

        for other in lower:
            table.remove_pod(other)
        try:
            if not self._fits(compiled, node):
                return None
            lower.sort(key=importance)
            violating, other_pods = split_by_budget(lower, budgets)
            victims: list[Pod] = []
            violations = 0
            for group, counts_violation in ((violating, True), (other_pods, False)):
                for candidate in group:
                    table.add_pod(candidate)
                    if self._fits(compiled, node):
                        continue
                    table.remove_pod(candidate)
                    victims.append(candidate)
                    violations += int(counts_violation)
            return Candidate(node, tuple(victims), violations)
        finally:
            for other in lower:
                if table.pod_node(other) is None:
                    table.add_pod(other)

    def _fits(self, compiled: PodArrays, node: str) -> bool:
        table = self.scheduler.table
        arrays = FilterArrays(*self.scheduler.kernel.filter_nodes(table.arrays(), compiled))
        return bool(np.int8(arrays.status[table.row_of(node)]) == Status.FITS)
