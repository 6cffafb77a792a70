"""NodeTable's pod slots: the existing pods that PodTopologySpread and InterPodAffinity read."""

from __future__ import annotations

from pykube_core.scheduler import NodeTable
from pykube_core.scheduler.arrays import PodTermKind
from pykube_core.scheduler.pod_slots import MIN_FREE_POD_SLOTS
from tests.scheduler.builders import ZONE, labeled, make_node, make_pod, pod_affinity, pod_term, selector, table_of


def test_slot_records_node_row() -> None:
    table = table_of(make_node("a"), make_node("b"))
    table.assume_pod(labeled(make_pod("p"), app="web"), "b")
    assert table.arrays().pod_rows.tolist() == [1]


def test_slot_labels_sorted_by_key() -> None:
    table = table_of(make_node("a"))
    table.assume_pod(labeled(make_pod("p"), tier="back", app="web"), "a")
    keys = table.arrays().pod_label_keys.tolist()
    assert keys == sorted(keys)
    assert {table.strings.strings[key] for key in keys} == {"app", "tier"}


def test_slot_namespace_and_terminating() -> None:
    table = table_of(make_node("a"))
    table.assume_pod(labeled(make_pod("p"), namespace="data", terminating=True), "a")
    arrays = table.arrays()
    assert table.strings.strings[int(arrays.pod_namespaces[0])] == "data"
    assert arrays.pod_terminating.tolist() == [1]


def test_removed_pod_frees_slot() -> None:
    table = table_of(make_node("a"))
    pod = make_pod("p")
    table.assume_pod(pod, "a")
    table.remove_pod(pod)
    assert table.arrays().pod_rows.tolist() == [-1]


def test_moved_pod_takes_new_slot() -> None:
    table = table_of(make_node("a"), make_node("b"))
    pod = make_pod("p")
    table.assume_pod(pod, "a")
    table.assume_pod(pod, "b")
    assert table.arrays().pod_rows.tolist() == [-1, 1]


def test_removed_node_moves_pod_rows() -> None:
    table = table_of(make_node("a"), make_node("b"), make_node("c"))
    table.assume_pod(make_pod("on-a"), "a")
    table.assume_pod(make_pod("on-c"), "c")
    table.remove_node("a")
    assert table.arrays().pod_rows.tolist() == [-1, table.row_of("c")]


def test_free_slots_compacted() -> None:
    table = table_of(make_node("a"))
    pods = [make_pod(f"p{i}") for i in range(MIN_FREE_POD_SLOTS + 2)]
    for pod in pods:
        table.assume_pod(pod, "a")
    for pod in pods[:-1]:
        table.remove_pod(pod)
    assert table.arrays().pod_rows.tolist() == [0]


def test_slot_terms_owned_by_pod() -> None:
    table = table_of(make_node("a", labels={ZONE: "z"}))
    table.assume_pod(make_pod("plain"), "a")
    affinity = pod_affinity(anti_required=[pod_term(selector(app="web"), ZONE)], preferred=[(7, pod_term({}, ZONE))])
    table.assume_pod(make_pod("with-terms", affinity=affinity), "a")
    terms = table.arrays().pod_terms
    assert terms.owners.tolist() == [1, 1]
    assert terms.kinds.tolist() == [PodTermKind.REQUIRED_ANTI_AFFINITY, PodTermKind.PREFERRED_AFFINITY]
    assert terms.weights.tolist() == [0, 7]


def test_namespace_resolver_called_for_selector() -> None:
    seen = []

    def resolve(namespace_selector: object) -> list[str]:
        seen.append(namespace_selector)
        return ["data"]

    table = NodeTable(namespace_resolver=resolve)
    table.add_node(make_node("a"))
    term = pod_term(selector(app="db"), ZONE, namespaceSelector=selector(team="x"))
    table.assume_pod(make_pod("p", affinity=pod_affinity(required=[term])), "a")
    assert seen == [selector(team="x")]
