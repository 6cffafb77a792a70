"""Type stubs for the pybind11 module built from csrc/watchhub/."""

import numpy as np
from numpy.typing import NDArray

class Hub:
    def __init__(self, field_count: int, index_field: int) -> None: ...
    @property
    def field_count(self) -> int: ...
    @property
    def index_field(self) -> int: ...
    def add_watcher(
        self,
        namespace_id: int,
        matches_nothing: bool,
        ops: NDArray[np.int8],
        key_ids: NDArray[np.int32],
        value_offsets: NDArray[np.int64],
        value_ids: NDArray[np.int32],
        field_columns: NDArray[np.int32],
        field_ops: NDArray[np.int8],
        field_value_ids: NDArray[np.int32],
        capacity: int,
    ) -> int: ...
    def remove_watcher(
        self, watcher_id: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int8], int | None] | None: ...
    def publish(
        self,
        slot: int,
        event_type: int,
        namespace_id: int,
        key_ids: NDArray[np.int32],
        value_ids: NDArray[np.int32],
        field_values: NDArray[np.int32],
        old_namespace_id: int,
        old_key_ids: NDArray[np.int32],
        old_value_ids: NDArray[np.int32],
        old_field_values: NDArray[np.int32],
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]: ...
    def drain(self, watcher_id: int) -> tuple[NDArray[np.int64], NDArray[np.int8], int | None]: ...
    def pending(self, watcher_id: int) -> int: ...
    def footprint_bytes(self) -> int: ...
    def __len__(self) -> int: ...
