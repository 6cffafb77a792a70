"""Pure-Python twin of csrc/scheduler/batch.cpp: a batch of identical pods, one whole cycle per pod.

The native kernel copies only the state that a placement changes and, for
pods without pod terms, filters and scores only the chosen row again. This
twin instead rebuilds the NodeArrays after every placement the way
NodeTable.assume_pod changes the table: the node's requests, its used host
ports, and a new pod slot with the pod's labels and inter-pod affinity
terms. Then it runs the whole cycle again. That is slow and plainly
correct, which makes it the oracle of the native batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pykube_core.scheduler._reference import filter_nodes, score_nodes, select_node
from pykube_core.scheduler.sampling import sample_feasible
from pykube_core.scheduler.arrays import (
    CPU_COLUMN,
    MEMORY_COLUMN,
    BatchArrays,
    NodeArrays,
    PodArrays,
    ScoringArrays,
    TermArrays,
)


def schedule_batch(
    nodes: NodeArrays,
    pod: PodArrays,
    scoring: ScoringArrays,
    weights: NDArray[np.int64],
    modes: NDArray[np.int8],
    rng_state: int,
    batch: BatchArrays,
) -> tuple[NDArray[np.int64], int, int, int]:
    """Return (rows, placed, next rng state, next start row); see arrays.BatchPlacement."""
    rows = np.full(batch.count, -1, dtype=np.int64)
    placed = 0
    start_row = batch.start_row
    node_count = nodes.node_count
    for index in range(batch.count):
        status = filter_nodes(nodes, pod)[0]
        candidates, processed = sample_feasible(status, start_row, batch.nodes_to_find)
        start_row = (start_row + processed) % node_count if node_count else 0
        if len(candidates) == 0:
            break
        raw = score_nodes(nodes, pod, scoring, candidates)
        _, _, selected, rng_state = select_node(raw, weights, modes, rng_state)
        row = int(candidates[selected])
        rows[index] = row
        placed = index + 1
        nodes = _assume(nodes, pod, batch, row)
    return rows, placed, rng_state, start_row


def _assume(nodes: NodeArrays, pod: PodArrays, batch: BatchArrays, row: int) -> NodeArrays:
    """Return the arrays with the pod accounted on `row`, as NodeTable.assume_pod would make them."""
    requested = nodes.requested.copy()
    requested[row] += pod.requests  # the pods column of requests is 1
    nonzero = nodes.nonzero_requested.copy()
    nonzero[row, 0] += pod.nonzero_requests[CPU_COLUMN]
    nonzero[row, 1] += pod.nonzero_requests[MEMORY_COLUMN]

    port_at = int(nodes.port_offsets[row + 1])
    port_offsets = nodes.port_offsets.copy()
    port_offsets[row + 1 :] += len(pod.port_ips)

    slot = len(nodes.pod_rows)
    label_offsets = np.append(nodes.pod_label_offsets, nodes.pod_label_offsets[-1] + len(batch.slot_label_keys))
    return dataclasses.replace(
        nodes,
        requested=requested,
        nonzero_requested=nonzero,
        port_offsets=port_offsets,
        port_ips=np.insert(nodes.port_ips, port_at, pod.port_ips),
        port_numbers=np.insert(nodes.port_numbers, port_at, pod.port_numbers),
        port_protocols=np.insert(nodes.port_protocols, port_at, pod.port_protocols),
        pod_rows=np.append(nodes.pod_rows, np.int32(row)).astype(np.int32),
        pod_namespaces=np.append(nodes.pod_namespaces, np.int32(batch.slot_namespace)).astype(np.int32),
        pod_terminating=np.append(nodes.pod_terminating, np.uint8(batch.slot_terminating)).astype(np.uint8),
        pod_label_offsets=label_offsets.astype(np.int64),
        pod_label_keys=np.concatenate([nodes.pod_label_keys, batch.slot_label_keys]).astype(np.int32),
        pod_label_values=np.concatenate([nodes.pod_label_values, batch.slot_label_values]).astype(np.int32),
        pod_terms=append_terms(nodes.pod_terms, batch.slot_terms, slot),
    )


def append_terms(existing: TermArrays, added: TermArrays, owner: int) -> TermArrays:
    """Return `existing` followed by `added`, whose terms get `owner` as their pod slot."""
    if added.term_count == 0:
        return existing

    def rebased(offsets: NDArray[np.int64], more: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.concatenate([offsets, more[1:] + offsets[-1]]).astype(np.int64)

    def joined(first: NDArray[Any], second: NDArray[Any]) -> NDArray[Any]:
        return np.concatenate([first, second]).astype(first.dtype)

    return TermArrays(
        kinds=joined(existing.kinds, added.kinds),
        weights=joined(existing.weights, added.weights),
        min_domains=joined(existing.min_domains, added.min_domains),
        topology_keys=joined(existing.topology_keys, added.topology_keys),
        flags=joined(existing.flags, added.flags),
        owners=joined(existing.owners, np.full(added.term_count, owner, dtype=np.int64)),
        namespace_offsets=rebased(existing.namespace_offsets, added.namespace_offsets),
        namespaces=joined(existing.namespaces, added.namespaces),
        selector_offsets=rebased(existing.selector_offsets, added.selector_offsets),
        requirement_ops=joined(existing.requirement_ops, added.requirement_ops),
        requirement_keys=joined(existing.requirement_keys, added.requirement_keys),
        requirement_value_offsets=rebased(existing.requirement_value_offsets, added.requirement_value_offsets),
        requirement_values=joined(existing.requirement_values, added.requirement_values),
    )
