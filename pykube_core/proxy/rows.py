"""Build ServicePortRows from plain Python values.

ServicePortSpec is one service port as the model resolved it; pack_rows
turns a list of them into the flat arrays the compilers read. Tests and
benchmarks build specs directly, the proxy's model builds them from
Services and EndpointSlices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pykube_core.proxy.arrays import ServicePortRows


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint of a service port: IPv4 address (host order), port, state bits."""

    ip: int
    port: int
    state: int


@dataclass(frozen=True)
class ServicePortSpec:
    """One service port row; addresses are IPv4 numbers in host byte order.

    An all-zero spec (no cluster IP, node port or external address) removes
    the row's rules.
    """

    id: int
    cluster_ip: int = 0
    protocol: int = 6
    port: int = 0
    node_port: int = 0
    flags: int = 0
    affinity_timeout: int = 0
    external: tuple[tuple[int, int], ...] = ()
    source_ranges: tuple[tuple[int, int], ...] = ()
    endpoints: tuple[EndpointSpec, ...] = field(default_factory=tuple)


def _offsets(lengths: list[int]) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
    return offsets


def pack_rows(specs: list[ServicePortSpec]) -> ServicePortRows:
    """Pack specs into ServicePortRows, in the given order."""
    externals = [item for spec in specs for item in spec.external]
    ranges = [item for spec in specs for item in spec.source_ranges]
    endpoints = [item for spec in specs for item in spec.endpoints]
    return ServicePortRows(
        ids=np.fromiter((s.id for s in specs), dtype=np.int64, count=len(specs)),
        cluster_ip=np.fromiter((s.cluster_ip for s in specs), dtype=np.uint32, count=len(specs)),
        protocol=np.fromiter((s.protocol for s in specs), dtype=np.int32, count=len(specs)),
        port=np.fromiter((s.port for s in specs), dtype=np.int32, count=len(specs)),
        node_port=np.fromiter((s.node_port for s in specs), dtype=np.int32, count=len(specs)),
        flags=np.fromiter((s.flags for s in specs), dtype=np.int32, count=len(specs)),
        affinity_timeout=np.fromiter((s.affinity_timeout for s in specs), dtype=np.int32, count=len(specs)),
        external_offsets=_offsets([len(s.external) for s in specs]),
        external_ip=np.fromiter((ip for ip, _ in externals), dtype=np.uint32, count=len(externals)),
        external_kind=np.fromiter((kind for _, kind in externals), dtype=np.int32, count=len(externals)),
        range_offsets=_offsets([len(s.source_ranges) for s in specs]),
        range_ip=np.fromiter((ip for ip, _ in ranges), dtype=np.uint32, count=len(ranges)),
        range_prefix=np.fromiter((prefix for _, prefix in ranges), dtype=np.int32, count=len(ranges)),
        endpoint_offsets=_offsets([len(s.endpoints) for s in specs]),
        endpoint_ip=np.fromiter((e.ip for e in endpoints), dtype=np.uint32, count=len(endpoints)),
        endpoint_port=np.fromiter((e.port for e in endpoints), dtype=np.int32, count=len(endpoints)),
        endpoint_state=np.fromiter((e.state for e in endpoints), dtype=np.int32, count=len(endpoints)),
    )
