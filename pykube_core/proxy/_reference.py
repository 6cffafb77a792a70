"""Pure-Python twin of the native service rule compiler (csrc/proxy/).

The tests use it as the oracle for the native compiler (the same rows must
give byte-identical text and the same committed state), the benchmarks use
it as the baseline, and PYKUBE_PURE_PYTHON=1 makes pykube_core.proxy.compiler
use it. It is written for clarity, not speed; compiler.h documents the
layout of the rules both produce.

The compiler keeps a mirror of what was last committed: for every row id,
the elements it owns. compile() diffs a batch of rows against that mirror
(or against an empty table for a full sync) and keeps the result pending
until commit() or discard(), so a failed apply leaves the mirror equal to
the kernel's table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from pykube_core.proxy.arrays import (
    AFFINITY_CLIENT_IP,
    ENDPOINT_LOCAL,
    ENDPOINT_READY,
    ENDPOINT_SERVING,
    ENDPOINT_TERMINATING,
    EXTERNAL_POLICY_LOCAL,
    INTERNAL_POLICY_LOCAL,
    LOAD_BALANCER_IP,
    CompileResult,
    ElementCounts,
    ServicePortRows,
)

# Sets and maps whose elements rows own, in the order the text adds them.
# The frontends map comes last because its verdicts jump to chains that
# route through the other maps. Backends have one map per protocol because
# the map's data type names the protocol of its port (see ruleset.py).
BACKENDS = {"tcp": 0, "udp": 1, "sctp": 2}
NO_ENDPOINTS = 3
RESTRICTED = 4
ALLOWED_SOURCES = 5
FRONTENDS = 6
SET_NAMES = (
    "backends_tcp", "backends_udp", "backends_sctp", "no_endpoints", "restricted", "allowed_sources", "frontends",
)

MASQUERADE_MARK = 0x4000
ELEMENT_CHUNK = 20_000
"""Elements per add or delete element command, so no command line grows with
the cluster. Applying 100,000 Services took the same time (7-9 s, within
noise) in commands of 20,000 as in one command per set, with nft 1.0.6 on
a shared 2-core machine (bench/bench_proxy.py's Services, four runs)."""
PROTOCOL_NAMES = {6: "tcp", 17: "udp", 132: "sctp"}

# A verdict target: (masquerade, affinity, protocol name, endpoint count,
# affinity timeout).
Target = tuple[bool, bool, str, int, int]
# A dynamic object: (rank, name); rank orders creation (low first) and
# deletion (high first) so that nothing is referenced before it exists.
DynamicObject = tuple[int, str]
SET_RANK = 0
CLUSTER_RANK = 1
SLOT_RANK = 2
AFFINITY_RANK = 3
MASQUERADE_RANK = 4


def format_ip(address: int) -> str:
    """Return dotted-quad text of an IPv4 address in host byte order."""
    return f"{address >> 24}.{(address >> 16) & 255}.{(address >> 8) & 255}.{address & 255}"


def target_chain(target: Target) -> str:
    """Return the name of the chain a frontend's verdict jumps to."""
    masquerade, affinity, protocol, count, timeout = target
    base = f"affinity_{protocol}_{count}_{timeout}" if affinity else f"cluster_{protocol}_{count}"
    return f"masq_{base}" if masquerade else base


def target_objects(target: Target) -> list[DynamicObject]:
    """Return the chains and sets a target needs, itself included."""
    masquerade, affinity, protocol, count, timeout = target
    objects: list[DynamicObject] = []
    if affinity:
        objects.append((AFFINITY_RANK, f"affinity_{protocol}_{count}_{timeout}"))
        for slot in range(count):
            objects.append((SLOT_RANK, f"affinity_slot_{protocol}_{slot}_{timeout}"))
            objects.append((SET_RANK, f"affinity_{slot}"))
    else:
        objects.append((CLUSTER_RANK, f"cluster_{protocol}_{count}"))
    if masquerade:
        objects.append((MASQUERADE_RANK, target_chain(target)))
    return objects


def object_commands(table: str, obj: DynamicObject) -> list[str]:
    """Return the nft commands that create one dynamic chain or set."""
    rank, name = obj
    prefix = f"ip {table} {name}"
    if rank == SET_RANK:
        return [
            f"add set {prefix} {{ type ipv4_addr . ipv4_addr . inet_proto . inet_service; "
            "flags dynamic,timeout; size 65536; }"
        ]
    frontend_key = "ip daddr . meta l4proto . th dport"
    rules: list[str]
    if rank == CLUSTER_RANK:
        _, protocol, count_text = name.split("_")
        rules = [f"dnat ip to {frontend_key} . numgen random mod {count_text} map @backends_{protocol}"]
    elif rank == SLOT_RANK:
        _, _, protocol, slot, timeout = name.split("_")
        rules = [
            f"update @affinity_{slot} {{ ip saddr . {frontend_key} timeout {timeout}s }}",
            f"dnat ip to {frontend_key} . numgen random mod 1 offset {slot} map @backends_{protocol}",
        ]
    elif rank == AFFINITY_RANK:
        _, protocol, count_text, timeout = name.split("_")
        count = int(count_text)
        slot_chain = f"affinity_slot_{protocol}"
        rules = [
            f"ip saddr . {frontend_key} @affinity_{slot} goto {slot_chain}_{slot}_{timeout}"
            for slot in range(count)
        ]
        choices = ", ".join(f"{slot} : goto {slot_chain}_{slot}_{timeout}" for slot in range(count))
        rules.append(f"numgen random mod {count} vmap {{ {choices} }}")
    else:
        rules = [f"meta mark set meta mark | 0x{MASQUERADE_MARK:08x}", f"goto {name[len('masq_'):]}"]
    return [f"add chain {prefix}"] + [f"add rule {prefix} {rule}" for rule in rules]


@dataclass
class RowRules:
    """Contribution of one row: owned elements, shared references, conflict flag."""

    elements: list[tuple[int, str, str]] = field(default_factory=list)
    hairpin: set[int] = field(default_factory=set)
    targets: set[Target] = field(default_factory=set)
    conflict: bool = False


def usable_endpoints(rows: ServicePortRows, row: int, local_only: bool) -> list[int]:
    """Return the endpoint indexes a frontend may use, in array order.

    Ready endpoints win; serving-but-terminating ones are used only when
    no endpoint is ready. local_only keeps endpoints on this node only.
    """
    start, end = int(rows.endpoint_offsets[row]), int(rows.endpoint_offsets[row + 1])
    candidates = [
        index
        for index in range(start, end)
        if not local_only or int(rows.endpoint_state[index]) & ENDPOINT_LOCAL
    ]
    ready = [index for index in candidates if int(rows.endpoint_state[index]) & ENDPOINT_READY]
    if ready:
        return ready
    fallback = ENDPOINT_SERVING | ENDPOINT_TERMINATING
    return [index for index in candidates if int(rows.endpoint_state[index]) & fallback == fallback]


def row_frontends(
    rows: ServicePortRows, row: int, node_addresses: Iterable[int]
) -> list[tuple[int, int, bool, bool]]:
    """Return (address, port, external, load balancer) of every frontend of a row."""
    frontends: list[tuple[int, int, bool, bool]] = []
    port = int(rows.port[row])
    if int(rows.cluster_ip[row]) != 0:
        frontends.append((int(rows.cluster_ip[row]), port, False, False))
    if int(rows.node_port[row]) != 0:
        for address in node_addresses:
            frontends.append((address, int(rows.node_port[row]), True, False))
    for index in range(int(rows.external_offsets[row]), int(rows.external_offsets[row + 1])):
        kind = int(rows.external_kind[index])
        frontends.append((int(rows.external_ip[index]), port, True, kind == LOAD_BALANCER_IP))
    return frontends


def row_rules(rows: ServicePortRows, row: int, node_addresses: list[int]) -> RowRules:
    """Compute the elements and references of one row, before conflicts."""
    rules = RowRules()
    flags = int(rows.flags[row])
    protocol = PROTOCOL_NAMES.get(int(rows.protocol[row]))
    if protocol is None:
        raise ValueError(
            f"rows.protocol[{row}]: unknown IP protocol {int(rows.protocol[row])}; "
            f"expected one of {sorted(PROTOCOL_NAMES)}"
        )
    affinity = bool(flags & AFFINITY_CLIENT_IP)
    timeout = int(rows.affinity_timeout[row]) if affinity else 0
    any_usable = bool(usable_endpoints(rows, row, local_only=False))
    for address, port, external, load_balancer in row_frontends(rows, row, node_addresses):
        key = f"{format_ip(address)} . {protocol} . {port}"
        if load_balancer:
            start, end = int(rows.range_offsets[row]), int(rows.range_offsets[row + 1])
            if end > start:
                rules.elements.append((RESTRICTED, key, ""))
            for index in range(start, end):
                source = f"{format_ip(int(rows.range_ip[index]))}/{int(rows.range_prefix[index])}"
                rules.elements.append((ALLOWED_SOURCES, f"{key} . {source}", ""))
        local_only = bool(flags & (EXTERNAL_POLICY_LOCAL if external else INTERNAL_POLICY_LOCAL))
        endpoints = usable_endpoints(rows, row, local_only)
        if endpoints:
            for slot, index in enumerate(endpoints):
                backend = f"{format_ip(int(rows.endpoint_ip[index]))} . {int(rows.endpoint_port[index])}"
                rules.elements.append((BACKENDS[protocol], f"{key} . {slot}", backend))
                # Only a pod on this node can reach itself through this
                # node's rules, so only local endpoints need a hairpin entry.
                if int(rows.endpoint_state[index]) & ENDPOINT_LOCAL:
                    rules.hairpin.add(int(rows.endpoint_ip[index]))
            # External traffic is masqueraded unless the policy keeps the
            # client's address by sending it only to local endpoints.
            target = (external and not local_only, affinity, protocol, len(endpoints), timeout)
            rules.targets.add(target)
            rules.elements.append((FRONTENDS, key, f"goto {target_chain(target)}"))
        elif any_usable:
            rules.elements.append((FRONTENDS, key, "drop"))
        else:
            rules.elements.append((NO_ENDPOINTS, key, ""))
    return rules


def needed_objects(target_refs: dict[Target, int]) -> set[DynamicObject]:
    """Return every dynamic chain and set the referenced targets need."""
    objects: set[DynamicObject] = set()
    for target, count in target_refs.items():
        if count > 0:
            objects.update(target_objects(target))
    return objects


@dataclass
class MirrorState:
    """Committed elements per row and who owns each (set, key)."""

    rows: dict[int, RowRules] = field(default_factory=dict)
    owners: list[dict[str, tuple[int, str]]] = field(
        default_factory=lambda: [{} for _ in SET_NAMES]
    )
    hairpin_refs: dict[int, int] = field(default_factory=dict)
    target_refs: dict[Target, int] = field(default_factory=dict)


class ReferenceCompiler:
    """Compile service port rows into nft commands against a committed mirror."""

    def __init__(self, table: str) -> None:
        self._table = table
        self._node_addresses: list[int] = []
        self._state = MirrorState()
        self._pending: MirrorState | None = None

    def set_node_addresses(self, addresses: list[int]) -> None:
        """Set the addresses NodePorts listen on; the next compile must be full."""
        self._node_addresses = list(addresses)

    def compile(self, rows: ServicePortRows, full: bool) -> CompileResult:
        """Return the commands that take the table from its mirror to ``rows``.

        full=True starts from an empty table (the caller recreates it), so
        rows must then hold every row; otherwise rows are the changed ones.
        The result stays pending until commit() or discard().
        """
        base = MirrorState() if full else self._state
        ids = [int(value) for value in rows.ids]
        if len(set(ids)) != len(ids):
            raise ValueError("rows.ids: an id appears twice in one batch; send each row once")
        owners = [dict(table) for table in base.owners]
        hairpin_refs = dict(base.hairpin_refs)
        target_refs = dict(base.target_refs)
        old_rows = {row_id: base.rows[row_id] for row_id in ids if row_id in base.rows}
        for old in old_rows.values():
            for set_id, key, _ in old.elements:
                del owners[set_id][key]
            for address in old.hairpin:
                hairpin_refs[address] -= 1
            for target in old.targets:
                target_refs[target] -= 1
        new_rows: dict[int, RowRules] = {}
        conflicts: list[int] = []
        for row, row_id in enumerate(ids):
            rules = row_rules(rows, row, self._node_addresses)
            kept: list[tuple[int, str, str]] = []
            for set_id, key, value in rules.elements:
                if key in owners[set_id]:
                    rules.conflict = True
                    continue
                owners[set_id][key] = (row_id, value)
                kept.append((set_id, key, value))
            rules.elements = kept
            for address in rules.hairpin:
                hairpin_refs[address] = hairpin_refs.get(address, 0) + 1
            for target in rules.targets:
                target_refs[target] = target_refs.get(target, 0) + 1
            if rules.conflict:
                conflicts.append(row_id)
            new_rows[row_id] = rules
        text = self._diff_text(base, old_rows, new_rows, owners, hairpin_refs, target_refs)
        pending_rows = dict(base.rows)
        for row_id, rules in new_rows.items():
            if rules.elements or rules.hairpin or rules.targets:
                pending_rows[row_id] = rules
            else:
                pending_rows.pop(row_id, None)
        self._pending = MirrorState(
            rows=pending_rows,
            owners=owners,
            hairpin_refs={address: refs for address, refs in hairpin_refs.items() if refs > 0},
            target_refs={target: refs for target, refs in target_refs.items() if refs > 0},
        )
        return CompileResult(text=text, conflicts=np.asarray(conflicts, dtype=np.int64))

    def _diff_text(
        self,
        base: MirrorState,
        old_rows: dict[int, RowRules],
        new_rows: dict[int, RowRules],
        owners: list[dict[str, tuple[int, str]]],
        hairpin_refs: dict[int, int],
        target_refs: dict[Target, int],
    ) -> str:
        deletes: list[list[str]] = [[] for _ in SET_NAMES]
        adds: list[list[str]] = [[] for _ in SET_NAMES]
        for old in old_rows.values():
            for set_id, key, value in old.elements:
                now = owners[set_id].get(key)
                if now is None or now[1] != value:
                    deletes[set_id].append(key)
        for rules in new_rows.values():
            for set_id, key, value in rules.elements:
                before = base.owners[set_id].get(key)
                # A key claimed here was free or owned by a row of this batch.
                if before is None or before[1] != value:
                    adds[set_id].append(f"{key} : {value}" if value else key)
        hairpin_adds = sorted(a for a, refs in hairpin_refs.items() if refs > 0 and base.hairpin_refs.get(a, 0) == 0)
        hairpin_deletes = sorted(a for a, refs in hairpin_refs.items() if refs == 0 and base.hairpin_refs.get(a, 0) > 0)
        old_objects = needed_objects(base.target_refs)
        new_objects = needed_objects(target_refs)
        lines: list[str] = []
        for obj in sorted(new_objects - old_objects):
            lines.extend(object_commands(self._table, obj))
        for set_id in reversed(range(len(SET_NAMES))):
            if deletes[set_id]:
                lines.append(self._element_command("delete", SET_NAMES[set_id], deletes[set_id]))
        if hairpin_deletes:
            keys = [f"{format_ip(a)} . {format_ip(a)}" for a in hairpin_deletes]
            lines.append(self._element_command("delete", "hairpin", keys))
        for set_id in range(len(SET_NAMES)):
            if adds[set_id]:
                lines.append(self._element_command("add", SET_NAMES[set_id], adds[set_id]))
        if hairpin_adds:
            keys = [f"{format_ip(a)} . {format_ip(a)}" for a in hairpin_adds]
            lines.append(self._element_command("add", "hairpin", keys))
        for rank, name in sorted(old_objects - new_objects, reverse=True):
            kind = "set" if rank == SET_RANK else "chain"
            lines.append(f"delete {kind} ip {self._table} {name}")
        return "".join(line + "\n" for line in lines)

    def _element_command(self, verb: str, set_name: str, items: list[str]) -> str:
        commands = [
            f"{verb} element ip {self._table} {set_name} {{ {', '.join(items[start:start + ELEMENT_CHUNK])} }}"
            for start in range(0, len(items), ELEMENT_CHUNK)
        ]
        return "\n".join(commands)

    def commit(self) -> None:
        """Adopt the pending result of the last compile as the mirror."""
        if self._pending is None:
            raise RuntimeError("commit() without a pending compile; call compile() first")
        self._state = self._pending
        self._pending = None

    def discard(self) -> None:
        """Drop the pending result; the mirror stays as last committed."""
        self._pending = None

    def snapshot(self) -> list[str]:
        """Return the committed state as sorted lines, for comparing compilers."""
        lines = [
            f"{SET_NAMES[set_id]} {key} : {value}"
            for set_id, table in enumerate(self._state.owners)
            for key, (_, value) in table.items()
        ]
        lines.extend(f"hairpin {format_ip(a)}" for a in self._state.hairpin_refs)
        lines.extend(f"object {name}" for _, name in needed_objects(self._state.target_refs))
        return sorted(lines)

    def counts(self) -> ElementCounts:
        """Return the number of committed elements per set and dynamic objects."""
        owners = self._state.owners
        return ElementCounts(
            frontends=len(owners[FRONTENDS]),
            backends=sum(len(owners[set_id]) for set_id in BACKENDS.values()),
            no_endpoints=len(owners[NO_ENDPOINTS]),
            restricted=len(owners[RESTRICTED]),
            allowed_sources=len(owners[ALLOWED_SOURCES]),
            hairpin=len(self._state.hairpin_refs),
            chains=len(needed_objects(self._state.target_refs)),
        )
