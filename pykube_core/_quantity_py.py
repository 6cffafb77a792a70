"""Pure-Python twin of the resource-accounting loops in _quantity_native.pyx.

Same functions, arguments and results as the Cython module, written for
clarity: the tests use it as the oracle and the benchmarks as the baseline,
and PYKUBE_PURE_PYTHON=1 makes pykube_core.resource_sum use it. Python
integers never overflow, so the int64 limits are checked by hand.

ColumnOverflowError lives here, not in the Cython module, because this module
imports without a compiler and both implementations must raise the same type.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class ColumnOverflowError(OverflowError):
    """Error for a running sum that left the int64 range in column index `column`."""

    def __init__(self, column: int) -> None:
        super().__init__(f"sum of column {column} is outside the int64 range")
        self.column = column


def column_sums(matrix: NDArray[np.int64], /) -> NDArray[np.int64]:
    """Sum each column in row order, raising ColumnOverflowError on the first overflow."""
    rows, columns = matrix.shape
    totals = [0] * columns
    for i in range(rows):
        for j in range(columns):
            total = totals[j] + int(matrix[i, j])
            if not INT64_MIN <= total <= INT64_MAX:
                raise ColumnOverflowError(j)
            totals[j] = total
    return np.array(totals, dtype=np.int64)


def fits(requested: NDArray[np.int64], free: NDArray[np.int64], /) -> int:
    """Return the first column where requested exceeds free, or -1 if all fit."""
    if requested.shape[0] != free.shape[0]:
        raise ValueError(
            f"free: expected {requested.shape[0]} entries (one per entry of "
            f"requested), got {free.shape[0]}"
        )
    for j in range(requested.shape[0]):
        if int(requested[j]) > int(free[j]):
            return j
    return -1
