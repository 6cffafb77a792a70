"""NoExecute taint eviction: pods leave nodes whose NoExecute taints they do not tolerate.

This is the node lifecycle controller's second loop, which Kubernetes
calls the taint eviction controller. It queues a pod when the pod changes
and every pod of a node when the node changes, found through a pod index
on spec.nodeName. A worker computes the pod's deadline from the node's
NoExecute taints (``eviction_time``): past the deadline it deletes the
pod, before it the key is queued again for the deadline. A deadline that
no longer holds, because the taint went away or the pod now tolerates it,
is simply found empty when the key comes back, so nothing is cancelled.

Differences from Kubernetes: tolerationSeconds counts from the taint's
timeAdded, which has seconds precision, so a pod may go up to one second
early. Kubernetes counts from when its controller first saw the pod under
the taint. Pods are deleted with their own grace period, and no
DisruptionTarget condition is added first.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence

from pykube_control.client.api import APIClient
from pykube_control.client.errors import Conflict, NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.indexer import Object, object_key, split_key
from pykube_control.client.informer import Informer
from pykube_control.client.workqueue import WorkQueue
from pykube_control.client.resource import PODS
from pykube_control.controllers.nodelifecycle_taints import NO_EXECUTE, eviction_time

log = logging.getLogger("pykube.controllers.nodelifecycle")

BY_NODE_NAME = "nodelifecycle_by_node_name"
"""Pod index on spec.nodeName; prefixed because the pod informer is shared with other controllers."""


def node_name_index(pod: Object) -> Sequence[str]:
    node_name = (pod.get("spec") or {}).get("nodeName")
    return [str(node_name)] if node_name else []


def no_execute_taints(node: Object) -> list[Object]:
    taints = (node.get("spec") or {}).get("taints") or []
    return [taint for taint in taints if isinstance(taint, dict) and taint.get("effect") == NO_EXECUTE]


class TaintEvictor:
    """Deletes pods once the NoExecute taints of their node are no longer tolerated."""

    def __init__(self, client: APIClient, nodes: Informer, pods: Informer, recorder: EventRecorder) -> None:
        self._client = client
        self._nodes = nodes
        self._pods = pods
        self._recorder = recorder
        self.queue: WorkQueue[str] = WorkQueue("nodelifecycle-eviction")
        self._pods.store.add_indexer(BY_NODE_NAME, node_name_index)
        self._pods.add_handlers(on_add=self._on_pod, on_update=self._on_pod_update)
        self._nodes.add_handlers(on_add=self._on_node, on_update=self._on_node_update)

    async def _on_pod(self, pod: Object) -> None:
        if node_name_index(pod) and not pod["metadata"].get("deletionTimestamp"):
            self.queue.add(object_key(pod))

    async def _on_pod_update(self, old: Object, new: Object) -> None:
        await self._on_pod(new)

    async def _on_node(self, node: Object) -> None:
        if no_execute_taints(node):
            self._queue_pods_of(str(node["metadata"]["name"]))

    async def _on_node_update(self, old: Object, new: Object) -> None:
        if no_execute_taints(old) != no_execute_taints(new):
            self._queue_pods_of(str(new["metadata"]["name"]))

    def _queue_pods_of(self, node_name: str) -> None:
        for pod in self._pods.store.by_index(BY_NODE_NAME, node_name):
            self.queue.add(object_key(pod))

    async def sync(self, key: str) -> None:
        """Delete pod ``key`` when its deadline passed, or queue it again for the deadline."""
        pod = self._pods.store.get(key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        node = self._nodes.store.get(str((pod.get("spec") or {}).get("nodeName") or ""))
        if node is None:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        deadline = eviction_time(pod, no_execute_taints(node), now)
        if deadline is None:
            return
        remaining = (deadline - now).total_seconds()
        if remaining > 0:
            self.queue.add_after(key, remaining)
            return
        await self._delete(key, pod)

    async def _delete(self, key: str, pod: Object) -> None:
        namespace, name = split_key(key)
        node_name = pod["spec"]["nodeName"]
        try:
            await self._client.delete(PODS, name, namespace=namespace, precondition_uid=pod["metadata"].get("uid"))
        except (NotFound, Conflict):
            # Gone already, or replaced by a new pod of the same name, which gets its own key event.
            return
        log.info("pod evicted by taint pod=%s node=%s", key, node_name)
        await self._recorder.record(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {key}")
