"""The ServiceAccount controller: every active namespace has a "default" ServiceAccount.

Pods that name no service account run as "default", so the account must
exist in each namespace. The controller queues a namespace when it
appears or changes and when its "default" ServiceAccount is deleted, and
creates the account when the informer cache does not have it. A create
that finds the account already there (AlreadyExists) or the namespace
terminating or gone (Forbidden, NotFound) is not an error, because the
informers had not caught up yet.

Differences from Kubernetes: only the "default" account is managed (the
list is not configurable); no Events are recorded, as Kubernetes records
none.
"""

from __future__ import annotations

import logging

from pykube_control.client.api import APIClient
from pykube_control.client.errors import AlreadyExists, Forbidden, NotFound
from pykube_control.client.indexer import Object
from pykube_control.client.informer import Informer
from pykube_control.client.resource import NAMESPACES, resource_for
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext

log = logging.getLogger("pykube.controllers.serviceaccount")

SERVICE_ACCOUNTS = resource_for("", "v1", "serviceaccounts")
DEFAULT_ACCOUNT = "default"


def is_terminating(namespace: Object) -> bool:
    return bool((namespace.get("metadata") or {}).get("deletionTimestamp")) or (
        (namespace.get("status") or {}).get("phase") == "Terminating"
    )


class ServiceAccountController:
    """Creates the "default" ServiceAccount of each namespace that is not terminating."""

    name = "serviceaccount"

    def __init__(self, context: ControllerContext) -> None:
        self._client: APIClient = context.client
        self._namespaces: Informer = context.informers.get(NAMESPACES)
        self._accounts: Informer = context.informers.get(SERVICE_ACCOUNTS)
        self._queue: WorkQueue[str] = WorkQueue("serviceaccount")
        self._namespaces.add_handlers(on_add=self._on_namespace, on_update=self._on_namespace_update)
        self._accounts.add_handlers(on_delete=self._on_account_delete)

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self._queue, workers, self.sync)
        finally:
            self._queue.shutdown()

    async def _on_namespace(self, namespace: Object) -> None:
        if not is_terminating(namespace):
            self._queue.add(str(namespace["metadata"]["name"]))

    async def _on_namespace_update(self, old: Object, new: Object) -> None:
        await self._on_namespace(new)

    async def _on_account_delete(self, obj: Object, final_state_unknown: bool) -> None:
        metadata = obj.get("metadata") or {}
        if metadata.get("name") == DEFAULT_ACCOUNT and metadata.get("namespace"):
            self._queue.add(str(metadata["namespace"]))

    async def sync(self, namespace_name: str) -> None:
        """Create the "default" ServiceAccount of ``namespace_name`` when it is missing."""
        namespace = self._namespaces.store.get(namespace_name)
        if namespace is None or is_terminating(namespace):
            return
        if self._accounts.store.get_by_name(DEFAULT_ACCOUNT, namespace_name) is not None:
            return
        account = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": DEFAULT_ACCOUNT, "namespace": namespace_name},
        }
        try:
            await self._client.create(SERVICE_ACCOUNTS, account, namespace=namespace_name)
        except AlreadyExists:
            return
        except (Forbidden, NotFound) as error:
            log.info("service account not created namespace=%s reason=%s", namespace_name, error.reason)
            return
        log.info("service account created namespace=%s name=%s", namespace_name, DEFAULT_ACCOUNT)


def new_serviceaccount_controller(context: ControllerContext) -> ServiceAccountController:
    return ServiceAccountController(context)
