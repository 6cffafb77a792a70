"""Pure-Python twin of the label-selector kernel in csrc/selector/match.cpp.

It takes the same arrays and returns the same result as
_selector_native.match_rows, written for clarity rather than speed: the tests
use it as the oracle and the benchmarks as the baseline, and
PYKUBE_PURE_PYTHON=1 makes pykube_core.selector_index use it. The array
layout and the operator codes are described in csrc/selector/match.h.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

OP_IN = 0
OP_NOT_IN = 1
OP_EXISTS = 2
OP_DOES_NOT_EXIST = 3


def match_rows(
    offsets: NDArray[np.int64],
    key_ids: NDArray[np.int32],
    value_ids: NDArray[np.int32],
    ops: NDArray[np.int8],
    requirement_key_ids: NDArray[np.int32],
    value_offsets: NDArray[np.int64],
    requirement_value_ids: NDArray[np.int32],
    /,
) -> NDArray[np.bool_]:
    """Return a bool array with True for each row that satisfies every requirement."""
    requirements = []
    for r in range(len(ops)):
        values = requirement_value_ids[value_offsets[r] : value_offsets[r + 1]]
        requirements.append((int(ops[r]), int(requirement_key_ids[r]), set(values.tolist())))

    row_count = len(offsets) - 1
    result = np.zeros(row_count, dtype=np.bool_)
    for i in range(row_count):
        begin, end = int(offsets[i]), int(offsets[i + 1])
        labels = dict(zip(key_ids[begin:end].tolist(), value_ids[begin:end].tolist()))
        result[i] = all(_satisfies(labels, *requirement) for requirement in requirements)
    return result


def _satisfies(labels: dict[int, int], op: int, key: int, values: set[int]) -> bool:
    present = key in labels
    if op == OP_IN:
        return present and labels[key] in values
    if op == OP_NOT_IN:
        return not present or labels[key] not in values
    if op == OP_EXISTS:
        return present
    if op == OP_DOES_NOT_EXIST:
        return not present
    raise ValueError(f"ops: invalid operator code {op}; expected 0 to 3")

