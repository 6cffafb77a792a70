"""Nominated pods: the room a preemptor waits for while its victims terminate.

After preemption picks a node, the preemptor is nominated there
(status.nominatedNodeName) and waits in the queue until the victims are
gone. Meanwhile, another pod could take the room the victims free. So for
the length of each scheduling cycle, ``reserve`` accounts every nominated
pod whose priority is at least that of the pod being scheduled on its
nominated node, and ``release`` takes the reservations back out. So a pod
of lower priority never fits into room reserved for a nominated pod,
while a pod of higher priority does not see the reservation and may take
that room, as in kube-scheduler.

A nomination also remembers its victims, so the preemptor does not pick
more victims while the first ones are still accounted on their node.

Differences from kube-scheduler: kube-scheduler runs the filters twice,
with and without the nominated pods, so that a nominated pod that would
help (pod affinity) cannot make a pod fit. Here the nominated pods are
only added, so such a pod may be placed next to a nominated pod that then
lands elsewhere.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from pykube_core.scheduler import NodeTable
from pykube_control.scheduler.queue import pod_key, pod_priority

log = logging.getLogger("pykube.scheduler")

Pod = dict[str, Any]


@dataclasses.dataclass
class Nomination:
    pod: Pod
    node: str
    victims: tuple[Pod, ...]


class Nominator:
    """Nominated pods by key; see the module docstring."""

    def __init__(self) -> None:
        self._nominations: dict[str, Nomination] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._nominations

    def node_of(self, key: str) -> str | None:
        nomination = self._nominations.get(key)
        return None if nomination is None else nomination.node

    def nominate(self, pod: Pod, node: str, victims: tuple[Pod, ...]) -> list[Pod]:
        """Nominate a preemptor on ``node``; return the lower-priority pods nominated there, now un-nominated.

        Those pods lose their reservation because the preemptor takes the
        room, as kube-scheduler clears their nominatedNodeName.
        """
        key = pod_key(pod)
        self._nominations[key] = Nomination(pod, node, victims)
        priority = pod_priority(pod)
        displaced = [
            nomination.pod
            for other, nomination in self._nominations.items()
            if other != key and nomination.node == node and pod_priority(nomination.pod) < priority
        ]
        for displaced_pod in displaced:
            del self._nominations[pod_key(displaced_pod)]
        return displaced

    def update(self, pod: Pod) -> None:
        """Keep the latest object of a nominated pod, whose priority and requests the reservation uses."""
        nomination = self._nominations.get(pod_key(pod))
        if nomination is not None:
            nomination.pod = pod

    def remove(self, key: str) -> None:
        """Forget a nomination: the pod was placed, deleted or handed to another scheduler."""
        self._nominations.pop(key, None)

    def victims_pending(self, key: str, table: NodeTable) -> bool:
        """Return True while any victim of the pod's nomination is still accounted in the table."""
        nomination = self._nominations.get(key)
        if nomination is None:
            return False
        return any(table.pod_node(victim) is not None for victim in nomination.victims)

    def reserve(self, table: NodeTable, pod: Mapping[str, Any]) -> list[Pod]:
        """Account the nominated pods that ``pod`` must leave room for; return them for ``release``.

        Nominated pods of at least the pod's priority are reserved, except
        the pod itself and pods the table already accounts.
        """
        key = pod_key(dict(pod))
        priority = pod_priority(dict(pod))
        reserved: list[Pod] = []
        for other, nomination in self._nominations.items():
            if other == key or pod_priority(nomination.pod) < priority:
                continue
            if nomination.node not in table or table.pod_node(nomination.pod) is not None:
                continue
            table.assume_pod(nomination.pod, nomination.node)
            reserved.append(nomination.pod)
        return reserved

    def release(self, table: NodeTable, reserved: list[Pod]) -> None:
        """Take back the reservations ``reserve`` made."""
        for pod in reserved:
            table.remove_pod(pod)
