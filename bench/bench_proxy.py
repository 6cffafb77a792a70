"""Service proxy: nftables sync cost against iptables-legacy-restore, compile time, first packet.

Run with `python -m bench.run bench/bench_proxy.py` as root, which also
records the figures in docs/benchmarks.md. Every ruleset is applied inside
a network namespace the module creates and deletes, never in the host's.

Each cluster has N Services of one TCP port and 3 ready endpoints
(N = 1,000, 10,000, 100,000).

- "full sync": nft compiles the whole table with the native compiler and
  applies it as one libnftables transaction that recreates the table.
  iptables-legacy-restore loads the iptables-mode equivalent into the same
  namespace in the same run: a KUBE-SVC chain per Service with
  statistic-random jumps, and a KUBE-SEP chain per endpoint with its DNAT.
- "one-endpoint change": one Service's endpoint moves to another address.
  nft compiles the element delta against the mirror and applies it;
  iptables-legacy-restore --noflush rewrites that endpoint's chain, as
  kube-proxy's minimal partial restore does.
- "compile": the native compiler against the pure-Python reference, full
  compile of N Services, no apply.
- "first packet": one TCP connect (SYN to SYN-ACK) from inside the
  namespace to a ClusterIP whose backend listens in the same namespace, so
  every connect passes the nat output hook and the table's lookups; a round
  is CONNECTS connects on a thread that entered the namespace.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pykube_control.proxy.nft import NftApplier, enter_netns
from pykube_core.proxy.arrays import ENDPOINT_READY, ENDPOINT_SERVING
from pykube_core.proxy.compiler import RuleCompiler
from pykube_core.proxy.rows import EndpointSpec, ServicePortSpec, pack_rows
from pykube_core.proxy.ruleset import cleanup_commands, map_sizes, ruleset_header

TABLE = "pykube"
CLUSTER_BASE = int(ipaddress.IPv4Address("10.96.0.0"))
ENDPOINT_BASE = int(ipaddress.IPv4Address("10.128.0.0"))
SPARE_ENDPOINT = int(ipaddress.IPv4Address("10.127.0.1"))
LISTENER = "10.244.0.10"
LISTENER_PORT = 8080
ENDPOINTS_PER_SERVICE = 3
CONNECTS = 200
SIZES = [1_000, 10_000, 100_000]

# iptables-legacy-restore of 100,000 Services took 154 s here, more than
# pytest's default timeout of this project.
pytestmark = pytest.mark.timeout(1800)
READY = ENDPOINT_READY | ENDPOINT_SERVING


def format_ip(address: int) -> str:
    return str(ipaddress.IPv4Address(address))


def service_specs(count: int) -> list[ServicePortSpec]:
    """Return count Services with 3 endpoints each; Service 0 routes to the local listener."""
    specs = []
    for index in range(count):
        first = ENDPOINT_BASE + index * ENDPOINTS_PER_SERVICE
        endpoints = tuple(EndpointSpec(first + k, 8080, READY) for k in range(ENDPOINTS_PER_SERVICE))
        if index == 0:
            endpoints = (EndpointSpec(int(ipaddress.IPv4Address(LISTENER)), LISTENER_PORT, READY),)
        specs.append(ServicePortSpec(id=index, cluster_ip=CLUSTER_BASE + 1 + index, protocol=6, port=80,
                                     endpoints=endpoints))
    return specs


def iptables_full(specs: list[ServicePortSpec]) -> str:
    """Return the iptables-mode ruleset of specs, in iptables-restore format."""
    chains = [":KUBE-SERVICES - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
    rules = ["-A OUTPUT -j KUBE-SERVICES", "-A PREROUTING -j KUBE-SERVICES",
             "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"]
    for spec in specs:
        service_chain = f"KUBE-SVC-{spec.id:08X}"
        chains.append(f":{service_chain} - [0:0]")
        rules.append(f"-A KUBE-SERVICES -d {format_ip(spec.cluster_ip)}/32 -p tcp -m tcp --dport {spec.port} "
                     f"-j {service_chain}")
        count = len(spec.endpoints)
        for slot, endpoint in enumerate(spec.endpoints):
            endpoint_chain = f"KUBE-SEP-{spec.id:08X}-{slot}"
            chains.append(f":{endpoint_chain} - [0:0]")
            if slot < count - 1:
                rules.append(f"-A {service_chain} -m statistic --mode random --probability "
                             f"{1 / (count - slot):.11f} -j {endpoint_chain}")
            else:
                rules.append(f"-A {service_chain} -j {endpoint_chain}")
            rules.extend(endpoint_rules(endpoint_chain, endpoint))
    return "*nat\n" + "\n".join(chains + rules) + "\nCOMMIT\n"


def endpoint_rules(chain: str, endpoint: EndpointSpec) -> list[str]:
    address = format_ip(endpoint.ip)
    return [f"-A {chain} -s {address}/32 -j KUBE-MARK-MASQ",
            f"-A {chain} -p tcp -m tcp -j DNAT --to-destination {address}:{endpoint.port}"]


def iptables_endpoint_change(service_id: int, endpoint: EndpointSpec) -> str:
    """Return a --noflush restore that rewrites the first endpoint chain of one Service."""
    chain = f"KUBE-SEP-{service_id:08X}-0"
    return "*nat\n" + "\n".join([f":{chain} - [0:0]", *endpoint_rules(chain, endpoint)]) + "\nCOMMIT\n"


class Namespace:
    """A network namespace for the benchmark, with a listener and an applier inside."""

    def __init__(self) -> None:
        self.name = f"pk-bench-{secrets.token_hex(3)}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run("ip", "link", "set", "lo", "up")
        self.run("ip", "addr", "add", f"{LISTENER}/32", "dev", "lo")
        # Without a route the connect fails before the nat output hook runs.
        self.run("ip", "route", "add", "10.96.0.0/12", "dev", "lo")
        self.applier = NftApplier(self.name)
        self.client = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pykube-bench-client")
        self.client.submit(enter_netns, self.name).result()
        self._listening = threading.Event()
        self._server = threading.Thread(target=self._serve, daemon=True)
        self._server.start()
        self._listening.wait(5)

    def run(self, *command: str, stdin: str | None = None) -> None:
        subprocess.run(["ip", "netns", "exec", self.name, *command], input=stdin, text=True, check=True,
                       capture_output=True)

    def _serve(self) -> None:
        enter_netns(self.name)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind((LISTENER, LISTENER_PORT))
            server.listen(1024)
            self._listening.set()
            while True:
                connection, _ = server.accept()
                connection.close()

    def connect_batch(self, host: str, count: int) -> None:
        """Open and close count TCP connections from inside the namespace."""
        def connect_all() -> None:
            for _ in range(count):
                with socket.create_connection((host, 80), timeout=2.0):
                    pass
        self.client.submit(connect_all).result()

    def close(self) -> None:
        self.applier.apply_sync(cleanup_commands(TABLE))
        self.applier.close()
        self.client.shutdown()
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@pytest.fixture(scope="module")
def namespace() -> Iterator[Namespace]:
    created = Namespace()
    try:
        yield created
    finally:
        created.close()


@pytest.fixture
def iptables_namespace() -> Iterator[str]:
    """Return a fresh namespace for one iptables run; deleting it frees every chain at once."""
    name = f"pk-ipt-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def restore(netns: str, text: str, *options: str) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "iptables-legacy-restore", *options], input=text, text=True,
                   check=True, capture_output=True)


def full_sync(namespace: Namespace, specs: list[ServicePortSpec]) -> RuleCompiler:
    compiler = RuleCompiler(TABLE, pure_python=False)
    rows = pack_rows(specs)
    result = compiler.compile(rows, full=True)
    applied = namespace.applier.apply_sync(ruleset_header(TABLE, map_sizes(rows, 0)) + result.text)
    assert applied.ok, applied.error[:500]
    compiler.commit()
    return compiler


def rounds_for(count: int) -> int:
    return 5 if count <= 1_000 else 3 if count <= 10_000 else 1


@pytest.mark.parametrize("count", SIZES, ids=[f"{n:,} services" for n in SIZES])
@pytest.mark.parametrize("variant", ["nft", "iptables-legacy-restore"])
def bench_full_sync(
    benchmark: Any, namespace: Namespace, iptables_namespace: str, variant: str, count: int
) -> None:
    benchmark.group = f"full sync, {count:,} services"
    specs = service_specs(count)
    if variant == "nft":
        def run() -> None:
            full_sync(namespace, specs)
    else:
        text = iptables_full(specs)

        def run() -> None:
            restore(iptables_namespace, text)
    benchmark.pedantic(run, rounds=rounds_for(count), warmup_rounds=0)
    benchmark.extra_info["services"] = count


@pytest.mark.parametrize("count", SIZES, ids=[f"{n:,} services" for n in SIZES])
@pytest.mark.parametrize("variant", ["nft", "iptables-legacy-restore"])
def bench_endpoint_change(
    benchmark: Any, namespace: Namespace, iptables_namespace: str, variant: str, count: int
) -> None:
    benchmark.group = f"one-endpoint change, {count:,} services"
    specs = service_specs(count)
    target = specs[count // 2]
    moved = [
        ServicePortSpec(id=target.id, cluster_ip=target.cluster_ip, port=80,
                        endpoints=(EndpointSpec(SPARE_ENDPOINT + k, 8080, READY), *target.endpoints[1:]))
        for k in range(2)
    ]
    flips = iter(range(10**9))
    if variant == "nft":
        compiler = full_sync(namespace, specs)

        def run() -> None:
            spec = moved[next(flips) % 2]
            result = compiler.compile(pack_rows([spec]), full=False)
            applied = namespace.applier.apply_sync(result.text)
            assert applied.ok, applied.error[:500]
            compiler.commit()
    else:
        restore(iptables_namespace, iptables_full(specs))

        def run() -> None:
            spec = moved[next(flips) % 2]
            restore(iptables_namespace, iptables_endpoint_change(spec.id, spec.endpoints[0]), "--noflush")
    rounds = 20 if variant == "nft" else 5 if count <= 10_000 else 2
    benchmark.pedantic(run, rounds=rounds, warmup_rounds=1 if variant == "nft" else 0)
    benchmark.extra_info["services"] = count


COMPILE_SIZES = [10_000, 100_000]


@pytest.mark.parametrize("count", COMPILE_SIZES, ids=[f"{n:,} services" for n in COMPILE_SIZES])
@pytest.mark.parametrize("implementation", ["py", "native"])
def bench_compile(benchmark: Any, implementation: str, count: int) -> None:
    benchmark.group = f"compile, {count:,} services"
    rows = pack_rows(service_specs(count))

    def run() -> None:
        compiler = RuleCompiler(TABLE, pure_python=implementation == "py")
        compiler.compile(rows, full=True)

    benchmark.pedantic(run, rounds=1 if implementation == "py" else 3, warmup_rounds=0)
    benchmark.extra_info["services"] = count


@pytest.mark.parametrize("count", [1_000, 100_000], ids=["1,000 services", "100,000 services"])
def bench_first_packet(benchmark: Any, namespace: Namespace, count: int) -> None:
    benchmark.group = "first packet through a ClusterIP"
    full_sync(namespace, service_specs(count))
    host = format_ip(CLUSTER_BASE + 1)
    namespace.connect_batch(host, 10)
    benchmark.pedantic(lambda: namespace.connect_batch(host, CONNECTS), rounds=5, warmup_rounds=1)
    benchmark.extra_info["ops"] = CONNECTS
    benchmark.extra_info["services"] = count
    started = time.perf_counter()
    namespace.connect_batch(host, 1)
    benchmark.extra_info["single_connect_ms"] = (time.perf_counter() - started) * 1e3
