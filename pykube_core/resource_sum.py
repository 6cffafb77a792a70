"""Resource accounting over dense int64 matrices of milli-units.

The scheduler and quota controllers add up requests of many pods, one column
per resource in a fixed order (for example cpu, memory, pods). Quantities are
stored as int64 milli-units, so a sum can overflow. This module detects that
and names the resource, where numpy's sum would silently wrap around.

Policy stays here: dtype and shape checks, resource names in errors, and the
choice of kernel. The loops are in pykube_core._quantity_native (Cython,
without the GIL) and its pure-Python twin pykube_core._quantity_py.
PYKUBE_PURE_PYTHON=1 or a missing native build selects the twin, and tests
pass a kernel explicitly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from pykube_core import _quantity_py
from pykube_core._quantity_py import ColumnOverflowError

logger = logging.getLogger("pykube.core.resources")

__all__ = [
    "PURE_PYTHON_KERNEL",
    "ColumnOverflowError",
    "QuantityKernel",
    "ResourceSums",
    "default_quantity_kernel",
    "native_quantity_kernel",
]


class _ColumnSums(Protocol):
    def __call__(self, matrix: NDArray[np.int64], /) -> NDArray[np.int64]: ...


class _Fits(Protocol):
    def __call__(self, requested: NDArray[np.int64], free: NDArray[np.int64], /) -> int: ...


@dataclass(frozen=True)
class QuantityKernel:
    """The loop implementations: _quantity_native's or _quantity_py's."""

    column_sums: _ColumnSums
    fits: _Fits


PURE_PYTHON_KERNEL = QuantityKernel(column_sums=_quantity_py.column_sums, fits=_quantity_py.fits)


def native_quantity_kernel() -> QuantityKernel:
    """Return the Cython loops; raises ImportError when they are not built."""
    from pykube_core import _quantity_native

    return QuantityKernel(column_sums=_quantity_native.column_sums, fits=_quantity_native.fits)


def default_quantity_kernel() -> QuantityKernel:
    """Return the native loops, or the pure-Python twin when forced or not built."""
    if os.environ.get("PYKUBE_PURE_PYTHON") == "1":
        return PURE_PYTHON_KERNEL
    try:
        return native_quantity_kernel()
    except ImportError as error:
        logger.warning(
            "native quantity kernel unavailable, using pure Python: error=%s "
            "hint='python setup.py build_ext --inplace'",
            error,
        )
        return PURE_PYTHON_KERNEL


class ResourceSums:
    """Column sums and fit checks for one fixed order of resource names."""

    def __init__(self, resources: Sequence[str], *, kernel: QuantityKernel | None = None) -> None:
        if len(set(resources)) != len(resources):
            raise ValueError(f"resources: names must be unique, got {list(resources)!r}")
        self.resources = tuple(resources)
        self._kernel = kernel if kernel is not None else default_quantity_kernel()

    def column_sums(self, matrix: NDArray[np.int64]) -> NDArray[np.int64]:
        """Sum a (rows x resources) int64 matrix per resource, in milli-units.

        Raises OverflowError naming the resource when a running sum, adding
        rows in order, leaves the int64 range. With non-negative entries, as
        requests are, that is exactly when the total does.
        """
        checked = self._checked_matrix(matrix)
        try:
            return self._kernel.column_sums(checked)
        except ColumnOverflowError as error:
            name = self.resources[error.column]
            raise OverflowError(
                f"sum of resource {name!r} (column {error.column}) exceeds the int64 "
                "range of milli-units; split the rows into smaller groups or check "
                "them for bogus quantities"
            ) from error

    def first_unfit(self, requested: NDArray[np.int64], free: NDArray[np.int64]) -> str | None:
        """Return the first resource whose request exceeds what is free, or None if all fit."""
        column = self._kernel.fits(
            self._checked_row(requested, "requested"), self._checked_row(free, "free")
        )
        if column < 0:
            return None
        return self.resources[column]

    def _checked_matrix(self, matrix: NDArray[np.int64]) -> NDArray[np.int64]:
        _check_dtype(matrix, "matrix")
        if matrix.ndim != 2 or matrix.shape[1] != len(self.resources):
            raise ValueError(
                f"matrix: expected shape (rows, {len(self.resources)}) with one column "
                f"per resource {list(self.resources)!r}, got {matrix.shape}"
            )
        return np.ascontiguousarray(matrix)

    def _checked_row(self, row: NDArray[np.int64], name: str) -> NDArray[np.int64]:
        _check_dtype(row, name)
        if row.shape != (len(self.resources),):
            raise ValueError(
                f"{name}: expected shape ({len(self.resources)},) with one entry per "
                f"resource {list(self.resources)!r}, got {row.shape}"
            )
        return np.ascontiguousarray(row)


def _check_dtype(array: NDArray[np.int64], name: str) -> None:
    if array.dtype != np.int64:
        raise ValueError(
            f"{name}: expected dtype int64 (milli-units), got {array.dtype}; "
            "convert quantities to integer milli-units first"
        )
