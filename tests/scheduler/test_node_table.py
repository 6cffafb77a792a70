"""NodeTable: building from Node and Pod JSON and incremental updates."""

from __future__ import annotations

import numpy as np
import pytest

from pykube_core.scheduler import NodeTable
from tests.scheduler.builders import container, host_port, make_node, make_pod, table_of, taint


def test_table_columns_in_fixed_order() -> None:
    table = table_of(make_node("n", extra={"example.com/gpu": "2"}))
    assert table.resources == ("cpu", "memory", "ephemeral-storage", "pods", "example.com/gpu")


def test_table_allocatable_units() -> None:
    table = table_of(make_node("n", cpu="1500m", memory="1Gi", pods="30"))
    assert table.allocatable("n") == {"cpu": 1500, "memory": 2**30, "ephemeral-storage": 0, "pods": 30}


def test_assume_adds_requests() -> None:
    table = table_of(make_node("n"))
    table.assume_pod(make_pod("a", cpu="250m", memory="1Gi"), "n")
    table.assume_pod(make_pod("b", cpu="500m"), "n")
    assert table.requested("n") == {"cpu": 750, "memory": 2**30, "ephemeral-storage": 0, "pods": 2}


def test_assume_tracks_nonzero_requests() -> None:
    table = table_of(make_node("n"))
    table.assume_pod(make_pod("a"), "n")
    assert table.arrays().nonzero_requested.tolist() == [[100, 200 * 2**20]]


def test_forget_subtracts_requests() -> None:
    table = table_of(make_node("n"))
    pod = make_pod("a", cpu="250m")
    table.assume_pod(pod, "n")
    table.forget_pod(pod)
    assert table.requested("n")["cpu"] == 0
    assert table.pod_count("n") == 0


def test_forget_unknown_pod_raises() -> None:
    with pytest.raises(KeyError, match="pod default/ghost is not assumed"):
        table_of(make_node("n")).forget_pod(make_pod("ghost"))


def test_remove_unknown_pod_ignored() -> None:
    table = table_of(make_node("n"))
    table.remove_pod(make_pod("ghost"))
    assert table.pod_count("n") == 0


def test_assume_again_moves_pod() -> None:
    table = table_of(make_node("a"), make_node("b"))
    pod = make_pod("p", cpu="1")
    table.assume_pod(pod, "a")
    table.assume_pod(pod, "b")
    assert table.requested("a")["cpu"] == 0
    assert table.requested("b")["cpu"] == 1000


def test_add_pod_uses_node_name() -> None:
    table = table_of(make_node("a"))
    table.add_pod(make_pod("p", cpu="1", nodeName="a"))
    assert table.pod_node(make_pod("p")) == "a"


def test_add_pod_without_node_name() -> None:
    with pytest.raises(ValueError, match="spec.nodeName is empty"):
        table_of(make_node("a")).add_pod(make_pod("p"))


def test_assume_on_unknown_node() -> None:
    with pytest.raises(KeyError, match="node 'ghost' is not in the node table"):
        table_of(make_node("a")).assume_pod(make_pod("p"), "ghost")


def test_update_node_keeps_pods() -> None:
    table = table_of(make_node("n", cpu="2"))
    table.assume_pod(make_pod("p", cpu="1"), "n")
    table.update_node(make_node("n", cpu="8", labels={"zone": "a"}))
    assert table.allocatable("n")["cpu"] == 8000
    assert table.requested("n")["cpu"] == 1000


def test_remove_node_moves_last_row() -> None:
    table = table_of(make_node("a"), make_node("b", cpu="2"), make_node("c", cpu="3"))
    table.remove_node("a")
    assert table.names() == ("c", "b")
    assert table.arrays().allocatable[:, 0].tolist() == [3000, 2000]


def test_remove_node_drops_its_pods() -> None:
    table = table_of(make_node("a"), make_node("b"))
    table.assume_pod(make_pod("p"), "a")
    table.remove_node("a")
    assert table.pod_node(make_pod("p")) is None


def test_labels_csr_sorted_by_key() -> None:
    table = table_of(make_node("a", labels={"z": "1", "a": "2"}), make_node("b"))
    arrays = table.arrays()
    keys = arrays.label_keys.tolist()
    assert arrays.label_offsets.tolist() == [0, 2, 2]
    assert keys == sorted(keys)


def test_host_ports_tracked() -> None:
    table = table_of(make_node("a"))
    table.assume_pod(make_pod("p", containers=[container(ports=[host_port(80), host_port(53, protocol="UDP")])]), "a")
    arrays = table.arrays()
    assert sorted(arrays.port_numbers.tolist()) == [53, 80]
    assert arrays.port_ips.tolist() == [-1, -1]


def test_image_node_counts() -> None:
    table = table_of(
        make_node("a", images=[(["nginx:latest", "nginx@sha256:1"], 10)]),
        make_node("b", images=[(["nginx:latest"], 10)]),
    )
    counts = table.arrays().image_node_counts
    assert counts[table.strings.lookup("nginx:latest")] == 2
    assert counts[table.strings.lookup("nginx@sha256:1")] == 1


def test_taint_text_by_index() -> None:
    table = table_of(make_node("a", taints=[taint("x")]), make_node("b", taints=[taint("k", "v", "NoExecute")]))
    assert table.taint_text(1, 1) == ("k", "v", "NoExecute")


def test_integer_label_values() -> None:
    table = table_of(make_node("a", labels={"cores": "+16", "name": "x16"}))
    arrays = table.arrays()
    assert arrays.string_numbers[table.strings.lookup("+16")] == 16
    assert arrays.string_is_number[table.strings.lookup("x16")] == 0


def test_table_grows_past_capacity() -> None:
    table = NodeTable()
    for index in range(200):
        table.add_node(make_node(f"n{index}"))
    assert len(table) == 200
    assert np.all(table.arrays().allocatable[:, 0] == 4000)


def test_invalid_allocatable() -> None:
    with pytest.raises(ValueError, match=r"node n status.allocatable\['cpu'\]: invalid quantity 'four'"):
        table_of(make_node("n", cpu="four"))


def test_node_added_after_read_gets_every_row() -> None:
    table = table_of(make_node("a"))
    table.assume_pod(make_pod("p", containers=[container(ports=[host_port(80)])]), "a")
    table.arrays()
    table.add_node(make_node("b"))
    arrays = table.arrays()
    assert len(arrays.port_offsets) == 3
    assert len(arrays.label_offsets) == 3
    assert len(arrays.taint_offsets) == 3
