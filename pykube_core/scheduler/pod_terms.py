"""Compile pod label selectors, inter-pod affinity terms and spread constraints into TermArrays.

The node table compiles the terms of every pod it accounts (interning their
strings, because later pods must match them), and pod_arrays compiles the
incoming pod's terms (looking strings up, so scheduling does not grow the
interner). Both go through TermBuilder, so the two sides encode a term the
same way.

Label selectors follow metav1.LabelSelector: matchLabels and
matchExpressions are ANDed, an empty selector matches every pod and a nil
selector matches none. An expression Kubernetes cannot parse (In or NotIn
without values, Exists or DoesNotExist with values, another operator)
becomes a NEVER requirement, which matches no pod.

A term's namespaces are its namespaces list plus those its
namespaceSelector selects. namespaceSelector {} selects every namespace.
Any other namespaceSelector goes to the table's NamespaceResolver, which
the caller supplies because only the caller knows the namespaces' labels.
With neither a list nor a selector, the term selects its own pod's
namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pykube_core.scheduler.arrays import (
    UNKNOWN_ID,
    PodTermFlag,
    PodTermKind,
    RequirementOp,
    TermArrays,
)

HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEY = "topology.kubernetes.io/zone"

# kube-scheduler's system default spread constraints (PodTopologySpread's
# defaultingType System): (topologyKey, maxSkew), both ScheduleAnyway.
SYSTEM_DEFAULT_CONSTRAINTS = ((HOSTNAME_KEY, 3), (ZONE_KEY, 5))

# Returns the namespace names that a non-empty namespaceSelector selects.
NamespaceResolver = Callable[[Mapping[str, Any]], Iterable[str]]

# Maps a string to its interned id: Interner.intern, or Interner.lookup,
# which returns UNKNOWN_ID for a string no node or pod has.
IdOf = Callable[[str], int]

Requirement = tuple[int, int, tuple[int, ...]]  # (RequirementOp, key id, sorted value ids)

_SELECTOR_OPERATORS = {
    "In": RequirementOp.IN,
    "NotIn": RequirementOp.NOT_IN,
    "Exists": RequirementOp.EXISTS,
    "DoesNotExist": RequirementOp.DOES_NOT_EXIST,
}
_NEVER: Requirement = (int(RequirementOp.NEVER), UNKNOWN_ID, ())


@dataclass(frozen=True)
class PodTerm:
    """One compiled term; TermArrays describes the fields."""

    kind: PodTermKind
    weight: int
    topology_key: int
    flags: int
    namespaces: tuple[int, ...]
    requirements: tuple[Requirement, ...]
    min_domains: int = 1


@dataclass
class TermBuilder:
    """Accumulates PodTerms into the lists behind TermArrays."""

    kinds: list[int] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)
    min_domains: list[int] = field(default_factory=list)
    topology_keys: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    namespace_offsets: list[int] = field(default_factory=lambda: [0])
    namespaces: list[int] = field(default_factory=list)
    selector_offsets: list[int] = field(default_factory=lambda: [0])
    requirement_ops: list[int] = field(default_factory=list)
    requirement_keys: list[int] = field(default_factory=list)
    requirement_value_offsets: list[int] = field(default_factory=lambda: [0])
    requirement_values: list[int] = field(default_factory=list)

    def add(self, term: PodTerm, owner: int = -1) -> None:
        self.kinds.append(int(term.kind))
        self.weights.append(term.weight)
        self.min_domains.append(term.min_domains)
        self.topology_keys.append(term.topology_key)
        self.flags.append(term.flags)
        self.owners.append(owner)
        self.namespaces.extend(term.namespaces)
        self.namespace_offsets.append(len(self.namespaces))
        for op, key, values in term.requirements:
            self.requirement_ops.append(op)
            self.requirement_keys.append(key)
            self.requirement_values.extend(values)
            self.requirement_value_offsets.append(len(self.requirement_values))
        self.selector_offsets.append(len(self.requirement_ops))

    def arrays(self) -> TermArrays:
        return TermArrays(
            kinds=np.array(self.kinds, dtype=np.int8),
            weights=np.array(self.weights, dtype=np.int64),
            min_domains=np.array(self.min_domains, dtype=np.int64),
            topology_keys=np.array(self.topology_keys, dtype=np.int32),
            flags=np.array(self.flags, dtype=np.uint8),
            owners=np.array(self.owners, dtype=np.int64),
            namespace_offsets=np.array(self.namespace_offsets, dtype=np.int64),
            namespaces=np.array(self.namespaces, dtype=np.int32),
            selector_offsets=np.array(self.selector_offsets, dtype=np.int64),
            requirement_ops=np.array(self.requirement_ops, dtype=np.int8),
            requirement_keys=np.array(self.requirement_keys, dtype=np.int32),
            requirement_value_offsets=np.array(self.requirement_value_offsets, dtype=np.int64),
            requirement_values=np.array(self.requirement_values, dtype=np.int32),
        )


def pod_namespace(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("namespace") or "default")


def pod_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in ((pod.get("metadata") or {}).get("labels") or {}).items()}


def selector_requirements(selector: Mapping[str, Any] | None, id_of: IdOf) -> list[Requirement]:
    """Compile a metav1.LabelSelector; None (a nil selector) matches nothing."""
    if selector is None:
        return [_NEVER]
    requirements: list[Requirement] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append((int(RequirementOp.IN), id_of(str(key)), _ids([str(value)], id_of)))
    for expression in selector.get("matchExpressions") or []:
        requirements.append(_expression(expression, id_of))
    return requirements


def _expression(expression: Mapping[str, Any], id_of: IdOf) -> Requirement:
    op = _SELECTOR_OPERATORS.get(str(expression.get("operator") or ""))
    values = [str(value) for value in expression.get("values") or []]
    key = id_of(str(expression.get("key") or ""))
    if op is None:
        return _NEVER
    if op in (RequirementOp.IN, RequirementOp.NOT_IN):
        return (int(op), key, _ids(values, id_of)) if values else _NEVER
    return (int(op), key, ()) if not values else _NEVER


def _ids(values: Sequence[str], id_of: IdOf) -> tuple[int, ...]:
    """Return the sorted unique ids of the values, leaving out strings that no node or pod has."""
    ids = {id_of(value) for value in values}
    ids.discard(UNKNOWN_ID)
    return tuple(sorted(ids))


def _is_empty_selector(selector: Mapping[str, Any]) -> bool:
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def affinity_terms(
    pod: Mapping[str, Any], id_of: IdOf, resolver: NamespaceResolver | None
) -> list[PodTerm]:
    """Compile the pod's podAffinity and podAntiAffinity terms, required ones first."""
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    sections = (
        ("podAffinity", PodTermKind.REQUIRED_AFFINITY, PodTermKind.PREFERRED_AFFINITY),
        ("podAntiAffinity", PodTermKind.REQUIRED_ANTI_AFFINITY, PodTermKind.PREFERRED_ANTI_AFFINITY),
    )
    terms: list[PodTerm] = []
    for section, required_kind, _ in sections:
        for term in (affinity.get(section) or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []:
            terms.append(_affinity_term(pod, term, required_kind, 0, id_of, resolver))
    for section, _, preferred_kind in sections:
        for weighted in (affinity.get(section) or {}).get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            term = weighted.get("podAffinityTerm") or {}
            weight = int(weighted.get("weight") or 0)
            terms.append(_affinity_term(pod, term, preferred_kind, weight, id_of, resolver))
    return terms


def _affinity_term(
    pod: Mapping[str, Any],
    term: Mapping[str, Any],
    kind: PodTermKind,
    weight: int,
    id_of: IdOf,
    resolver: NamespaceResolver | None,
) -> PodTerm:
    names = [str(name) for name in term.get("namespaces") or []]
    namespace_selector = term.get("namespaceSelector")
    flags = 0
    if namespace_selector is not None:
        if _is_empty_selector(namespace_selector):
            flags |= PodTermFlag.ALL_NAMESPACES
        elif resolver is not None:
            names.extend(resolver(namespace_selector))
        # NOTE: without a resolver, a non-empty namespaceSelector selects no namespace.
    elif not names:
        names = [pod_namespace(pod)]
    return PodTerm(
        kind=kind,
        weight=weight,
        topology_key=id_of(str(term.get("topologyKey") or "")),
        flags=int(flags),
        namespaces=_ids(names, id_of),
        requirements=tuple(selector_requirements(term.get("labelSelector"), id_of)),
    )


def spread_terms(
    pod: Mapping[str, Any], id_of: IdOf, default_selectors: Sequence[Mapping[str, Any]] | None
) -> tuple[list[PodTerm], bool]:
    """Compile the pod's topology spread constraints; return them and whether they are the system defaults.

    A pod without constraints gets the system defaults when default_selectors
    contains the selectors of the Services, ReplicaSets, ReplicationControllers
    and StatefulSets that select the pod (each a LabelSelector; wrap a
    Service's spec.selector map as {"matchLabels": ...}). The defaults use
    those selectors ANDed, and are dropped when that leaves no requirement.
    """
    spec = pod.get("spec") or {}
    namespace = (id_of(pod_namespace(pod)),)
    constraints = spec.get("topologySpreadConstraints") or []
    if constraints:
        return [_spread_term(pod, constraint, namespace, id_of) for constraint in constraints], False
    requirements: list[Requirement] = []
    for selector in default_selectors or ():
        requirements.extend(selector_requirements(selector, id_of))
    if not requirements:
        return [], False
    terms = [
        PodTerm(
            kind=PodTermKind.SOFT_SPREAD,
            weight=max_skew,
            topology_key=id_of(key),
            flags=int(PodTermFlag.HONOR_NODE_AFFINITY | (PodTermFlag.HOSTNAME_KEY if key == HOSTNAME_KEY else 0)),
            namespaces=namespace,
            requirements=tuple(requirements),
        )
        for key, max_skew in SYSTEM_DEFAULT_CONSTRAINTS
    ]
    return terms, True


def _spread_term(
    pod: Mapping[str, Any], constraint: Mapping[str, Any], namespace: tuple[int, ...], id_of: IdOf
) -> PodTerm:
    key = str(constraint.get("topologyKey") or "")
    max_skew = int(constraint.get("maxSkew") or 0)
    if max_skew <= 0:
        raise ValueError(
            f"pod {pod_namespace(pod)}/{(pod.get('metadata') or {}).get('name')}: "
            f"topologySpreadConstraints maxSkew is {max_skew}; it must be at least 1"
        )

    hard = (constraint.get("whenUnsatisfiable") or "DoNotSchedule") == "DoNotSchedule"
    requirements = selector_requirements(constraint.get("labelSelector"), id_of)
    labels = pod_labels(pod)
    # matchLabelKeys adds "key In (the pod's value)" for each listed key the pod has.
    for label_key in constraint.get("matchLabelKeys") or []:
        if label_key in labels:
            requirements.append((int(RequirementOp.IN), id_of(label_key), _ids([labels[label_key]], id_of)))

    flags = 0
    if (constraint.get("nodeAffinityPolicy") or "Honor") == "Honor":
        flags |= PodTermFlag.HONOR_NODE_AFFINITY
    if (constraint.get("nodeTaintsPolicy") or "Ignore") == "Honor":
        flags |= PodTermFlag.HONOR_TAINTS
    if key == HOSTNAME_KEY:
        flags |= PodTermFlag.HOSTNAME_KEY
    return PodTerm(
        kind=PodTermKind.HARD_SPREAD if hard else PodTermKind.SOFT_SPREAD,
        weight=max_skew,
        topology_key=id_of(key),
        flags=int(flags),
        namespaces=namespace,
        requirements=tuple(requirements),
        min_domains=int(constraint.get("minDomains") or 1) if hard else 1,
    )
