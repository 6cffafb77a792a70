"""Type stubs for the Cython module built from _quantity_native.pyx."""

import numpy as np
from numpy.typing import NDArray

def column_sums(matrix: NDArray[np.int64], /) -> NDArray[np.int64]: ...
def fits(requested: NDArray[np.int64], free: NDArray[np.int64], /) -> int: ...
