"""The namespace controller: empties a terminating namespace, then lets the server delete it.

Deleting a Namespace only marks it: the server sets deletionTimestamp and
phase Terminating and keeps it while ``spec.finalizers`` contains
"kubernetes". For such a namespace this controller

1. discovers every namespaced resource and deletes each collection in the
   namespace (background propagation, so the garbage collector removes
   dependents in other namespaces later),
2. lists each collection again and records what remains in the
   namespace's status conditions (see ``namespace_conditions``),
3. re-checks after a growing delay while anything remains, because pods
   on a node leave only after their grace period,
4. removes "kubernetes" from ``spec.finalizers`` through the finalize
   subresource once nothing remains. The server then deletes the
   namespace unless ``metadata.finalizers`` still holds it.

Every pass reads the namespace with a live GET, because the informer only
signals that something changed and may lag.

Differences from Kubernetes: no Events are recorded (Kubernetes records
none either); the re-check delay grows by doubling instead of being
estimated from the remaining pods' grace periods; resources that do not
serve deletecollection are skipped instead of deleted one by one.
"""

from __future__ import annotations

import datetime
import logging

from pykube_control.client.api import APIClient
from pykube_control.client.errors import APIConnectionError, APIError, NotFound
from pykube_control.client.indexer import Object
from pykube_control.client.resource import NAMESPACES, Resource
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.namespace_conditions import ContentReport, conditions_for, merge_conditions
from pykube_control.controllers.namespace_requests import NamespaceRequests

log = logging.getLogger("pykube.controllers.namespace")

FINALIZER = "kubernetes"
"""The spec finalizer this controller owns; the API server adds it to every new namespace."""
RECHECK_INITIAL = 1.0
"""Seconds before the first re-check of a namespace whose content is still being deleted."""
RECHECK_MAX = 30.0
"""Seconds; the cap of the re-check delay, which doubles per pass (a pod's default grace period is 30 s)."""


class NamespaceController:
    """Deletes the content of terminating namespaces; see the module docstring."""

    name = "namespace"

    def __init__(
        self, context: ControllerContext, *, recheck_initial: float = RECHECK_INITIAL, recheck_max: float = RECHECK_MAX
    ) -> None:
        if recheck_initial <= 0 or recheck_max < recheck_initial:
            raise ValueError(
                f"namespace re-check needs 0 < recheck_initial <= recheck_max, got {recheck_initial} and {recheck_max}"
            )
        self._client: APIClient = context.client
        self._requests = NamespaceRequests(context.client.config)
        self._recheck_initial = recheck_initial
        self._recheck_max = recheck_max
        self._passes: dict[str, int] = {}
        self._queue: WorkQueue[str] = WorkQueue("namespace")
        context.informers.get(NAMESPACES).add_handlers(on_add=self._on_add, on_update=self._on_update)

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self._queue, workers, self.sync)
        finally:
            self._queue.shutdown()
            await self._requests.close()

    async def _on_add(self, namespace: Object) -> None:
        if (namespace.get("metadata") or {}).get("deletionTimestamp"):
            self._queue.add(str(namespace["metadata"]["name"]))

    async def _on_update(self, old: Object, new: Object) -> None:
        await self._on_add(new)

    async def sync(self, name: str) -> None:
        """Run one deletion pass over namespace ``name``; raise on API errors so the worker retries."""
        try:
            namespace = await self._client.get(NAMESPACES, name)
        except NotFound:
            self._passes.pop(name, None)
            return
        metadata = namespace.get("metadata") or {}
        finalizers = list((namespace.get("spec") or {}).get("finalizers") or [])
        if not metadata.get("deletionTimestamp") or FINALIZER not in finalizers:
            self._passes.pop(name, None)
            return

        report = await self.delete_content(name)
        namespace = await self._write_conditions(namespace, report)
        if not report.empty:
            delay = self._next_delay(name)
            log.info(
                "namespace content remaining namespace=%s resources=%s failures=%d recheck_in=%.1f",
                name, dict(report.remaining), len(report.failures), delay,
            )  # fmt: skip
            self._queue.add_after(name, delay)
            return

        remaining = [finalizer for finalizer in finalizers if finalizer != FINALIZER]
        await self._requests.finalize(namespace, remaining)
        self._passes.pop(name, None)
        log.info("namespace finalized namespace=%s finalizers_left=%s", name, ",".join(remaining) or "none")

    async def delete_content(self, namespace: str) -> ContentReport:
        """Delete every collection in ``namespace`` and return what is left."""
        report = ContentReport()
        try:
            resources = await self._requests.namespaced_resources()
        except (APIError, APIConnectionError) as error:
            log.warning("namespace discovery failed namespace=%s error=%s", namespace, error)
            report.discovery_error = str(error)
            return report
        counted: set[tuple[str, str]] = set()
        for resource in resources:
            await self._empty_collection(resource, namespace, report, counted)
        return report

    async def _empty_collection(
        self, resource: Resource, namespace: str, report: ContentReport, counted: set[tuple[str, str]]
    ) -> None:
        label = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
        try:
            await self._requests.delete_collection(resource, namespace)
            listing = await self._client.list(resource, namespace=namespace)
        except (APIError, APIConnectionError) as error:
            log.warning("namespace content deletion failed namespace=%s resource=%s error=%s", namespace, label, error)
            report.failures.append(f"{label}: {error}")
            return
        # An old group version lists the objects of the stored one; count them under the stored group once.
        stored = (str(listing.get("apiVersion") or ""), str(listing.get("kind") or label))
        if stored in counted:
            return
        counted.add(stored)
        items = listing.get("items") or []
        if not items:
            return
        group = stored[0].rpartition("/")[0]
        report.remaining[f"{resource.plural}.{group}" if group else resource.plural] += len(items)
        for item in items:
            for finalizer in (item.get("metadata") or {}).get("finalizers") or []:
                report.finalizers[str(finalizer)] += 1

    async def _write_conditions(self, namespace: Object, report: ContentReport) -> Object:
        """Store the report's conditions in the namespace's status when they changed; return the namespace."""
        status = namespace.get("status") or {}
        existing = list(status.get("conditions") or [])
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        merged = merge_conditions(existing, conditions_for(report), now)
        if merged == existing:
            return namespace
        updated = {**namespace, "status": {**status, "conditions": merged}}
        return await self._client.update_status(NAMESPACES, updated)

    def _next_delay(self, name: str) -> float:
        passes = self._passes.get(name, 0)
        self._passes[name] = passes + 1
        return min(self._recheck_max, self._recheck_initial * 2.0 ** min(passes, 32))


def new_namespace_controller(context: ControllerContext) -> NamespaceController:
    return NamespaceController(context)
