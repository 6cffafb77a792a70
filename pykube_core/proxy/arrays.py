"""The arrays that cross into the service rule compiler, and their codes.

One row describes one service port (a Service's entry in spec.ports) after
the model has resolved everything that needs strings: addresses are IPv4
numbers in host byte order, protocols are IP protocol numbers, named
targetPorts are already resolved per endpoint. The native compiler
(pykube_core.proxy._native) reads the fields by name and the pure-Python
twin (_reference) reads the same object, so both take exactly the same
input. csrc/proxy/compiler.h describes the same layout; the codes below must
keep the values of the constants there.

Variable-length lists (external addresses, source ranges, endpoints) are
flattened: row i owns entries offsets[i] to offsets[i + 1] of the flat
arrays, as in CSR sparse matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Row flags.
AFFINITY_CLIENT_IP = 1
EXTERNAL_POLICY_LOCAL = 2
INTERNAL_POLICY_LOCAL = 4

# Endpoint state bits, from EndpointSlice endpoint conditions and nodeName.
ENDPOINT_READY = 1
ENDPOINT_SERVING = 2
ENDPOINT_TERMINATING = 4
ENDPOINT_LOCAL = 8

# Kinds of external addresses.
EXTERNAL_IP = 0
LOAD_BALANCER_IP = 1

# IP protocol numbers the compiler knows by name.
PROTOCOL_NUMBERS = {"TCP": 6, "UDP": 17, "SCTP": 132}


@dataclass(frozen=True)
class ServicePortRows:
    """A batch of service port rows, each addressed by its compiler slot id.

    A row whose cluster_ip and node_port are 0 and that has no external
    address produces no rules: that is how a removed service port is sent.
    """

    ids: NDArray[np.int64]
    cluster_ip: NDArray[np.uint32]
    protocol: NDArray[np.int32]
    port: NDArray[np.int32]
    node_port: NDArray[np.int32]
    flags: NDArray[np.int32]
    affinity_timeout: NDArray[np.int32]
    external_offsets: NDArray[np.int64]
    external_ip: NDArray[np.uint32]
    external_kind: NDArray[np.int32]
    range_offsets: NDArray[np.int64]
    range_ip: NDArray[np.uint32]
    range_prefix: NDArray[np.int32]
    endpoint_offsets: NDArray[np.int64]
    endpoint_ip: NDArray[np.uint32]
    endpoint_port: NDArray[np.int32]
    endpoint_state: NDArray[np.int32]


@dataclass(frozen=True)
class CompileResult:
    """Output of one compile: nft command text and the rows left out.

    conflicts lists the ids of rows that lost at least one address, protocol
    and port to an earlier row that already owned it. Their other rules are
    in the text.
    """

    text: str
    conflicts: NDArray[np.int64]


@dataclass(frozen=True)
class ElementCounts:
    """Number of committed elements per set or map, and dynamic chains."""

    frontends: int
    backends: int
    no_endpoints: int
    restricted: int
    allowed_sources: int
    hairpin: int
    chains: int
