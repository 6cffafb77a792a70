"""Type stubs for the pybind11 module built from csrc/selector/."""

import numpy as np
from numpy.typing import NDArray

def match_rows(
    offsets: NDArray[np.int64],
    key_ids: NDArray[np.int32],
    value_ids: NDArray[np.int32],
    ops: NDArray[np.int8],
    requirement_key_ids: NDArray[np.int32],
    value_offsets: NDArray[np.int64],
    requirement_value_ids: NDArray[np.int32],
    /,
) -> NDArray[np.bool_]: ...
