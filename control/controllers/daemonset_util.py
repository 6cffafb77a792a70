"""The rules the DaemonSet controller applies to nodes and pods, on plain dicts.

The rules decide which nodes should run a daemon pod: those that meet its
nodeSelector and required node affinity and whose taints it tolerates.
They build the pod for one node, pinned to it by required node affinity on
``metadata.name``, as Kubernetes does because the default scheduler places
daemon pods. They also pick the old pods a rolling update may delete now.
They never write, so tests can check each rule on hand-built objects.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from pykube_control.controllers.deployment_util import resolve_int_or_percent, template_hash
from pykube_control.controllers.replicaset import pod_from_template
from pykube_control.controllers.replicaset_util import Object, is_pod_available, labels_of, metadata

TEMPLATE_HASH_LABEL = "controller-revision-hash"
"""Label holding the hash of the DaemonSet template a pod was made from."""
DEFAULT_MAX_UNAVAILABLE = 1

DEFAULT_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
"""Tolerations every daemon pod gets, so a sick or cordoned node keeps its daemons."""


def template_of(daemon_set: Mapping[str, Any]) -> dict[str, Any]:
    template = (daemon_set.get("spec") or {}).get("template")
    return template if isinstance(template, dict) else {}


def current_hash(daemon_set: Mapping[str, Any]) -> str:
    return template_hash(template_of(daemon_set))


def pod_hash(pod: Mapping[str, Any]) -> str | None:
    return labels_of(pod).get(TEMPLATE_HASH_LABEL)


# --- which nodes ------------------------------------------------------------------------------


def _requirement_matches(requirement: Mapping[str, Any], node_values: Mapping[str, str]) -> bool:
    key = str(requirement.get("key") or "")
    operator = requirement.get("operator")
    values = [str(value) for value in requirement.get("values") or []]
    present = key in node_values
    value = node_values.get(key, "")
    if operator == "In":
        return present and value in values
    if operator == "NotIn":
        return not present or value not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(values) == 1:
        try:
            number, bound = int(value), int(values[0])
        except ValueError:
            return False
        return number > bound if operator == "Gt" else number < bound
    return False


def _term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """Tell whether a NodeSelectorTerm matches; an empty term matches no node, as in Kubernetes."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    node_fields = {"metadata.name": str(metadata(node).get("name") or "")}
    return all(_requirement_matches(r, labels_of(node)) for r in expressions) and all(
        _requirement_matches(r, node_fields) for r in fields
    )


def matches_node_selection(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """Tell whether the node satisfies the pod spec's nodeSelector and required node affinity."""
    labels = labels_of(node)
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))  # fmt: skip
    if not required:
        return True
    return any(_term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def _tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key")
    if toleration.get("operator") == "Exists":
        return not key or key == taint.get("key")
    return key == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or "")


def tolerations_of(pod_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the pod spec's tolerations plus the daemon defaults it does not already have."""
    tolerations = [dict(t) for t in pod_spec.get("tolerations") or [] if isinstance(t, dict)]
    for default in DEFAULT_TOLERATIONS:
        if not any(t.get("key") == default["key"] and t.get("effect") == default["effect"] for t in tolerations):
            tolerations.append(dict(default))
    return tolerations


def tolerates_node(tolerations: Iterable[Mapping[str, Any]], node: Mapping[str, Any]) -> bool:
    """Tell whether every NoSchedule and NoExecute taint of the node is tolerated."""
    listed = list(tolerations)
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(toleration, taint) for toleration in listed):
            return False
    return True


def should_run(daemon_set: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """Tell whether the DaemonSet wants a pod on ``node``."""
    pod_spec = template_of(daemon_set).get("spec") or {}
    return matches_node_selection(pod_spec, node) and tolerates_node(tolerations_of(pod_spec), node)


# --- the pod for one node -----------------------------------------------------------------------


def target_node(pod: Mapping[str, Any]) -> str | None:
    """Return the node the pod runs on or is pinned to by a matchFields metadata.name term."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})  # fmt: skip
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            values = field.get("values") or []
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return None


def pod_for_node(daemon_set: Object, node_name: str, template_hash_value: str) -> Object:
    """Build the daemon pod for ``node_name``, pinned to it by required node affinity.

    The affinity replaces the template's required node selector terms,
    which the node already satisfies, with one term on the node's name, so
    the scheduler can place the pod on that node only.
    """
    pod = pod_from_template(daemon_set)
    pod["metadata"]["labels"] = {**pod["metadata"]["labels"], TEMPLATE_HASH_LABEL: template_hash_value}
    spec: dict[str, Any] = copy.deepcopy(pod["spec"])
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]
    }
    spec["tolerations"] = tolerations_of(spec)
    pod["spec"] = spec
    return pod


# --- rolling update -----------------------------------------------------------------------------


def max_unavailable(daemon_set: Mapping[str, Any], desired: int) -> int:
    """Return spec.updateStrategy.rollingUpdate.maxUnavailable resolved against ``desired`` nodes (at least 1)."""
    rolling = ((daemon_set.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxUnavailable", DEFAULT_MAX_UNAVAILABLE)
    resolved = resolve_int_or_percent(value, desired, True, "spec.updateStrategy.rollingUpdate.maxUnavailable")
    return max(1, resolved)


def is_rolling_update(daemon_set: Mapping[str, Any]) -> bool:
    strategy = (daemon_set.get("spec") or {}).get("updateStrategy") or {}
    return bool(strategy.get("type", "RollingUpdate") == "RollingUpdate")


def rolling_update_victims(
    node_pods: Mapping[str, list[Object]],
    new_hash: str,
    allowed_unavailable: int,
    min_ready_seconds: int,
    now: datetime.datetime,
) -> list[Object]:
    """Return the old pods to delete now so that at most ``allowed_unavailable`` eligible nodes lack an available pod.

    ``node_pods`` maps every eligible node to its active daemon pods. Old
    pods that are not available go at once, since deleting them costs
    nothing; old available pods go only while the budget lasts; an old pod
    beside an available new one on the same node is surplus and goes too.
    """
    victims: list[Object] = []
    old_available: list[Object] = []
    unavailable = 0
    for pods in node_pods.values():
        new = [pod for pod in pods if pod_hash(pod) == new_hash]
        old = [pod for pod in pods if pod_hash(pod) != new_hash]
        if new:
            if any(is_pod_available(pod, min_ready_seconds, now) for pod in new):
                victims.extend(old)
            else:
                unavailable += 1
        elif not old:
            unavailable += 1
        elif any(is_pod_available(pod, min_ready_seconds, now) for pod in old):
            old_available.extend(old)
        else:
            unavailable += 1
            victims.extend(old)
    victims.extend(old_available[: max(0, allowed_unavailable - unavailable)])
    return victims
