"""The "0/N nodes are available" summary message."""

from __future__ import annotations

import pytest

from pykube_core.scheduler import summarize

SUMMARY_CASES = [
    pytest.param(0, [], "no nodes available to schedule pods", id="no nodes"),
    pytest.param(1, [["Insufficient cpu"]], "0/1 nodes are available: 1 Insufficient cpu.", id="one reason"),
    pytest.param(
        3,
        [["Insufficient cpu", "Insufficient memory"], ["Insufficient cpu"], ["node(s) were unschedulable"]],
        "0/3 nodes are available: 1 Insufficient memory, 1 node(s) were unschedulable, 2 Insufficient cpu.",
        id="counts then sorted as strings",
    ),
    pytest.param(
        12,
        [["Too many pods"]] * 2 + [["Insufficient cpu"]] * 10,
        "0/12 nodes are available: 10 Insufficient cpu, 2 Too many pods.",
        id="ten sorts before two",
    ),
    pytest.param(2, [], "0/2 nodes are available:", id="no reasons"),
]


@pytest.mark.parametrize(("node_count", "reasons", "expected"), SUMMARY_CASES)
def test_summarize(node_count: int, reasons: list[list[str]], expected: str) -> None:
    assert summarize(node_count, reasons) == expected
