"""The scheduler's cache: a NodeTable kept in sync with the informers and the scheduler's own bindings.

The table must account every pod that runs on a node, including pods the
scheduler has just placed but whose binding the informer has not shown
yet. Without them, the next cycle would place pods on resources that are
already taken. So a pod is in one of two states here:

- assumed: the scheduler chose its node, and the bind is in flight. A
  failed bind removes the assumption.
- bound: the informer shows spec.nodeName. Seeing the bound pod replaces
  its assumption, so a pod is never counted twice.

The informer shows each placed pod again when its binding lands and when
its node reports its status. Those updates change nothing the table
accounts, so the cache compares a fingerprint of the accounted fields
(labels, spec without nodeName, deletionTimestamp) and skips the table
when it is unchanged, which saves two re-accountings per placed pod.

Pods bound to a node the table does not have (the pod informer ran ahead
of the node informer, or the node was deleted) wait here and are
accounted when that node is added. Pods that finished (phase Succeeded or
Failed) release their resources, as in kube-scheduler.
"""

from __future__ import annotations

import logging
from typing import Any

from pykube_core.scheduler import NodeTable
from pykube_core.scheduler.node_table import PodAccounting

log = logging.getLogger("pykube.scheduler")

Pod = dict[str, Any]
Node = dict[str, Any]

TERMINAL_PHASES = ("Succeeded", "Failed")


def node_of(pod: Pod) -> str:
    """Return spec.nodeName, or "" for a pending pod."""
    return str((pod.get("spec") or {}).get("nodeName") or "")


def is_terminal(pod: Pod) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


def accounting_fingerprint(pod: Pod) -> tuple[Any, ...]:
    """Return the fields of a pod that the NodeTable accounts, spec.nodeName excluded."""
    metadata = pod.get("metadata") or {}
    spec = {name: value for name, value in (pod.get("spec") or {}).items() if name != "nodeName"}
    return metadata.get("labels"), spec, metadata.get("deletionTimestamp") is not None


def _key(pod: Pod) -> str:
    metadata = pod.get("metadata") or {}
    return f"{metadata.get('namespace') or 'default'}/{metadata.get('name', '')}"


class SchedulerCache:
    """The NodeTable plus the assumed and bound pods behind it; see the module docstring."""

    def __init__(self, table: NodeTable | None = None) -> None:
        self.table = table if table is not None else NodeTable()
        self._assumed: dict[str, str] = {}
        """Pod key -> node name of pods whose bind is in flight."""
        self._bound: dict[str, dict[str, Pod]] = {}
        """Node name -> pod key -> pod, for every running pod, whether or not its node is known."""
        self._bound_node: dict[str, str] = {}
        self._accounted: dict[str, tuple[str, tuple[Any, ...]]] = {}
        """Pod key -> (node name, accounting_fingerprint) of the pod as the table accounts it."""

    # --- nodes -------------------------------------------------------------------------------

    def add_node(self, node: Node) -> None:
        """Add or update a node; a new node accounts the bound pods that were waiting for it."""
        name = node["metadata"]["name"]
        is_new = name not in self.table
        self.table.add_node(node)
        if is_new:
            for pod in self._bound.get(name, {}).values():
                self.table.add_pod(pod)

    def remove_node(self, name: str) -> None:
        """Remove a node; its bound pods stay known and return with the node, its assumed pods are dropped."""
        if name not in self.table:
            return
        self.table.remove_node(name)
        for key in [key for key, node in self._assumed.items() if node == name]:
            del self._assumed[key]
        for key in [key for key, (node, _) in self._accounted.items() if node == name]:
            del self._accounted[key]

    # --- pods --------------------------------------------------------------------------------

    def assume(self, pod: Pod, node_name: str, accounting: PodAccounting | None = None) -> None:
        """Account a pod on the chosen node before its bind returns; see ``NodeTable.assume_pod`` for ``accounting``."""
        self.table.assume_pod(pod, node_name, accounting)
        self._assumed[_key(pod)] = node_name
        self._accounted[_key(pod)] = (node_name, accounting_fingerprint(pod))

    def forget(self, pod: Pod) -> None:
        """Undo ``assume`` after a failed bind, unless the informer has shown the pod bound meanwhile."""
        key = _key(pod)
        node_name = self._assumed.pop(key, None)
        if node_name is None or key in self._bound_node:
            return
        if node_name in self.table:
            self.table.remove_pod(pod)
            self._accounted.pop(key, None)

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def pods_on(self, node_name: str) -> list[Pod]:
        """Return the bound pods the informer shows on a node; pods whose bind is in flight are not included."""
        return list(self._bound.get(node_name, {}).values())

    def update_pod(self, pod: Pod) -> None:
        """Account a pod the informer shows bound; release it when it has finished."""
        node_name = node_of(pod)
        if not node_name:
            return
        if is_terminal(pod):
            self.remove_pod(pod)
            return
        key = _key(pod)
        previous = self._bound_node.get(key)
        if previous is not None and previous != node_name:
            self._bound[previous].pop(key, None)
        self._assumed.pop(key, None)
        self._bound.setdefault(node_name, {})[key] = pod
        self._bound_node[key] = node_name
        if node_name in self.table:
            accounted = (node_name, accounting_fingerprint(pod))
            if self._accounted.get(key) != accounted:
                self.table.add_pod(pod)
                self._accounted[key] = accounted
        else:
            # The assumption, if any, was on another node or the node is gone.
            self.table.remove_pod(pod)
            self._accounted.pop(key, None)

    def remove_pod(self, pod: Pod) -> None:
        """Stop accounting a pod that was deleted or finished."""
        key = _key(pod)
        self._assumed.pop(key, None)
        node_name = self._bound_node.pop(key, None)
        if node_name is not None:
            self._bound[node_name].pop(key, None)
            if not self._bound[node_name]:
                del self._bound[node_name]
        self.table.remove_pod(pod)
        self._accounted.pop(key, None)
