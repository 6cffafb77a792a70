"""WatchHub against both hub kernels, with Selector.matches and FieldSelector.matches as the oracle."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykube_core import _watchhub_py
from pykube_core.fields import FieldRequirement, FieldSelector, parse_field_selector
from pykube_core.labels import Operator, Requirement, Selector, parse_selector
from pykube_core.watch_hub import (
    HubFactory,
    ObjectState,
    WatcherId,
    WatchEventType,
    WatchHub,
    default_hub_factory,
)

POD_FIELDS = ("metadata.name", "metadata.namespace", "spec.nodeName", "status.phase")

ADDED = WatchEventType.ADDED
MODIFIED = WatchEventType.MODIFIED
DELETED = WatchEventType.DELETED


def native_factory() -> HubFactory:
    native = pytest.importorskip(
        "pykube_core._watchhub_native", reason="build it: python setup.py build_ext --inplace"
    )
    factory: HubFactory = native.Hub
    return factory


@pytest.fixture(params=["py", "native"], scope="module")
def kernel(request: pytest.FixtureRequest) -> HubFactory:
    if request.param == "py":
        return _watchhub_py.Hub
    return native_factory()


def make_hub(kernel: HubFactory) -> WatchHub[str]:
    return WatchHub(POD_FIELDS, index_field="spec.nodeName", kernel=kernel)


def pod(
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    node: str = "",
    name: str = "web-1",
    phase: str = "Pending",
) -> ObjectState:
    fields = {"metadata.name": name, "metadata.namespace": namespace, "spec.nodeName": node, "status.phase": phase}
    return ObjectState(namespace, dict(labels or {}), fields)


def watch(
    hub: WatchHub[str],
    namespace: str | None = None,
    labels: str = "",
    fields: str = "",
    capacity: int = 100,
) -> WatcherId:
    return hub.add_watcher(
        namespace=namespace,
        labels=parse_selector(labels),
        fields=parse_field_selector(fields, POD_FIELDS),
        capacity=capacity,
    )


def received(hub: WatchHub[str], watcher: WatcherId) -> list[tuple[str, str]]:
    return [(payload, event_type.name) for payload, event_type in hub.drain(watcher).deliveries()]


# --- filters -------------------------------------------------------------------

NAMESPACE_CASES = [
    pytest.param(None, "default", True, id="all namespaces"),
    pytest.param("default", "default", True, id="same namespace"),
    pytest.param("default", "kube-system", False, id="other namespace"),
    pytest.param("default", "", False, id="cluster-scoped object"),
    pytest.param("", "", True, id="empty namespace matches cluster-scoped"),
]


@pytest.mark.parametrize(("namespace", "object_namespace", "expected"), NAMESPACE_CASES)
def test_namespace_filter(kernel: HubFactory, namespace: str | None, object_namespace: str, expected: bool) -> None:
    hub = make_hub(kernel)
    watcher = watch(hub, namespace=namespace)

    hub.publish(1, "pod", ADDED, pod(namespace=object_namespace))

    assert received(hub, watcher) == ([("pod", "ADDED")] if expected else [])


LABEL_CASES = [
    pytest.param("", {"app": "web"}, True, id="empty selector"),
    pytest.param("app=web", {"app": "web"}, True, id="equals"),
    pytest.param("app==web", {"app": "web"}, True, id="double equals"),
    pytest.param("app=web", {"app": "db"}, False, id="equals other value"),
    pytest.param("app=web", {}, False, id="equals missing key"),
    pytest.param("app!=web", {}, True, id="not equals missing key"),
    pytest.param("app!=web", {"app": "web"}, False, id="not equals same value"),
    pytest.param("app!=web", {"app": "cache"}, True, id="not equals unnamed value"),
    pytest.param("app in (web,db)", {"app": "db"}, True, id="in"),
    pytest.param("app notin (web,db)", {"app": "db"}, False, id="notin"),
    pytest.param("app notin (web,db)", {"tier": "x"}, True, id="notin missing key"),
    pytest.param("app", {"app": ""}, True, id="exists with empty value"),
    pytest.param("!app", {"app": "web"}, False, id="does not exist"),
    pytest.param("!app", {"tier": "web"}, True, id="does not exist other key"),
    pytest.param("app=", {"app": ""}, True, id="equals empty value"),
    pytest.param("app=web,tier=db", {"app": "web", "tier": "db", "env": "x"}, True, id="and of two"),
    pytest.param("app=web,tier=db", {"app": "web", "tier": "fe"}, False, id="and fails second"),
    pytest.param("tier=web", {"app": "web"}, False, id="value of another key"),
]


@pytest.mark.parametrize(("selector", "labels", "expected"), LABEL_CASES)
def test_label_filter(kernel: HubFactory, selector: str, labels: dict[str, str], expected: bool) -> None:
    hub = make_hub(kernel)
    watcher = watch(hub, labels=selector)

    hub.publish(1, "pod", ADDED, pod(labels=labels))

    assert received(hub, watcher) == ([("pod", "ADDED")] if expected else [])


def test_label_nothing_selector(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    watcher = hub.add_watcher(namespace=None, labels=Selector.nothing(), fields=FieldSelector(), capacity=10)

    hub.publish(1, "pod", ADDED, pod(labels={"app": "web"}))

    assert received(hub, watcher) == []


FIELD_CASES = [
    pytest.param("metadata.name=web-1", pod(name="web-1"), True, id="name equals"),
    pytest.param("metadata.name=web-2", pod(name="web-1"), False, id="name differs"),
    pytest.param("status.phase!=Failed", pod(phase="Running"), True, id="not equals"),
    pytest.param("status.phase!=Running", pod(phase="Running"), False, id="not equals same"),
    pytest.param("spec.nodeName=", pod(node=""), True, id="unscheduled pods"),
    pytest.param("spec.nodeName!=", pod(node="n1"), True, id="scheduled pods"),
    pytest.param("spec.nodeName=n1", pod(node="n1"), True, id="node equals"),
    pytest.param("spec.nodeName=n1", pod(node="n2"), False, id="node differs"),
    pytest.param("spec.nodeName=n1,status.phase=Running", pod(node="n1", phase="Pending"), False, id="node and phase"),
    pytest.param("spec.nodeName=n1,spec.nodeName!=n1", pod(node="n1"), False, id="contradiction"),
    pytest.param("metadata.namespace=default", pod(namespace="default"), True, id="namespace field"),
]


@pytest.mark.parametrize(("selector", "state", "expected"), FIELD_CASES)
def test_field_filter(kernel: HubFactory, selector: str, state: ObjectState, expected: bool) -> None:
    hub = make_hub(kernel)
    watcher = watch(hub, fields=selector)

    hub.publish(1, "pod", ADDED, state)

    assert received(hub, watcher) == ([("pod", "ADDED")] if expected else [])


def test_field_missing_counts_as_empty(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    unscheduled = watch(hub, fields="spec.nodeName=")
    scheduled = watch(hub, fields="spec.nodeName!=")

    hub.publish(1, "pod", ADDED, ObjectState("default", {}, {"metadata.name": "web-1"}))

    assert received(hub, unscheduled) == [("pod", "ADDED")]
    assert received(hub, scheduled) == []


# --- transitions -----------------------------------------------------------------

TRANSITION_CASES = [
    pytest.param({"app": "web"}, {"app": "web", "v": "2"}, "MODIFIED", id="matches both"),
    pytest.param({"app": "db"}, {"app": "web"}, "ADDED", id="moves in"),
    pytest.param({"app": "web"}, {"app": "db"}, "DELETED", id="moves out"),
    pytest.param({"app": "db"}, {"app": "cache"}, None, id="matches neither"),
]


@pytest.mark.parametrize(("old_labels", "new_labels", "expected"), TRANSITION_CASES)
def test_modified_transition(
    kernel: HubFactory, old_labels: dict[str, str], new_labels: dict[str, str], expected: str | None
) -> None:
    hub = make_hub(kernel)
    watcher = watch(hub, labels="app=web")
    everything = watch(hub)

    hub.publish(7, "update", MODIFIED, pod(labels=new_labels), pod(labels=old_labels))

    assert received(hub, watcher) == ([("update", expected)] if expected else [])
    assert received(hub, everything) == [("update", "MODIFIED")]


@pytest.mark.parametrize("event_type", [ADDED, DELETED])
def test_added_deleted_ignore_old(kernel: HubFactory, event_type: WatchEventType) -> None:
    hub = make_hub(kernel)
    watcher = watch(hub, labels="app=web")

    hub.publish(1, "event", event_type, pod(labels={"app": "web"}), pod(labels={"app": "db"}))

    assert received(hub, watcher) == [("event", event_type.name)]


def test_modified_without_old_is_unchanged(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    watcher = watch(hub, labels="app=web")

    hub.publish(1, "update", MODIFIED, pod(labels={"app": "web"}))

    assert received(hub, watcher) == [("update", "MODIFIED")]


def test_namespace_change_visits_both(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    before = watch(hub, namespace="a")
    after = watch(hub, namespace="b")

    hub.publish(1, "move", MODIFIED, pod(namespace="b"), pod(namespace="a"))

    assert received(hub, before) == [("move", "DELETED")]
    assert received(hub, after) == [("move", "ADDED")]


# --- the node index --------------------------------------------------------------


def test_node_watcher_gets_only_its_pods(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    agents = {node: watch(hub, fields=f"spec.nodeName={node}") for node in ("n1", "n2", "n3")}

    woken = [hub.publish(slot, f"pod-{node}", ADDED, pod(node=node)).tolist() for slot, node in enumerate(["n1", "n2", "n1", "n4", ""], 1)]

    assert woken == [[agents["n1"]], [agents["n2"]], [agents["n1"]], [], []]
    assert received(hub, agents["n1"]) == [("pod-n1", "ADDED"), ("pod-n1", "ADDED")]
    assert received(hub, agents["n2"]) == [("pod-n2", "ADDED")]
    assert received(hub, agents["n3"]) == []


def test_node_binding_and_move(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    n1 = watch(hub, fields="spec.nodeName=n1")
    n2 = watch(hub, fields="spec.nodeName=n2")

    hub.publish(1, "bind", MODIFIED, pod(node="n1"), pod(node=""))
    hub.publish(2, "move", MODIFIED, pod(node="n2"), pod(node="n1"))
    hub.publish(3, "status", MODIFIED, pod(node="n2", phase="Running"), pod(node="n2"))

    assert received(hub, n1) == [("bind", "ADDED"), ("move", "DELETED")]
    assert received(hub, n2) == [("move", "ADDED"), ("status", "MODIFIED")]


def test_node_index_keeps_namespace(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    watcher = watch(hub, namespace="default", fields="spec.nodeName=n1")

    hub.publish(1, "other", ADDED, pod(namespace="kube-system", node="n1"))
    hub.publish(2, "mine", ADDED, pod(namespace="default", node="n1"))

    assert received(hub, watcher) == [("mine", "ADDED")]


def test_node_not_equals_unindexed(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    watcher = watch(hub, fields="spec.nodeName!=n1")

    hub.publish(1, "n2", ADDED, pod(node="n2"))
    hub.publish(2, "n1", ADDED, pod(node="n1"))

    assert received(hub, watcher) == [("n2", "ADDED")]


def test_hub_without_index_field(kernel: HubFactory) -> None:
    hub: WatchHub[str] = WatchHub(POD_FIELDS, kernel=kernel)
    watcher = watch(hub, fields="spec.nodeName=n1")

    hub.publish(1, "n2", ADDED, pod(node="n2"))
    hub.publish(2, "n1", ADDED, pod(node="n1"))

    assert received(hub, watcher) == [("n1", "ADDED")]


# --- queues, overflow and removal ----------------------------------------------------


def test_overflow_marks_only_slow_watcher(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    slow = watch(hub, capacity=2)
    fast = watch(hub, capacity=2)

    woken = []
    for slot in (10, 11, 12, 13):
        woken.append(sorted(hub.publish(slot, f"e{slot}", ADDED, pod()).tolist()))
        hub.drain(fast)
    slow_drained = hub.drain(slow)

    assert woken == [[slow, fast], [slow, fast], [slow, fast], [fast]]
    assert slow_drained.payloads == ["e10", "e11"]
    assert slow_drained.overflow_slot == 12
    assert slow_drained.overflowed
    assert hub.overflowed(slow)
    assert not hub.drain(fast).overflowed
    assert not hub.overflowed(fast)


def test_overflowed_watcher_gets_nothing_more(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    watcher = watch(hub, capacity=1)
    hub.publish(1, "e1", ADDED, pod())
    hub.publish(2, "e2", ADDED, pod())
    hub.drain(watcher)

    woken = hub.publish(3, "e3", ADDED, pod())
    drained = hub.drain(watcher)

    assert woken.tolist() == []
    assert drained.payloads == []
    assert drained.overflow_slot == 2


def test_drain_keeps_order_and_empties(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    watcher = watch(hub)
    for slot in range(1, 6):
        hub.publish(slot, f"e{slot}", ADDED, pod())

    first = hub.drain(watcher)
    second = hub.drain(watcher)

    assert first.slots.tolist() == [1, 2, 3, 4, 5]
    assert first.payloads == ["e1", "e2", "e3", "e4", "e5"]
    assert first.types.dtype == np.int8
    assert second.payloads == []
    assert hub.pending(watcher) == 0


def test_payloads_released_after_drain(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    first = watch(hub)
    second = watch(hub)
    hub.publish(1, "e1", ADDED, pod())
    hub.publish(2, "e2", ADDED, pod())

    hub.drain(first)
    retained_after_one = hub.retained_payloads
    hub.drain(second)

    assert retained_after_one == 2
    assert hub.retained_payloads == 0


def test_unmatched_event_keeps_no_payload(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    watch(hub, labels="app=web")

    hub.publish(1, "e1", ADDED, pod(labels={"app": "db"}))

    assert hub.retained_payloads == 0


def test_remove_watcher(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    removed = watch(hub)
    kept = watch(hub)
    hub.publish(1, "e1", ADDED, pod())

    assert hub.remove_watcher(removed)
    woken = hub.publish(2, "e2", ADDED, pod())

    assert woken.tolist() == [kept]
    assert len(hub) == 1
    assert not hub.remove_watcher(removed)
    with pytest.raises(KeyError, match="not registered"):
        hub.drain(removed)
    assert received(hub, kept) == [("e1", "ADDED"), ("e2", "ADDED")]
    assert hub.retained_payloads == 0


def test_remove_keeps_bucket_neighbours(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    watchers = [watch(hub, fields="spec.nodeName=n1") for _ in range(4)]

    hub.remove_watcher(watchers[1])
    hub.remove_watcher(watchers[0])
    added = watch(hub, fields="spec.nodeName=n1")
    woken = hub.publish(1, "e1", ADDED, pod(node="n1"))

    assert sorted(woken.tolist()) == sorted([watchers[2], watchers[3], added])
    assert added not in watchers


def test_watcher_ids_not_reused(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    first = watch(hub)
    hub.remove_watcher(first)

    second = watch(hub)

    assert second != first


# --- input checks -------------------------------------------------------------------


def test_slot_must_increase(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    hub.publish(5, "e5", ADDED, pod())

    with pytest.raises(ValueError, match="slot: 5 is not greater than the previous slot 5"):
        hub.publish(5, "again", ADDED, pod())


def test_unknown_field_rejected(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    selector = FieldSelector((FieldRequirement("spec.hostname", Operator.EQUALS, "x"),))

    with pytest.raises(ValueError, match="'spec.hostname': not a field of this hub"):
        hub.add_watcher(namespace=None, labels=Selector(), fields=selector, capacity=1)


def test_field_operator_rejected(kernel: HubFactory) -> None:
    hub = make_hub(kernel)
    selector = FieldSelector((FieldRequirement("spec.nodeName", Operator.IN, "x"),))

    with pytest.raises(ValueError, match="unsupported operator 'in'; expected = or !="):
        hub.add_watcher(namespace=None, labels=Selector(), fields=selector, capacity=1)


def test_capacity_must_be_positive(kernel: HubFactory) -> None:
    hub = make_hub(kernel)

    with pytest.raises(ValueError, match="capacity: 0 is too small"):
        watch(hub, capacity=0)


def test_index_field_must_be_listed(kernel: HubFactory) -> None:
    with pytest.raises(ValueError, match="index_field: 'spec.nodeName' is not one of field_names"):
        WatchHub(("metadata.name",), index_field="spec.nodeName", kernel=kernel)


def test_duplicate_field_name_rejected(kernel: HubFactory) -> None:
    with pytest.raises(ValueError, match="lists a field twice"):
        WatchHub(("metadata.name", "metadata.name"), kernel=kernel)


def test_pure_python_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYKUBE_PURE_PYTHON", "1")

    assert default_hub_factory() is _watchhub_py.Hub


def empty_arrays() -> dict[str, Any]:
    return {
        "ops": np.zeros(0, dtype=np.int8),
        "key_ids": np.zeros(0, dtype=np.int32),
        "value_offsets": np.zeros(1, dtype=np.int64),
        "value_ids": np.zeros(0, dtype=np.int32),
        "field_columns": np.zeros(0, dtype=np.int32),
        "field_ops": np.zeros(0, dtype=np.int8),
        "field_value_ids": np.zeros(0, dtype=np.int32),
    }


NATIVE_ADD_ERRORS = [
    pytest.param({"ops": np.zeros(0, dtype=np.int32)}, "ops: expected dtype int8", id="ops dtype"),
    pytest.param({"value_offsets": np.zeros(0, dtype=np.int64)}, "value_offsets: expected len", id="empty offsets"),
    pytest.param(
        {"ops": np.array([7], dtype=np.int8), "key_ids": np.array([0], dtype=np.int32), "value_offsets": np.zeros(2, dtype=np.int64)},
        r"ops\[0\]: 7 is out of range",
        id="operator code",
    ),
    pytest.param(
        {
            "ops": np.array([0], dtype=np.int8),
            "key_ids": np.array([0], dtype=np.int32),
            "value_offsets": np.array([0, 2], dtype=np.int64),
            "value_ids": np.array([3, 2], dtype=np.int32),
        },
        "not strictly increasing",
        id="unsorted values",
    ),
    pytest.param(
        {"field_columns": np.array([4], dtype=np.int32), "field_ops": np.zeros(1, dtype=np.int8), "field_value_ids": np.ones(1, dtype=np.int32)},
        r"field_columns\[0\]: 4 is out of range",
        id="field column",
    ),
    pytest.param(
        {"field_columns": np.array([0], dtype=np.int32), "field_ops": np.zeros(1, dtype=np.int8), "field_value_ids": np.zeros(1, dtype=np.int32)},
        r"field_value_ids\[0\]: 0 is out of range",
        id="field value id 0",
    ),
]


@pytest.mark.parametrize(("override", "message"), NATIVE_ADD_ERRORS)
def test_native_add_checks(override: dict[str, Any], message: str) -> None:
    hub = native_factory()(4, 2)
    arrays = empty_arrays() | override

    with pytest.raises(ValueError, match=message):
        hub.add_watcher(-1, False, capacity=1, **arrays)


def publish_arrays(**override: Any) -> dict[str, Any]:
    arrays: dict[str, Any] = {
        "key_ids": np.array([0, 1], dtype=np.int32),
        "value_ids": np.array([1, 1], dtype=np.int32),
        "field_values": np.zeros(4, dtype=np.int32),
    }
    arrays |= override
    return arrays | {"old_" + name: value for name, value in arrays.items()}


NATIVE_PUBLISH_ERRORS = [
    pytest.param({"key_ids": np.array([1, 0], dtype=np.int32)}, "strictly increasing", id="unsorted keys"),
    pytest.param({"value_ids": np.array([1], dtype=np.int32)}, "value_ids: expected 2 entries", id="length"),
    pytest.param({"field_values": np.zeros(3, dtype=np.int32)}, "field_values: expected 4 entries", id="field count"),
    pytest.param({"field_values": np.zeros(4, dtype=np.int64)}, "expected dtype int32", id="field dtype"),
]


@pytest.mark.parametrize(("override", "message"), NATIVE_PUBLISH_ERRORS)
def test_native_publish_checks(override: dict[str, Any], message: str) -> None:
    hub = native_factory()(4, 2)

    with pytest.raises(ValueError, match=message):
        hub.publish(1, 0, 0, old_namespace_id=0, **publish_arrays(**override))


def test_native_event_type_checked() -> None:
    hub = native_factory()(4, 2)

    with pytest.raises(ValueError, match="event_type: invalid code 3"):
        hub.publish(1, 3, 0, old_namespace_id=0, **publish_arrays())


# --- property: native == reference == brute force ----------------------------------------

KEYS = ("app", "tier", "env")
VALUES = ("a", "b", "")
NODES = ("", "n1", "n2")
NAMESPACES = ("x", "y", "")
PROPERTY_FIELDS = ("metadata.name", "spec.nodeName", "status.phase")


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    key = draw(st.sampled_from(KEYS))
    operator = draw(st.sampled_from(list(Operator)))
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        values: tuple[str, ...] = ()
    elif operator in (Operator.IN, Operator.NOT_IN):
        values = tuple(sorted(draw(st.sets(st.sampled_from(VALUES), min_size=1, max_size=2))))
    else:
        values = (draw(st.sampled_from(VALUES)),)
    return Requirement(key, operator, values)


# one_of picks each branch about equally often. The repeated branches keep
# the selectors that match nothing, or that have many terms, rare, because
# they leave few deliveries to compare.
one_requirement = st.lists(requirements(), min_size=1, max_size=1).map(Selector.from_requirements)
label_selectors = st.one_of(
    st.just(Selector()),
    one_requirement,
    one_requirement,
    st.lists(requirements(), min_size=2, max_size=3).map(Selector.from_requirements),
    st.just(Selector.nothing()),
)

field_requirements = st.builds(
    FieldRequirement,
    st.sampled_from(PROPERTY_FIELDS),
    st.sampled_from([Operator.EQUALS, Operator.NOT_EQUALS]),
    st.sampled_from(NODES + ("Running",)),
)


@dataclasses.dataclass(frozen=True)
class WatcherSpec:
    namespace: str | None
    labels: Selector
    fields: FieldSelector
    capacity: int


watcher_specs = st.builds(
    WatcherSpec,
    st.one_of(st.none(), st.sampled_from(NAMESPACES)),
    label_selectors,
    st.lists(field_requirements, max_size=1).map(lambda terms: FieldSelector(tuple(terms))),
    st.integers(min_value=1, max_value=4),
)

object_states = st.builds(
    ObjectState,
    st.sampled_from(NAMESPACES),
    st.dictionaries(st.sampled_from(KEYS + ("other",)), st.sampled_from(VALUES + ("c",)), max_size=3),
    st.fixed_dictionaries(
        {},
        optional={
            "metadata.name": st.sampled_from(("web", "")),
            "spec.nodeName": st.sampled_from(NODES + ("n3",)),
            "status.phase": st.sampled_from(("Running", "Pending")),
        },
    ),
)

publish_steps = st.tuples(st.just("publish"), st.sampled_from(list(WatchEventType)), object_states, object_states)
drain_steps = st.tuples(st.just("drain"), st.integers(min_value=0, max_value=5))
remove_steps = st.tuples(st.just("remove"), st.integers(min_value=0, max_value=5))
steps = st.lists(st.one_of(publish_steps, publish_steps, drain_steps, remove_steps), max_size=25)


class BruteForceHub:
    """Every watcher tested on every event with Selector.matches and FieldSelector.matches."""

    def __init__(self, specs: list[WatcherSpec]) -> None:
        self.specs = dict(enumerate(specs, 1))
        self.pending: dict[int, list[tuple[int, str]]] = {watcher: [] for watcher in self.specs}
        self.overflow: dict[int, int | None] = {watcher: None for watcher in self.specs}

    @staticmethod
    def matches(spec: WatcherSpec, state: ObjectState) -> bool:
        if spec.namespace is not None and spec.namespace != state.namespace:
            return False
        return spec.labels.matches(state.labels) and spec.fields.matches(state.fields)

    def delivered_type(self, spec: WatcherSpec, event_type: WatchEventType, new: ObjectState, old: ObjectState) -> str | None:
        now = self.matches(spec, new)
        if event_type is not MODIFIED:
            return event_type.name if now else None
        before = self.matches(spec, old)
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        return "DELETED" if before else None

    def publish(self, slot: int, event_type: WatchEventType, new: ObjectState, old: ObjectState) -> list[int]:
        woken = []
        for watcher, spec in self.specs.items():
            delivered = self.delivered_type(spec, event_type, new, old)
            if delivered is None or self.overflow[watcher] is not None:
                continue
            if len(self.pending[watcher]) >= spec.capacity:
                self.overflow[watcher] = slot
            else:
                self.pending[watcher].append((slot, delivered))
            woken.append(watcher)
        return sorted(woken)

    def drain(self, watcher: int) -> tuple[list[tuple[int, str]], int | None]:
        pending, self.pending[watcher] = self.pending[watcher], []
        return pending, self.overflow[watcher]

    def remove(self, watcher: int) -> bool:
        if watcher not in self.specs:
            return False
        del self.specs[watcher]
        return True


def hub_drain(hub: WatchHub[int], watcher: int) -> tuple[list[tuple[int, str]], int | None]:
    drained = hub.drain(WatcherId(watcher))
    pairs = [(payload, event_type.name) for payload, event_type in drained.deliveries()]
    assert drained.slots.tolist() == [slot for slot, _ in pairs]
    return pairs, drained.overflow_slot


@settings(max_examples=300, deadline=None)
@given(specs=st.lists(watcher_specs, min_size=1, max_size=6), script=steps)
def test_property_matches_brute_force(specs: list[WatcherSpec], script: list[tuple[Any, ...]]) -> None:
    factories: list[HubFactory] = [_watchhub_py.Hub, native_factory()]
    hubs: list[WatchHub[int]] = [WatchHub(PROPERTY_FIELDS, index_field="spec.nodeName", kernel=factory) for factory in factories]
    oracle = BruteForceHub(specs)
    for hub in hubs:
        ids = [hub.add_watcher(namespace=s.namespace, labels=s.labels, fields=s.fields, capacity=s.capacity) for s in specs]
        assert ids == list(oracle.specs)

    for slot, step in enumerate(script, 1):
        if step[0] == "publish":
            _, event_type, new, old = step
            expected = oracle.publish(slot, event_type, new, old)
            for hub in hubs:
                assert sorted(hub.publish(slot, slot, event_type, new, old).tolist()) == expected
        elif step[1] + 1 in oracle.specs:
            watcher = step[1] + 1
            if step[0] == "drain":
                expected_drain = oracle.drain(watcher)
                for hub in hubs:
                    assert hub_drain(hub, watcher) == expected_drain
            else:
                oracle.remove(watcher)
                for hub in hubs:
                    assert hub.remove_watcher(WatcherId(watcher))

    for watcher in list(oracle.specs):
        expected_drain = oracle.drain(watcher)
        for hub in hubs:
            assert hub_drain(hub, watcher) == expected_drain
    for hub in hubs:
        assert hub.retained_payloads == 0
