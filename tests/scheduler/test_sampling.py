"""percentageOfNodesToScore: the cut-off formula and the rotating search order."""

from __future__ import annotations

import numpy as np
import pytest

from pykube_core.scheduler import Profile, Scheduler
from pykube_core.scheduler.sampling import nodes_to_find, sample_feasible
from tests.scheduler.builders import make_node, make_pod, table_of


@pytest.mark.parametrize(
    ("percentage", "node_count", "expected"),
    [
        pytest.param(None, 5000, 5000, id="unset scores every node"),
        pytest.param(0, 99, 99, id="small cluster searched whole"),
        pytest.param(0, 500, 230, id="adaptive 46 percent at 500"),
        pytest.param(0, 5000, 500, id="adaptive 10 percent at 5000"),
        pytest.param(0, 10000, 500, id="adaptive floor of 5 percent"),
        pytest.param(10, 500, 100, id="fixed percentage floored at 100 nodes"),
        pytest.param(100, 5000, 5000, id="hundred percent"),
    ],
)
def test_nodes_to_find(percentage: int | None, node_count: int, expected: int) -> None:
    assert nodes_to_find(percentage, node_count) == expected


@pytest.mark.parametrize(
    ("start", "limit", "rows", "processed"),
    [
        pytest.param(0, 10, [0, 2, 3, 5], 6, id="fewer feasible than the limit"),
        pytest.param(3, 2, [3, 5], 3, id="stops at the cut-off"),
        pytest.param(5, 2, [5, 0], 2, id="wraps around"),
    ],
)
def test_sample_feasible(start: int, limit: int, rows: list[int], processed: int) -> None:
    status = np.array([0, 1, 0, 0, 1, 0], dtype=np.int8)
    found, examined = sample_feasible(status, start, limit)
    assert found.tolist() == rows
    assert examined == processed


def test_percentage_rotates_start() -> None:
    table = table_of(*[make_node(f"n{i:03d}") for i in range(200)])
    scheduler = Scheduler(table, profile=Profile(percentage_of_nodes_to_score=10))
    first = scheduler.schedule(make_pod("a", cpu="100m"))
    second = scheduler.schedule(make_pod("b", cpu="100m"))
    assert len(first.candidates) == 100
    assert first.candidates[0] == "n000"
    assert second.candidates[0] == "n100"


def test_percentage_out_of_range() -> None:
    with pytest.raises(ValueError, match="percentage_of_nodes_to_score: 101"):
        Profile(percentage_of_nodes_to_score=101)
