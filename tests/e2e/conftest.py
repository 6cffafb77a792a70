"""One real cluster shared by the end-to-end tests of a module, torn down even when a test fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Cluster, missing


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    cluster = Cluster()
    try:
        cluster.create_network()
        cluster.build_image()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
