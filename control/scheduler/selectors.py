"""The label selectors of the workloads that select a pod, for PodTopologySpread's system defaults.

kube-scheduler spreads a pod without topologySpreadConstraints by the
system default constraints (hostname maxSkew 3, zone maxSkew 5, both
ScheduleAnyway), counting the pods that the pod's Services,
ReplicationControllers and ReplicaSets select. This module keeps informers
of those three kinds and returns the selectors of the objects that select a
given pod, in the same namespace.

Difference from kube-scheduler: StatefulSets are not served yet, so their
selectors are missing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.labels import selector_from_label_selector
from pykube_control.client.api import APIClient
from pykube_control.client.indexer import BY_NAMESPACE, namespace_index
from pykube_control.client.informer import Informer
from pykube_control.client.resource import REPLICA_SETS, SERVICES, resource_for

log = logging.getLogger("pykube.scheduler")

REPLICATION_CONTROLLERS = resource_for("", "v1", "replicationcontrollers")

LabelSelector = Mapping[str, Any]


class WorkloadSelectors:
    """Informers of Services, ReplicationControllers and ReplicaSets, indexed by namespace."""

    def __init__(self, client: APIClient) -> None:
        indexers = {BY_NAMESPACE: namespace_index}
        self.services = Informer(client, SERVICES, indexers=indexers)
        self.controllers = Informer(client, REPLICATION_CONTROLLERS, indexers=indexers)
        self.replica_sets = Informer(client, REPLICA_SETS, indexers=indexers)
        self.informers = (self.services, self.controllers, self.replica_sets)

    def selectors_for(self, pod: Mapping[str, Any]) -> list[LabelSelector]:
        """Return the selectors (as metav1.LabelSelector) of the objects that select the pod."""
        metadata = pod.get("metadata") or {}
        namespace = metadata.get("namespace") or "default"
        labels = metadata.get("labels") or {}
        found: list[LabelSelector] = []
        # Services and ReplicationControllers select with a plain label map.
        for informer in (self.services, self.controllers):
            for obj in informer.store.by_index(BY_NAMESPACE, namespace):
                selector = (obj.get("spec") or {}).get("selector")
                if selector and all(labels.get(key) == value for key, value in selector.items()):
                    found.append({"matchLabels": dict(selector)})
        for replica_set in self.replica_sets.store.by_index(BY_NAMESPACE, namespace):
            selector = (replica_set.get("spec") or {}).get("selector")
            if selector and _selects(selector, labels, replica_set):
                found.append(selector)
        return found


def _selects(selector: LabelSelector, labels: Mapping[str, str], owner: Mapping[str, Any]) -> bool:
    try:
        return selector_from_label_selector(selector).matches(labels)
    except FieldError as error:
        name = (owner.get("metadata") or {}).get("name")
        log.warning("invalid selector skipped replicaset=%s error=%s", name, error)
        return False
