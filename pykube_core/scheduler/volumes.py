"""VolumeBinding and VolumeZone for bound PersistentVolumes: which nodes a pod's claims allow.

A pod's persistentVolumeClaim volumes restrict its nodes through the
PersistentVolumes bound to the claims:

- VolumeBinding: a PV's spec.nodeAffinity.required node selector terms
  (ORed; the expressions of a term ANDed) must match the node, or the node
  "had volume node affinity conflict";
- VolumeZone: a PV's zone and region labels (a value may list several
  zones joined by "__") must contain the node's value of the same label,
  or the node "had no available volume zone". A node without any zone or
  region label passes, and a beta label on one side matches the GA label
  on the other, as in kube-scheduler 1.35.

A claim that is missing, being deleted, unbound, or bound to a missing PV
rejects every node before filtering (kube-scheduler's PreFilter), with
kube-scheduler's message. The result is a per-row VolumeConflict mask that
the filter kernels apply after NodeResourcesFit.

Differences from kube-scheduler: every unbound claim counts as an
immediate one, because there is no dynamic binding or StorageClass lookup
yet. So a WaitForFirstConsumer claim keeps its pod unschedulable instead
of being bound and provisioned. Inline and ephemeral volumes are ignored.
NOTE: the message of an unbound claim follows kube-scheduler's PreFilter
form ("0/N nodes are available: <reason>.") without its preemption suffix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pykube_core.scheduler.arrays import VolumeConflict
from pykube_core.scheduler.interner import parse_int64
from pykube_core.scheduler.node_table import NodeTable

UNBOUND_IMMEDIATE_CLAIMS = "pod has unbound immediate PersistentVolumeClaims"

# GA label -> its beta predecessor. VolumeZone accepts either on each side.
TOPOLOGY_LABELS = {
    "topology.kubernetes.io/zone": "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region": "failure-domain.beta.kubernetes.io/region",
}
BETA_TO_GA = {beta: ga for ga, beta in TOPOLOGY_LABELS.items()}
ZONE_VALUE_SEPARATOR = "__"

Object = Mapping[str, Any]
# Returns the PersistentVolumeClaim namespace/name, or None when it does not exist.
ClaimLookup = Callable[[str, str], Object | None]
# Returns the PersistentVolume with that name, or None.
VolumeLookup = Callable[[str], Object | None]


@dataclass(frozen=True)
class VolumeCheck:
    """The outcome for one pod.

    conflicts has one VolumeConflict per table row, or is None when the
    pod's volumes restrict no node. rejection is the message of a failure
    that rejects every node (an unbound or missing claim), else None.
    """

    conflicts: NDArray[np.int8] | None = None
    rejection: str | None = None


def claim_names(pod: Object) -> list[str]:
    """Return the claim names of the pod's persistentVolumeClaim volumes, in spec order."""
    names = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        claim = volume.get("persistentVolumeClaim")
        if claim and claim.get("claimName"):
            names.append(str(claim["claimName"]))
    return names


def check_volumes(table: NodeTable, pod: Object, claims: ClaimLookup, volumes: VolumeLookup) -> VolumeCheck:
    """Return the nodes the pod's bound volumes allow; see the module docstring."""
    names = claim_names(pod)
    if not names:
        return VolumeCheck()
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    bound: list[Object] = []
    unbound = False
    for name in names:
        claim = claims(namespace, name)
        if claim is None:
            return VolumeCheck(rejection=f'persistentvolumeclaim "{name}" not found')
        if (claim.get("metadata") or {}).get("deletionTimestamp"):
            return VolumeCheck(rejection=f'persistentvolumeclaim "{name}" is being deleted')
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if not volume_name:
            unbound = True
            continue
        volume = volumes(str(volume_name))
        if volume is None:
            return VolumeCheck(rejection=f'persistentvolume "{volume_name}" not found')
        bound.append(volume)
    if unbound:
        return VolumeCheck(rejection=UNBOUND_IMMEDIATE_CLAIMS)
    terms = [_required_terms(volume) for volume in bound]
    zones = [_zone_sets(volume) for volume in bound]
    if not any(term is not None for term in terms) and not any(zones):
        return VolumeCheck()
    conflicts = np.zeros(len(table), dtype=np.int8)
    names_by_row = table.names()
    for row in range(len(table)):
        labels = table.labels_of_row(row)
        if not all(t is None or _node_matches(t, labels, names_by_row[row]) for t in terms):
            conflicts[row] = VolumeConflict.NODE_AFFINITY
        elif not all(_zone_matches(zone_set, labels) for zone_set in zones):
            conflicts[row] = VolumeConflict.ZONE
    return VolumeCheck(conflicts=conflicts)


def _required_terms(volume: Object) -> Sequence[Object] | None:
    required = (((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required")) or None
    if required is None:
        return None
    return list(required.get("nodeSelectorTerms") or [])


def _zone_sets(volume: Object) -> dict[str, set[str]]:
    labels = (volume.get("metadata") or {}).get("labels") or {}
    return {
        key: set(str(value).split(ZONE_VALUE_SEPARATOR))
        for key, value in labels.items()
        if key in TOPOLOGY_LABELS or key in BETA_TO_GA
    }


def _zone_matches(zone_sets: Mapping[str, set[str]], labels: Mapping[str, str]) -> bool:
    if not zone_sets:
        return True
    if not any(key in labels for key in (*TOPOLOGY_LABELS, *BETA_TO_GA)):
        return True
    for key, values in zone_sets.items():
        value = labels.get(key)
        if value is None:
            value = labels.get(TOPOLOGY_LABELS.get(key) or BETA_TO_GA.get(key, ""))
        if value is None or value not in values:
            return False
    return True


def _node_matches(terms: Sequence[Object], labels: Mapping[str, str], node_name: str) -> bool:
    """Return True when one of the node selector terms matches; an empty list matches no node."""
    return any(_term_matches(term, labels, node_name) for term in terms)


def _term_matches(term: Object, labels: Mapping[str, str], node_name: str) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches no node
    fields_ok = all(_requirement_matches(f, {"metadata.name": node_name}) for f in fields)
    return fields_ok and all(_requirement_matches(e, labels) for e in expressions)


def _requirement_matches(requirement: Object, labels: Mapping[str, str]) -> bool:
    operator = requirement.get("operator")
    values = [str(v) for v in requirement.get("values") or []]
    value = labels.get(str(requirement.get("key") or ""))
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and len(values) == 1:
        number, operand = parse_int64(value), parse_int64(values[0])
        if number is None or operand is None:
            return False
        return number > operand if operator == "Gt" else number < operand
    return False
