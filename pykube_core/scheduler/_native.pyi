"""Type stubs for the pybind11 module built from csrc/scheduler/."""

import numpy as np
from numpy.typing import NDArray

from pykube_core.scheduler.arrays import BatchArrays, NodeArrays, PodArrays, ScoringArrays

def filter_nodes(
    nodes: NodeArrays, pod: PodArrays, /
) -> tuple[NDArray[np.int8], NDArray[np.int8], NDArray[np.int64], NDArray[np.uint8]]: ...
def score_nodes(
    nodes: NodeArrays,
    pod: PodArrays,
    scoring: ScoringArrays,
    candidates: NDArray[np.int64],
    /,
) -> NDArray[np.int64]: ...
def select_node(
    raw_scores: NDArray[np.int64],
    weights: NDArray[np.int64],
    modes: NDArray[np.int8],
    rng_state: int,
    /,
) -> tuple[NDArray[np.int64], NDArray[np.int64], int, int]: ...
def schedule_batch(
    nodes: NodeArrays,
    pod: PodArrays,
    scoring: ScoringArrays,
    weights: NDArray[np.int64],
    modes: NDArray[np.int8],
    rng_state: int,
    batch: BatchArrays,
    /,
) -> tuple[NDArray[np.int64], int, int, int]: ...
