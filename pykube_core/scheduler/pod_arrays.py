"""Compile a pod's scheduling constraints into PodArrays for one NodeTable.

This is where the Kubernetes API shapes turn into kernel codes: requests
into the table's resource columns, tolerations, spec.nodeSelector and node
affinity into terms of requirements, host ports and container images into
interned ids. Strings are looked up without interning, so a value no node
has becomes UNKNOWN_ID and matches nothing.

Node affinity follows Kubernetes' NodeSelector semantics: terms are ORed,
the expressions and fields inside a term are ANDed, and spec.nodeSelector
must match as well. A term with no expressions and no fields matches no
node. Some requirements cannot be parsed by Kubernetes: In or NotIn without
values, Exists or DoesNotExist with values, Gt or Lt without exactly one
integer, an unknown operator, or a field other than metadata.name. Such a
requirement makes its term match no node, as kube-scheduler's lazy parsing
does for required terms.

The pod's labels and namespace are interned, unlike its other strings,
because its own terms must match it: the first pod of a self-affine group
and a spread constraint's self-match depend on it. The table interns them
anyway once the pod is assumed. Its inter-pod affinity terms and spread
constraints compile through pykube_core.scheduler.pod_terms.

Differences from kube-scheduler (Kubernetes 1.35):

- An unparseable preferred term is skipped; kube-scheduler fails the pod's
  scheduling cycle with an error instead.
- Toleration operators Gt and Lt (alpha in 1.35) are treated as unknown
  operators, which tolerate nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pykube_core.scheduler.arrays import (
    ANY_ID,
    CPU_COLUMN,
    MEMORY_COLUMN,
    PODS_COLUMN,
    UNKNOWN_ID,
    PodArrays,
    RequirementOp,
    TaintEffect,
    TermKind,
    TolerationOp,
)
from pykube_core.scheduler.interner import parse_int64
from pykube_core.scheduler.node_table import (
    TAINT_EFFECTS,
    WILDCARD_ADDRESS,
    NodeTable,
    host_ports,
    protocol_code,
)
from pykube_core.scheduler.pod_terms import (
    TermBuilder,
    affinity_terms,
    pod_labels,
    pod_namespace,
    spread_terms,
)
from pykube_core.scheduler.requests import pod_requests

UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"

_LABEL_OPERATORS = {
    "In": RequirementOp.IN,
    "NotIn": RequirementOp.NOT_IN,
    "Exists": RequirementOp.EXISTS,
    "DoesNotExist": RequirementOp.DOES_NOT_EXIST,
    "Gt": RequirementOp.GREATER_THAN,
    "Lt": RequirementOp.LESS_THAN,
}
_FIELD_OPERATORS = {"In": RequirementOp.NAME_IN, "NotIn": RequirementOp.NAME_NOT_IN}


@dataclass
class _Terms:
    """Accumulates terms and requirements into the lists behind PodArrays."""

    kinds: list[int] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=lambda: [0])
    ops: list[int] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    value_offsets: list[int] = field(default_factory=lambda: [0])
    values: list[int] = field(default_factory=list)

    def add_requirement(self, op: int, key: int = UNKNOWN_ID, values: Sequence[int] = (), number: int = 0) -> None:
        self.ops.append(op)
        self.keys.append(key)
        self.numbers.append(number)
        self.values.extend(sorted(values))
        self.value_offsets.append(len(self.values))

    def end_term(self, kind: TermKind, weight: int = 0) -> None:
        self.kinds.append(int(kind))
        self.weights.append(weight)
        self.offsets.append(len(self.ops))


def compile_pod(
    table: NodeTable,
    pod: Mapping[str, Any],
    *,
    default_spread_selectors: Sequence[Mapping[str, Any]] | None = None,
) -> PodArrays:
    """Compile a pod (Kubernetes JSON) against the table's strings and resource columns.

    A resource the table has not seen gets a new all-zero column, so the
    pod's request for it fails on every node, as it should.
    default_spread_selectors are the label selectors of the Services,
    ReplicaSets, ReplicationControllers and StatefulSets that select the
    pod. A pod without spread constraints gets the system default
    constraints with them (pod_terms.spread_terms). None or an empty list
    means no default constraints.
    """
    spec = pod.get("spec") or {}
    intern = table.strings.intern
    labels = sorted((intern(key), intern(value)) for key, value in pod_labels(pod).items())
    namespace_id = intern(pod_namespace(pod))
    pod_terms = TermBuilder()
    for term in affinity_terms(pod, table.strings.lookup, table.namespace_resolver):
        pod_terms.add(term)
    spread, system_default = spread_terms(pod, table.strings.lookup, default_spread_selectors)
    for term in spread:
        pod_terms.add(term)
    requests, nonzero = _request_vectors(table, pod)
    tolerations = [_compile_toleration(table, t) for t in spec.get("tolerations") or []]
    terms = _compile_affinity(table, spec)
    ports = host_ports(pod)
    images = _image_ids(table, spec)
    node_name = spec.get("nodeName") or ""
    return PodArrays(
        requests=requests,
        nonzero_requests=nonzero,
        node_name_id=table.strings.lookup(node_name) if node_name else ANY_ID,
        tolerates_unschedulable=tolerates_unschedulable(spec.get("tolerations") or []),
        toleration_keys=np.array([t[0] for t in tolerations], dtype=np.int32),
        toleration_ops=np.array([t[1] for t in tolerations], dtype=np.int8),
        toleration_values=np.array([t[2] for t in tolerations], dtype=np.int32),
        toleration_effects=np.array([t[3] for t in tolerations], dtype=np.int8),
        term_kinds=np.array(terms.kinds, dtype=np.int8),
        term_weights=np.array(terms.weights, dtype=np.int64),
        term_offsets=np.array(terms.offsets, dtype=np.int64),
        requirement_ops=np.array(terms.ops, dtype=np.int8),
        requirement_keys=np.array(terms.keys, dtype=np.int32),
        requirement_numbers=np.array(terms.numbers, dtype=np.int64),
        requirement_value_offsets=np.array(terms.value_offsets, dtype=np.int64),
        requirement_values=np.array(terms.values, dtype=np.int32),
        port_ips=np.array([_ip_id(table, ip) for ip, _, _ in ports], dtype=np.int32),
        port_numbers=np.array([number for _, number, _ in ports], dtype=np.int32),
        port_protocols=np.array([protocol_code(protocol) for _, _, protocol in ports], dtype=np.int8),
        image_ids=np.array(images, dtype=np.int32),
        container_count=len(spec.get("containers") or []) + len(spec.get("initContainers") or []),
        namespace_id=namespace_id,
        label_keys=np.array([key for key, _ in labels], dtype=np.int32),
        label_values=np.array([value for _, value in labels], dtype=np.int32),
        terms=pod_terms.arrays(),
        system_default_spread=system_default,
    )


def _request_vectors(table: NodeTable, pod: Mapping[str, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    requests = pod_requests(pod)
    nonzero = pod_requests(pod, scoring_defaults=True)
    columns = {resource: table.column_of(resource) for resource in requests}
    width = len(table.resources)
    request_vector = np.zeros(width, dtype=np.int64)
    for resource, amount in requests.items():
        request_vector[columns[resource]] = amount
    request_vector[PODS_COLUMN] = 1
    nonzero_vector = request_vector.copy()
    nonzero_vector[CPU_COLUMN] = nonzero.get("cpu", 0)
    nonzero_vector[MEMORY_COLUMN] = nonzero.get("memory", 0)
    return request_vector, nonzero_vector


def tolerates_unschedulable(tolerations: Sequence[Mapping[str, Any]]) -> bool:
    """Return True when a toleration tolerates node.kubernetes.io/unschedulable:NoSchedule."""
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        key = toleration.get("key") or ""
        if effect not in ("", "NoSchedule") or key not in ("", UNSCHEDULABLE_TAINT_KEY):
            continue
        operator = toleration.get("operator") or "Equal"
        if operator == "Exists" or (operator == "Equal" and not toleration.get("value")):
            return True
    return False


def _compile_toleration(table: NodeTable, toleration: Mapping[str, Any]) -> tuple[int, int, int, int]:
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    effect = toleration.get("effect") or ""
    op = {"Equal": TolerationOp.EQUAL, "Exists": TolerationOp.EXISTS}.get(operator, TolerationOp.INVALID)
    effect_code = TAINT_EFFECTS.get(effect, TaintEffect.OTHER) if effect else TaintEffect.ANY
    return (
        table.strings.lookup(key) if key else ANY_ID,
        int(op),
        table.strings.lookup(str(toleration.get("value") or "")),
        int(effect_code),
    )


def _compile_affinity(table: NodeTable, spec: Mapping[str, Any]) -> _Terms:
    terms = _Terms()
    for key, value in (spec.get("nodeSelector") or {}).items():
        terms.add_requirement(RequirementOp.IN, table.strings.lookup(key), _known(table, [value]))
    terms.end_term(TermKind.SELECTOR)

    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None:
        selector_terms = required.get("nodeSelectorTerms") or []
        if not selector_terms:
            # A required selector with no terms matches no node.
            terms.add_requirement(RequirementOp.NEVER)
            terms.end_term(TermKind.REQUIRED)
        for term in selector_terms:
            if not _add_term_requirements(table, terms, term):
                terms.add_requirement(RequirementOp.NEVER)
            terms.end_term(TermKind.REQUIRED)

    for preferred in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
        weight = int(preferred.get("weight") or 0)
        preference = preferred.get("preference") or {}
        if weight == 0 or not _has_requirements(preference):
            continue
        start = len(terms.ops)
        if not _add_term_requirements(table, terms, preference) or RequirementOp.NEVER in terms.ops[start:]:
            _drop_requirements(terms, start)
            continue
        terms.end_term(TermKind.PREFERRED, weight)
    return terms


def _has_requirements(term: Mapping[str, Any]) -> bool:
    return bool(term.get("matchExpressions") or term.get("matchFields"))


def _add_term_requirements(table: NodeTable, terms: _Terms, term: Mapping[str, Any]) -> bool:
    """Add the requirements of one NodeSelectorTerm; return False for an empty term."""
    if not _has_requirements(term):
        return False
    for expression in term.get("matchExpressions") or []:
        _add_label_requirement(table, terms, expression)
    for expression in term.get("matchFields") or []:
        _add_field_requirement(table, terms, expression)
    return True


def _add_label_requirement(table: NodeTable, terms: _Terms, expression: Mapping[str, Any]) -> None:
    op = _LABEL_OPERATORS.get(expression.get("operator") or "")
    values = [str(value) for value in expression.get("values") or []]
    key = table.strings.lookup(str(expression.get("key") or ""))
    if op is None:
        terms.add_requirement(RequirementOp.NEVER)
    elif op in (RequirementOp.IN, RequirementOp.NOT_IN):
        if values:
            terms.add_requirement(op, key, _known(table, values))
        else:
            terms.add_requirement(RequirementOp.NEVER)
    elif op in (RequirementOp.EXISTS, RequirementOp.DOES_NOT_EXIST):
        terms.add_requirement(op if not values else RequirementOp.NEVER, key)
    else:
        number = parse_int64(values[0]) if len(values) == 1 else None
        if number is None:
            terms.add_requirement(RequirementOp.NEVER)
        else:
            terms.add_requirement(op, key, number=number)


def _add_field_requirement(table: NodeTable, terms: _Terms, expression: Mapping[str, Any]) -> None:
    op = _FIELD_OPERATORS.get(expression.get("operator") or "")
    values = [str(value) for value in expression.get("values") or []]
    if op is None or expression.get("key") != "metadata.name" or len(values) != 1:
        terms.add_requirement(RequirementOp.NEVER)
        return
    terms.add_requirement(op, values=_known(table, values))


def _drop_requirements(terms: _Terms, start: int) -> None:
    del terms.ops[start:], terms.keys[start:], terms.numbers[start:]
    del terms.value_offsets[start + 1 :]
    del terms.values[terms.value_offsets[-1] :]


def _known(table: NodeTable, values: Sequence[str]) -> list[int]:
    """Return the sorted unique ids of the values that some node has."""
    ids = {table.strings.lookup(value) for value in values}
    ids.discard(UNKNOWN_ID)
    return sorted(ids)


def _ip_id(table: NodeTable, address: str) -> int:
    if address == WILDCARD_ADDRESS:
        return -1
    return table.strings.lookup(address)


def normalized_image_name(name: str) -> str:
    """Add ":latest" to an image name without a tag, as ImageLocality does."""
    if name.rfind(":") <= name.rfind("/"):
        return name + ":latest"
    return name


def _image_ids(table: NodeTable, spec: Mapping[str, Any]) -> list[int]:
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    ids = [table.strings.lookup(normalized_image_name(str(c.get("image") or ""))) for c in containers]
    return [image_id for image_id in ids if image_id != UNKNOWN_ID]
