"""Rule compiler: the native twin against the pure-Python reference, and the layout's semantics."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykube_core.proxy.arrays import (
    AFFINITY_CLIENT_IP,
    ENDPOINT_LOCAL,
    ENDPOINT_READY,
    ENDPOINT_SERVING,
    ENDPOINT_TERMINATING,
    EXTERNAL_IP,
    EXTERNAL_POLICY_LOCAL,
    INTERNAL_POLICY_LOCAL,
    LOAD_BALANCER_IP,
)
from pykube_core.proxy.compiler import RuleCompiler, native_available
from pykube_core.proxy.rows import EndpointSpec, ServicePortSpec, pack_rows
from pykube_core.proxy.ruleset import MIN_MAP_SIZE, map_sizes

TABLE = "pykube_test"
NODE = int(ipaddress.IPv4Address("172.30.0.1"))
READY = ENDPOINT_READY | ENDPOINT_SERVING
TERMINATING = ENDPOINT_SERVING | ENDPOINT_TERMINATING

needs_native = pytest.mark.skipif(
    not native_available(), reason="native proxy compiler not built: python setup.py build_ext --inplace"
)


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def endpoint(address: str, port: int = 8080, state: int = READY) -> EndpointSpec:
    return EndpointSpec(ip(address), port, state)


@pytest.fixture(params=["py", "native"])
def compiler(request: pytest.FixtureRequest) -> RuleCompiler:
    if request.param == "native" and not native_available():
        pytest.skip("native proxy compiler not built: python setup.py build_ext --inplace")
    built = RuleCompiler(TABLE, pure_python=request.param == "py")
    built.set_node_addresses([NODE])
    return built


def full_snapshot(compiler: RuleCompiler, specs: list[ServicePortSpec]) -> list[str]:
    compiler.compile(pack_rows(specs), full=True)
    compiler.commit()
    return compiler.snapshot()


# --- semantics --------------------------------------------------------------

TWO_ENDPOINTS = ServicePortSpec(
    id=0, cluster_ip=ip("10.96.0.1"), port=80, endpoints=(endpoint("10.1.0.2"), endpoint("10.1.0.3"))
)

CASES = [
    pytest.param(
        TWO_ENDPOINTS,
        [
            "frontends 10.96.0.1 . tcp . 80 : goto cluster_tcp_2",
            "backends_tcp 10.96.0.1 . tcp . 80 . 0 : 10.1.0.2 . 8080",
            "backends_tcp 10.96.0.1 . tcp . 80 . 1 : 10.1.0.3 . 8080",
            "object cluster_tcp_2",
        ],
        id="cluster ip two endpoints",
    ),
    pytest.param(
        ServicePortSpec(id=0, cluster_ip=ip("10.96.0.1"), protocol=17, port=53),
        ["no_endpoints 10.96.0.1 . udp . 53 : "],
        id="no endpoints rejected",
    ),
    pytest.param(
        ServicePortSpec(
            id=0, cluster_ip=ip("10.96.0.1"), port=80,
            endpoints=(endpoint("10.1.0.2", state=TERMINATING), endpoint("10.1.0.3")),
        ),
        ["frontends 10.96.0.1 . tcp . 80 : goto cluster_tcp_1", "backends_tcp 10.96.0.1 . tcp . 80 . 0 : 10.1.0.3 . 8080"],
        id="terminating unused while one is ready",
    ),
    pytest.param(
        ServicePortSpec(
            id=0, cluster_ip=ip("10.96.0.1"), port=80,
            endpoints=(endpoint("10.1.0.2", state=TERMINATING), endpoint("10.1.0.3", state=ENDPOINT_TERMINATING)),
        ),
        ["frontends 10.96.0.1 . tcp . 80 : goto cluster_tcp_1", "backends_tcp 10.96.0.1 . tcp . 80 . 0 : 10.1.0.2 . 8080"],
        id="serving terminating as fallback",
    ),
    pytest.param(
        ServicePortSpec(
            id=0, cluster_ip=ip("10.96.0.1"), port=80, node_port=30080, flags=EXTERNAL_POLICY_LOCAL,
            endpoints=(endpoint("10.1.0.2"),),
        ),
        ["frontends 10.96.0.1 . tcp . 80 : goto cluster_tcp_1", "frontends 172.30.0.1 . tcp . 30080 : drop"],
        id="external local without local endpoint drops",
    ),
    pytest.param(
        ServicePortSpec(
            id=0, cluster_ip=ip("10.96.0.1"), port=80, node_port=30080, flags=EXTERNAL_POLICY_LOCAL,
            endpoints=(endpoint("10.1.0.2"), endpoint("10.1.0.3", state=READY | ENDPOINT_LOCAL)),
        ),
        [
            "frontends 172.30.0.1 . tcp . 30080 : goto cluster_tcp_1",
            "backends_tcp 172.30.0.1 . tcp . 30080 . 0 : 10.1.0.3 . 8080",
            "frontends 10.96.0.1 . tcp . 80 : goto cluster_tcp_2",
        ],
        id="external local keeps source unmasqueraded",
    ),
    pytest.param(
        ServicePortSpec(id=0, cluster_ip=ip("10.96.0.1"), port=80, node_port=30080, endpoints=(endpoint("10.1.0.2"),)),
        ["frontends 172.30.0.1 . tcp . 30080 : goto masq_cluster_tcp_1", "object masq_cluster_tcp_1"],
        id="node port masqueraded",
    ),
    pytest.param(
        ServicePortSpec(
            id=0, cluster_ip=ip("10.96.0.1"), port=80, flags=INTERNAL_POLICY_LOCAL, endpoints=(endpoint("10.1.0.2"),),
        ),
        ["frontends 10.96.0.1 . tcp . 80 : drop"],
        id="internal local without local endpoint drops",
    ),
    pytest.param(
        ServicePortSpec(
            id=0, cluster_ip=ip("10.96.0.1"), port=80, flags=AFFINITY_CLIENT_IP, affinity_timeout=10800,
            endpoints=(endpoint("10.1.0.2"), endpoint("10.1.0.3")),
        ),
        [
            "frontends 10.96.0.1 . tcp . 80 : goto affinity_tcp_2_10800",
            "object affinity_slot_tcp_1_10800",
            "object affinity_1",
        ],
        id="client ip affinity",
    ),
    pytest.param(
        ServicePortSpec(
            id=0, cluster_ip=ip("10.96.0.1"), port=80,
            external=((ip("192.0.2.1"), LOAD_BALANCER_IP), (ip("192.0.2.2"), EXTERNAL_IP)),
            source_ranges=((ip("10.0.0.0"), 8),),
            endpoints=(endpoint("10.1.0.2"),),
        ),
        [
            "restricted 192.0.2.1 . tcp . 80 : ",
            "allowed_sources 192.0.2.1 . tcp . 80 . 10.0.0.0/8 : ",
            "frontends 192.0.2.2 . tcp . 80 : goto masq_cluster_tcp_1",
        ],
        id="load balancer source ranges",
    ),
    pytest.param(
        ServicePortSpec(
            id=0, cluster_ip=ip("10.96.0.1"), port=80,
            endpoints=(endpoint("10.1.0.2", port=9000, state=READY | ENDPOINT_LOCAL), endpoint("10.1.0.3")),
        ),
        ["hairpin 10.1.0.2", "backends_tcp 10.96.0.1 . tcp . 80 . 0 : 10.1.0.2 . 9000"],
        id="hairpin element per local endpoint",
    ),
]


@pytest.mark.parametrize(("spec", "expected"), CASES)
def test_layout_case(compiler: RuleCompiler, spec: ServicePortSpec, expected: list[str]) -> None:
    snapshot = full_snapshot(compiler, [spec])
    for line in expected:
        assert line in snapshot


def test_remote_endpoint_no_hairpin(compiler: RuleCompiler) -> None:
    snapshot = full_snapshot(compiler, [TWO_ENDPOINTS])
    assert not [line for line in snapshot if line.startswith("hairpin")]


def test_unchanged_row_empty_delta(compiler: RuleCompiler) -> None:
    spec = TWO_ENDPOINTS
    full_snapshot(compiler, [spec])
    assert compiler.compile(pack_rows([spec]), full=False).text == ""


def test_conflicting_row_reported(compiler: RuleCompiler) -> None:
    first = ServicePortSpec(id=0, cluster_ip=ip("10.96.0.1"), port=80)
    second = ServicePortSpec(id=1, cluster_ip=ip("10.96.0.1"), port=80)
    result = compiler.compile(pack_rows([first, second]), full=True)
    assert result.conflicts.tolist() == [1]


def test_discard_keeps_mirror(compiler: RuleCompiler) -> None:
    spec = TWO_ENDPOINTS
    before = full_snapshot(compiler, [spec])
    compiler.compile(pack_rows([ServicePortSpec(id=0)]), full=False)
    compiler.discard()
    assert compiler.snapshot() == before


def test_unknown_protocol_invalid(compiler: RuleCompiler) -> None:
    with pytest.raises(ValueError, match="unknown IP protocol 99"):
        compiler.compile(pack_rows([ServicePortSpec(id=0, cluster_ip=1, protocol=99, port=1)]), full=True)


def test_repeated_id_invalid(compiler: RuleCompiler) -> None:
    spec = ServicePortSpec(id=0, cluster_ip=1, port=1)
    with pytest.raises(ValueError, match="appears twice"):
        compiler.compile(pack_rows([spec, spec]), full=True)


# --- properties ------------------------------------------------------------

ENDPOINT_ADDRESSES = [ip(f"10.1.0.{n}") for n in range(1, 6)]

endpoints_strategy = st.lists(
    st.builds(
        EndpointSpec,
        ip=st.sampled_from(ENDPOINT_ADDRESSES),
        port=st.sampled_from([80, 8080]),
        state=st.integers(min_value=0, max_value=15),
    ),
    max_size=4,
    unique_by=lambda e: (e.ip, e.port),
).map(tuple)


def spec_strategy(row_id: int, unique_addresses: bool) -> st.SearchStrategy[ServicePortSpec]:
    """Return specs of one row; unique_addresses gives each id its own frontends."""
    base = ip("10.96.0.0")
    cluster = st.just(base + row_id) if unique_addresses else st.sampled_from([base + 1, base + 2, base + 3])
    external_address = st.just(ip("192.0.2.0") + row_id) if unique_addresses else st.sampled_from(
        [ip("192.0.2.1"), ip("192.0.2.2")]
    )
    return st.builds(
        ServicePortSpec,
        id=st.just(row_id),
        cluster_ip=st.one_of(st.just(0), cluster),
        protocol=st.sampled_from([6, 17, 132]),
        port=st.sampled_from([80, 443]),
        node_port=st.one_of(st.just(0), st.just(30000 + row_id)),
        flags=st.integers(min_value=0, max_value=7),
        affinity_timeout=st.sampled_from([10, 10800]),
        external=st.lists(
            st.tuples(external_address, st.sampled_from([EXTERNAL_IP, LOAD_BALANCER_IP])), max_size=1
        ).map(tuple),
        source_ranges=st.lists(
            st.tuples(st.sampled_from([ip("10.0.0.0"), ip("172.16.0.0")]), st.sampled_from([8, 16])),
            max_size=2,
            unique=True,
        ).map(tuple),
        endpoints=endpoints_strategy,
    )


def history_strategy(unique_addresses: bool) -> st.SearchStrategy[list[list[ServicePortSpec]]]:
    """Return batches of changed rows; the first batch is the full sync."""
    row_ids = st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=4, unique=True)
    batch = row_ids.flatmap(lambda ids: st.tuples(*(spec_strategy(i, unique_addresses) for i in ids)).map(list))
    return st.lists(batch, min_size=1, max_size=6)


@needs_native
@settings(max_examples=150, deadline=None)
@given(history=history_strategy(unique_addresses=False))
def test_native_matches_reference(history: list[list[ServicePortSpec]]) -> None:
    native = RuleCompiler(TABLE, pure_python=False)
    reference = RuleCompiler(TABLE, pure_python=True)
    for twin in (native, reference):
        twin.set_node_addresses([NODE, ip("127.0.0.1")])
    for step, batch in enumerate(history):
        rows = pack_rows(batch)
        native_result = native.compile(rows, full=step == 0)
        reference_result = reference.compile(rows, full=step == 0)
        assert native_result.text == reference_result.text
        assert native_result.conflicts.tolist() == reference_result.conflicts.tolist()
        native.commit()
        reference.commit()
        assert native.snapshot() == reference.snapshot()
        assert native.counts() == reference.counts()


@settings(max_examples=150, deadline=None)
@given(history=history_strategy(unique_addresses=True), pure_python=st.booleans())
def test_deltas_equal_full_sync(history: list[list[ServicePortSpec]], pure_python: bool) -> None:
    if not pure_python and not native_available():
        pure_python = True
    incremental = RuleCompiler(TABLE, pure_python=pure_python)
    incremental.set_node_addresses([NODE])
    final: dict[int, ServicePortSpec] = {}
    for step, batch in enumerate(history):
        incremental.compile(pack_rows(batch), full=step == 0)
        incremental.commit()
        if step == 0:
            final.clear()
        final.update({spec.id: spec for spec in batch})
    fresh = RuleCompiler(TABLE, pure_python=pure_python)
    fresh.set_node_addresses([NODE])
    assert full_snapshot(fresh, list(final.values())) == incremental.snapshot()


@needs_native
def test_large_batch_chunked_identically() -> None:
    specs = [
        ServicePortSpec(id=row, cluster_ip=ip("10.96.0.0") + row, port=80, endpoints=(endpoint("10.1.0.2"),))
        for row in range(25_000)
    ]
    texts = [RuleCompiler(TABLE, pure_python=pure).compile(pack_rows(specs), full=True).text for pure in (False, True)]
    assert texts[0] == texts[1]
    assert texts[0].count(f"add element ip {TABLE} frontends ") == 2


def test_map_sizes_double_upper_bound() -> None:
    specs = [
        ServicePortSpec(
            id=row, cluster_ip=ip("10.96.0.0") + row, port=80, node_port=30000 + row,
            endpoints=(endpoint("10.1.0.2"), endpoint("10.1.0.3")),
        )
        for row in range(40_000)
    ]
    sizes = map_sizes(pack_rows(specs), node_addresses=1)
    assert sizes["frontends"] == 262144  # 80,000 frontends, doubled, rounded up
    assert sizes["backends_tcp"] == 524288  # 160,000 backends, doubled, rounded up
    assert sizes["backends_udp"] == MIN_MAP_SIZE
