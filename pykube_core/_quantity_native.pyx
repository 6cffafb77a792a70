"""Native loops for resource accounting over int64 milli-unit matrices.

The public API is pykube_core.resource_sum, which checks dtypes and shapes,
names resources and picks this module or its pure-Python twin
(pykube_core._quantity_py). The loops run without the GIL. An overflow is
reported with the column index only, because resource names stay in Python.
"""

from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t

import numpy

from pykube_core._quantity_py import ColumnOverflowError


cdef inline bint add_overflows(int64_t total, int64_t value) noexcept nogil:
    # Signed overflow is undefined behaviour in C, so test before adding.
    if value > 0:
        return total > INT64_MAX - value
    return total < INT64_MIN - value


cdef Py_ssize_t sum_into(const int64_t[:, ::1] matrix, int64_t[::1] totals) noexcept nogil:
    # Returns -1, or the column of the first overflow in row-major order.
    cdef Py_ssize_t rows = matrix.shape[0]
    cdef Py_ssize_t columns = matrix.shape[1]
    cdef Py_ssize_t i, j
    cdef int64_t value
    for i in range(rows):
        for j in range(columns):
            value = matrix[i, j]
            if add_overflows(totals[j], value):
                return j
            totals[j] += value
    return -1


def column_sums(const int64_t[:, ::1] matrix not None):
    """Sum each column of a C-contiguous int64 (rows x columns) matrix.

    Rows are added in order from row 0. Raises ColumnOverflowError (an
    OverflowError) for the first running sum, in row-major order, that leaves
    the int64 range.
    """
    totals = numpy.zeros(matrix.shape[1], dtype=numpy.int64)
    cdef int64_t[::1] totals_view = totals
    cdef Py_ssize_t column
    with nogil:
        column = sum_into(matrix, totals_view)
    if column >= 0:
        raise ColumnOverflowError(column)
    return totals


cdef Py_ssize_t first_unfit(const int64_t[::1] requested, const int64_t[::1] free) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(requested.shape[0]):
        if requested[j] > free[j]:
            return j
    return -1


def fits(const int64_t[::1] requested not None, const int64_t[::1] free not None):
    """Return the first column where requested exceeds free, or -1 if all fit."""
    if requested.shape[0] != free.shape[0]:
        raise ValueError(
            f"free: expected {requested.shape[0]} entries (one per entry of "
            f"requested), got {free.shape[0]}"
        )
    cdef Py_ssize_t column
    with nogil:
        column = first_unfit(requested, free)
    return column
