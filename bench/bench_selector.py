"""Label-selector matching over 100,000 objects: native kernel against pure Python.

Run with `python -m bench.run bench/bench_selector.py`, which also records the
figures in docs/benchmarks.md. The labels mimic a cluster's pods:
50 apps, 3 tiers, 3 environments, a canary label on every tenth pod, and a
template hash unique to each group of ten pods, so the table interns about
10,000 distinct values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from pykube_core import _selector_py
from pykube_core.labels import Operator, Requirement, Selector
from pykube_core.selector_index import LabelTable, MatchKernel

OBJECT_COUNT = 100_000


def object_labels(index: int) -> dict[str, str]:
    labels = {
        "app": f"app-{index % 50}",
        "tier": ("frontend", "backend", "cache")[index % 3],
        "env": ("prod", "staging", "dev")[index % 7 % 3],
        "pod-template-hash": f"{index // 10:08x}",
    }
    if index % 10 == 0:
        labels["canary"] = "true"
    return labels


SELECTOR = Selector(
    requirements=(
        Requirement("app", Operator.EQUALS, ("app-7",)),
        Requirement("tier", Operator.IN, ("backend", "frontend")),
        Requirement("canary", Operator.DOES_NOT_EXIST, ()),
    )
)


@pytest.fixture(scope="module")
def labels() -> list[dict[str, str]]:
    return [object_labels(index) for index in range(OBJECT_COUNT)]


def load_kernel(implementation: str) -> MatchKernel:
    if implementation == "py":
        return _selector_py.match_rows
    native = pytest.importorskip("pykube_core._selector_native")
    match_rows: MatchKernel = native.match_rows
    return match_rows


# The pure-Python variant runs first, so the runner's "ratio to first"
# column is native time over pure-Python time.
@pytest.mark.benchmark(group="selector match 100k objects")
@pytest.mark.parametrize("implementation", ["py", "native"])
def bench_match(benchmark: Any, labels: list[dict[str, str]], implementation: str) -> None:
    table = LabelTable.from_labels(labels, kernel=load_kernel(implementation))
    benchmark.extra_info["ops"] = 1

    result: NDArray[np.bool_] = benchmark(table.match, SELECTOR)

    assert int(result.sum()) == sum(
        1
        for item in labels
        if item["app"] == "app-7" and item["tier"] != "cache" and "canary" not in item
    )
