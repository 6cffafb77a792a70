"""percentageOfNodesToScore: how many feasible nodes a cycle looks for, and in which order.

kube-scheduler stops filtering once it has found enough feasible nodes and
scores only those. The search starts where the previous cycle stopped and
wraps around, so successive pods reach different parts of a large cluster.
pykube scores every feasible node unless a profile sets the percentage.
Then it uses kube-scheduler's formula for the count (numFeasibleNodesToFind)
and moves the start row by the number of nodes examined.

Differences from kube-scheduler: the filter kernel still checks every node,
so sampling changes which nodes are scored, not the cost of filtering.
NOTE: the nodes examined are counted as a sequential search counts them;
kube-scheduler filters in parallel and may count a few nodes more, so its
start row can differ after a cut-off.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pykube_core.scheduler.arrays import Status

MIN_FEASIBLE_NODES_TO_FIND = 100
"""Nodes. Smaller clusters are always searched whole, and no cut-off goes below it."""
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
"""Percent: the floor of the adaptive percentage."""
ADAPTIVE_BASE_PERCENTAGE = 50
"""Percent: the adaptive percentage at 0 nodes, which falls by 1 per ADAPTIVE_NODES_PER_PERCENT nodes."""
ADAPTIVE_NODES_PER_PERCENT = 125


def nodes_to_find(percentage: int | None, node_count: int) -> int:
    """Return how many feasible nodes a cycle looks for among node_count nodes.

    With percentage None every feasible node is scored (pykube's default).
    0 is kube-scheduler's adaptive default: 50% minus 1% per 125 nodes,
    with a floor of 5%. 1-100 is a fixed percentage. The result is never
    below MIN_FEASIBLE_NODES_TO_FIND unless the cluster is smaller.
    """
    if percentage is None or node_count < MIN_FEASIBLE_NODES_TO_FIND:
        return node_count
    if percentage == 0:
        percentage = max(
            ADAPTIVE_BASE_PERCENTAGE - node_count // ADAPTIVE_NODES_PER_PERCENT,
            MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND,
        )
    return max(node_count * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


def sample_feasible(status: NDArray[np.int8], start_row: int, limit: int) -> tuple[NDArray[np.int64], int]:
    """Return the feasible rows in search order and the number of rows examined.

    The search starts at start_row, wraps around, and stops after `limit`
    feasible rows. The count examined moves the next cycle's start row.
    csrc/scheduler/batch.cpp's sample_feasible is the native twin.
    """
    node_count = len(status)
    if node_count == 0:
        return np.zeros(0, dtype=np.int64), 0
    order = np.roll(np.arange(node_count, dtype=np.int64), -start_row)
    positions = np.flatnonzero(status[order] == Status.FITS)
    if len(positions) < limit:
        return order[positions], node_count
    return order[positions[:limit]], int(positions[limit - 1]) + 1
