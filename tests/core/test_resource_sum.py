"""ResourceSums against both quantity kernels, with Python integers as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from pykube_core.resource_sum import (
    PURE_PYTHON_KERNEL,
    ColumnOverflowError,
    QuantityKernel,
    ResourceSums,
    native_quantity_kernel,
)

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min
RESOURCES = ("cpu", "memory", "pods")


@pytest.fixture(params=["py", "native"], scope="module")
def kernel(request: pytest.FixtureRequest) -> QuantityKernel:
    if request.param == "py":
        return PURE_PYTHON_KERNEL
    pytest.importorskip(
        "pykube_core._quantity_native", reason="build it: python setup.py build_ext --inplace"
    )
    return native_quantity_kernel()


def matrix(rows: list[list[int]], columns: int = len(RESOURCES)) -> NDArray[np.int64]:
    return np.array(rows, dtype=np.int64).reshape(len(rows), columns)


def row(*values: int) -> NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([], [0, 0, 0], id="no rows"),
        pytest.param([[100, 2**30, 1]], [100, 2**30, 1], id="one row"),
        pytest.param([[100, 1, 1], [250, 2, 1], [0, 3, 1]], [350, 6, 3], id="three rows"),
        pytest.param([[INT64_MAX, 0, 0], [0, 0, 0]], [INT64_MAX, 0, 0], id="exactly int64 max"),
        pytest.param([[INT64_MIN, 0, 0]], [INT64_MIN, 0, 0], id="exactly int64 min"),
        pytest.param([[-5, 0, 0], [7, 0, 0]], [2, 0, 0], id="negative entry"),
    ],
)
def test_column_sums_table(kernel: QuantityKernel, rows: list[list[int]], expected: list[int]) -> None:
    sums = ResourceSums(RESOURCES, kernel=kernel)

    result = sums.column_sums(matrix(rows))

    assert result.dtype == np.int64
    assert result.tolist() == expected


@pytest.mark.parametrize(
    ("rows", "resource"),
    [
        pytest.param([[0, INT64_MAX, 0], [0, 1, 0]], "memory", id="memory past max"),
        pytest.param([[0, 0, INT64_MIN], [0, 0, -1]], "pods", id="pods past min"),
        pytest.param([[INT64_MAX, INT64_MAX, 0], [1, 1, 0]], "cpu", id="first column in row order"),
    ],
)
def test_column_sums_overflow(kernel: QuantityKernel, rows: list[list[int]], resource: str) -> None:
    sums = ResourceSums(RESOURCES, kernel=kernel)

    with pytest.raises(OverflowError, match=f"sum of resource '{resource}'"):
        sums.column_sums(matrix(rows))


def test_kernel_overflow_names_column(kernel: QuantityKernel) -> None:
    with pytest.raises(ColumnOverflowError, match="sum of column 1") as caught:
        kernel.column_sums(matrix([[0, INT64_MAX, 0], [0, 1, 0]]))

    assert caught.value.column == 1


def test_column_sums_non_contiguous(kernel: QuantityKernel) -> None:
    sums = ResourceSums(RESOURCES, kernel=kernel)
    wide = np.arange(12, dtype=np.int64).reshape(2, 6)

    assert sums.column_sums(wide[:, ::2]).tolist() == [6, 10, 14]


@pytest.mark.parametrize(
    ("requested", "free", "expected"),
    [
        pytest.param(row(100, 10, 1), row(200, 20, 2), None, id="all fit"),
        pytest.param(row(200, 20, 2), row(200, 20, 2), None, id="equal fits"),
        pytest.param(row(100, 30, 1), row(200, 20, 2), "memory", id="memory short"),
        pytest.param(row(300, 30, 3), row(200, 20, 2), "cpu", id="first short resource"),
        pytest.param(row(0, 0, 1), row(0, 0, 0), "pods", id="last column"),
        pytest.param(row(0, 0, 0), row(-1, 0, 0), "cpu", id="negative free"),
    ],
)
def test_first_unfit_table(
    kernel: QuantityKernel,
    requested: NDArray[np.int64],
    free: NDArray[np.int64],
    expected: str | None,
) -> None:
    sums = ResourceSums(RESOURCES, kernel=kernel)

    assert sums.first_unfit(requested, free) == expected


def test_kernel_fits_length_mismatch(kernel: QuantityKernel) -> None:
    with pytest.raises(ValueError, match="free: expected 3 entries"):
        kernel.fits(row(1, 2, 3), row(1, 2))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        pytest.param(np.zeros((2, 3), dtype=np.float64), "matrix: expected dtype int64", id="float matrix"),
        pytest.param(np.zeros((2, 3), dtype=np.int32), "matrix: expected dtype int64", id="int32 matrix"),
        pytest.param(np.zeros((2, 2), dtype=np.int64), r"matrix: expected shape \(rows, 3\)", id="too few columns"),
        pytest.param(np.zeros(3, dtype=np.int64), r"matrix: expected shape \(rows, 3\)", id="1-D matrix"),
    ],
)
def test_column_sums_bad_matrix(kernel: QuantityKernel, bad: NDArray[np.int64], message: str) -> None:
    sums = ResourceSums(RESOURCES, kernel=kernel)

    with pytest.raises(ValueError, match=message):
        sums.column_sums(bad)


@pytest.mark.parametrize(
    ("requested", "free", "message"),
    [
        pytest.param(row(1, 2), row(1, 2, 3), r"requested: expected shape \(3,\)", id="short request"),
        pytest.param(row(1, 2, 3), np.zeros((1, 3), dtype=np.int64), r"free: expected shape \(3,\)", id="2-D free"),
        pytest.param(row(1, 2, 3), np.zeros(3, dtype=np.uint64), "free: expected dtype int64", id="unsigned free"),
    ],
)
def test_first_unfit_bad_row(
    kernel: QuantityKernel,
    requested: NDArray[np.int64],
    free: NDArray[np.int64],
    message: str,
) -> None:
    sums = ResourceSums(RESOURCES, kernel=kernel)

    with pytest.raises(ValueError, match=message):
        sums.first_unfit(requested, free)


def test_resources_must_be_unique() -> None:
    with pytest.raises(ValueError, match="names must be unique"):
        ResourceSums(["cpu", "cpu"], kernel=PURE_PYTHON_KERNEL)


# --- properties: native loops, twin and exact integers agree ----------------

# Values near both limits make overflows common; small ones keep most sums valid.
int64_values = st.one_of(
    st.integers(-1000, 1000),
    st.integers(INT64_MAX - 1000, INT64_MAX),
    st.integers(INT64_MIN, INT64_MIN + 1000),
    st.integers(INT64_MIN, INT64_MAX),
)
matrices = hnp.arrays(
    np.int64,
    st.tuples(st.integers(0, 8), st.integers(1, 4)),
    elements=int64_values,
)


def exact_column_sums(values: NDArray[np.int64]) -> list[int] | int:
    """Return the column sums, or the column of the first overflow in row-major order."""
    totals = [0] * values.shape[1]
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            totals[j] += int(values[i, j])
            if not INT64_MIN <= totals[j] <= INT64_MAX:
                return j
    return totals


def run_column_sums(kernel: QuantityKernel, values: NDArray[np.int64]) -> list[int] | int:
    try:
        return list(kernel.column_sums(values).tolist())
    except ColumnOverflowError as error:
        return error.column


@settings(max_examples=300, deadline=None)
@given(values=matrices)
def test_column_sums_agree_with_integers(kernel: QuantityKernel, values: NDArray[np.int64]) -> None:
    assert run_column_sums(kernel, values) == exact_column_sums(values)


@settings(max_examples=300, deadline=None)
@given(
    pair=st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.int64, n, elements=int64_values),
            hnp.arrays(np.int64, n, elements=int64_values),
        )
    )
)
def test_fits_finds_first_exceeding_column(kernel: QuantityKernel, pair: tuple[NDArray[np.int64], NDArray[np.int64]]) -> None:
    requested, free = pair
    expected = next((j for j in range(len(requested)) if requested[j] > free[j]), -1)

    assert kernel.fits(requested, free) == expected
