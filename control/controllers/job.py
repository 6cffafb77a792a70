"""The Job controller: run pods of a template until enough of them succeed, or give up.

One sync of a Job, from the informers' caches:

1. A finished Job (a true Complete or Failed condition) only waits for
   ``ttlSecondsAfterFinished`` and is then deleted with background
   propagation, so its pods go with it.
2. Otherwise the pods the Job controls are counted: active, succeeded,
   failed, and, under restartPolicy OnFailure, container restarts, which
   count as failures as they do in Kubernetes.
3. Failures above ``backoffLimit`` or a passed ``activeDeadlineSeconds``
   fail the Job; enough successes complete it. Either way the active pods
   are deleted and the condition, completionTime and an Event written.
4. A running Job creates or deletes pods so that the active ones number
   min(parallelism, completions - succeeded); a suspended one deletes them
   all. Expectations, as in the ReplicaSet controller, keep a sync from
   acting again before its own creates and deletes reach the cache. After
   a failure, new pods wait an exponential back-off (``backoff_base``
   seconds, doubling per failure, capped at ``backoff_max``).

Differences from Kubernetes:

- Pods carry no job-tracking finalizer, so the counts are the larger of
  the last status and the pods that still exist.
- There is no FailureTarget or SuccessCriteriaMet step, no Indexed
  completion mode, podFailurePolicy or successPolicy.
- Orphan pods are not adopted. The generated selector contains the Job's
  uid, so only a Job with manualSelector could have any.
- ttlSecondsAfterFinished is handled here instead of in a separate TTL
  controller.
- The back-off is kept in memory per Job, so a restart of the controller
  resets it.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
import time
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.labels import Selector, selector_from_label_selector

from pykube_control.client.errors import APIError, Conflict, NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.indexer import BY_NAMESPACE, object_key, split_key
from pykube_control.client.informer import Informer
from pykube_control.client.resource import JOBS, PODS
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.job_util import (
    BACKOFF_LIMIT_EXCEEDED,
    BACKOFF_LIMIT_MESSAGE,
    COMPLETE,
    DEADLINE_EXCEEDED,
    DEADLINE_MESSAGE,
    DEFAULT_BACKOFF_LIMIT,
    FAILED,
    PodCounts,
    count_pods,
    deadline,
    finished_at,
    finished_condition,
    is_complete,
    is_suspended,
    restart_policy,
    set_condition,
    spec_int,
    start_time,
    desired_active,
)
from pykube_control.controllers.owned_pods import OwnedPodHandlers
from pykube_control.controllers.replicaset import pod_from_template
from pykube_control.controllers.replicaset_util import (
    Expectations,
    Object,
    controller_ref,
    deletion_order,
    format_time,
    is_being_deleted,
    is_pod_ready,
    labels_of,
    metadata,
    now_utc,
)

log = logging.getLogger("pykube.controllers")

BACKOFF_BASE = 10.0
"""Seconds a Job waits before replacing its first failed pod, kube-controller-manager's DefaultJobPodFailureBackOff."""
BACKOFF_MAX = 360.0
"""Seconds the doubling back-off stops at, kube-controller-manager's MaxJobPodFailureBackOff."""


def job_selector(job: Object) -> Selector:
    """Return the Job's selector; an invalid or missing one matches nothing."""
    try:
        return selector_from_label_selector((job.get("spec") or {}).get("selector"))
    except (FieldError, ValueError):
        return Selector.nothing()


class JobController:
    """Runs the pods of every Job to completion or failure; see the module docstring."""

    name = "job"

    def __init__(
        self,
        context: ControllerContext,
        *,
        backoff_base: float = BACKOFF_BASE,
        backoff_max: float = BACKOFF_MAX,
        expectations: Expectations | None = None,
    ) -> None:
        self.client = context.client
        self.recorder: EventRecorder = context.recorder("job-controller")
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.expectations = expectations or Expectations()
        self.queue: WorkQueue[str] = WorkQueue(self.name)
        self.jobs: Informer = context.informers.get(JOBS)
        self.pods: Informer = context.informers.get(PODS)
        self._failures: dict[str, tuple[int, float]] = {}
        """Job key -> (failures last seen, monotonic time they were first seen), for the back-off."""
        self.jobs.add_handlers(on_add=self._job_added, on_update=self._job_updated, on_delete=self._job_deleted)
        self.pod_events = OwnedPodHandlers("Job", self.jobs, self.expectations, self.queue)
        self.pod_events.register(self.pods)

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self.queue, workers, self.sync)
        finally:
            self.queue.shutdown()

    # --- event handlers -----------------------------------------------------------------------

    async def _job_added(self, job: Object) -> None:
        self.queue.add(object_key(job))

    async def _job_updated(self, old: Object, new: Object) -> None:
        self.queue.add(object_key(new))

    async def _job_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        key = object_key(obj)
        self.expectations.forget(key)
        self._failures.pop(key, None)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Reconcile one Job from the caches; raise to retry with back-off."""
        job = self.jobs.store.get(key)
        if job is None or is_being_deleted(job):
            self.expectations.forget(key)
            return
        if finished_condition(job) is not None:
            await self._expire(key, job)
            return
        now = now_utc()
        counts = count_pods(self._owned_pods(key, job))
        status: dict[str, Any] = copy.deepcopy(job.get("status") or {})
        succeeded = max(int(status.get("succeeded") or 0), counts.succeeded)
        failed = max(int(status.get("failed") or 0), counts.failed)
        if not is_suspended(job) and not status.get("startTime"):
            status["startTime"] = format_time(now)
        active = counts.active

        finish = self._finish_reason(job, status, counts, failed, succeeded, now)
        if finish is not None or (is_suspended(job) and active):
            await self._delete_pods(key, job, active, len(active))
            active = []
        elif self.expectations.satisfied(key):
            active = await self._manage(key, job, counts, failed, succeeded)

        status.update(active=len(active), succeeded=succeeded, failed=failed,
                      ready=sum(1 for pod in active if is_pod_ready(pod)))  # fmt: skip
        if finish is not None:
            await self._finish(job, status, finish, now)
        else:
            self._requeue_at_deadline(key, job, status, now)
        await self._write_status(job, status)

    def _owned_pods(self, key: str, job: Object) -> list[Object]:
        namespace, _ = split_key(key)
        uid = metadata(job).get("uid")
        selector = job_selector(job)
        return [
            pod for pod in self.pods.store.by_index(BY_NAMESPACE, namespace or "")
            if (controller_ref(pod) or {}).get("uid") == uid and selector.matches(labels_of(pod))
        ]  # fmt: skip

    def _finish_reason(
        self, job: Object, status: dict[str, Any], counts: PodCounts, failed: int, succeeded: int, now: datetime.datetime
    ) -> str | None:
        """Return COMPLETE, BACKOFF_LIMIT_EXCEEDED or DEADLINE_EXCEEDED when the Job is done, else None."""
        failures = failed + (counts.restarts if restart_policy(job) == "OnFailure" else 0)
        if failures > (spec_int(job, "backoffLimit", DEFAULT_BACKOFF_LIMIT) or 0):
            return BACKOFF_LIMIT_EXCEEDED
        if is_complete(job, succeeded, len(counts.active)):
            return COMPLETE
        expires = deadline(job, start_time({"status": status}))
        if expires is not None and expires <= now and not is_suspended(job):
            return DEADLINE_EXCEEDED
        return None

    async def _manage(self, key: str, job: Object, counts: PodCounts, failed: int, succeeded: int) -> list[Object]:
        """Create or delete pods toward the desired number; return the active pods that remain."""
        active = counts.active
        if is_suspended(job):
            return active
        desired = desired_active(job, succeeded)
        if len(active) > desired:
            victims = deletion_order(active, active)[: len(active) - desired]
            await self._delete_pods(key, job, victims, len(victims))
            return [pod for pod in active if pod not in victims]
        if len(active) < desired:
            wait = self._backoff_remaining(key, failed)
            if wait > 0:
                self.queue.add_after(key, wait)
                return active
            await self._create_pods(key, job, desired - len(active))
        return active

    def _backoff_remaining(self, key: str, failed: int) -> float:
        """Return the seconds new pods must still wait after the Job's last pod failure."""
        if failed <= 0 or self.backoff_base <= 0:
            return 0.0
        seen, since = self._failures.get(key, (0, 0.0))
        if failed != seen:
            seen, since = failed, time.monotonic()
            self._failures[key] = (seen, since)
        delay = min(self.backoff_base * 2.0 ** (failed - 1), self.backoff_max)
        return max(0.0, since + delay - time.monotonic())

    async def _create_pods(self, key: str, job: Object, count: int) -> None:
        self.expectations.expect(key, creations=count)
        results = await asyncio.gather(*(self._create_pod(job) for _ in range(count)), return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        for _ in errors:
            self.expectations.creation_observed(key)
        if errors:
            raise errors[0]

    async def _create_pod(self, job: Object) -> None:
        pod = pod_from_template(job)
        try:
            created = await self.client.create(PODS, pod, namespace=metadata(job).get("namespace"))
        except APIError as error:
            await self.recorder.record(job, "Warning", "FailedCreate", f"Error creating: {error}")
            raise
        name = metadata(created).get("name")
        log.info("pod created job=%s pod=%s", object_key(job), name)
        await self.recorder.record(job, "Normal", "SuccessfulCreate", f"Created pod: {name}")

    async def _delete_pods(self, key: str, job: Object, pods: list[Object], count: int) -> None:
        victims = pods[:count]
        if not victims:
            return
        self.expectations.expect(key, deletions=[object_key(pod) for pod in victims])
        results = await asyncio.gather(*(self._delete_pod(key, job, pod) for pod in victims), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _delete_pod(self, key: str, job: Object, pod: Object) -> None:
        meta = metadata(pod)
        try:
            await self.client.delete(PODS, meta["name"], namespace=meta.get("namespace"), precondition_uid=meta.get("uid"))
        except (NotFound, Conflict):
            self.expectations.deletion_observed(key, object_key(pod))
            return
        except APIError as error:
            self.expectations.deletion_observed(key, object_key(pod))
            await self.recorder.record(job, "Warning", "FailedDelete", f"Error deleting: {error}")
            raise
        log.info("pod deleted job=%s pod=%s", object_key(job), meta["name"])
        await self.recorder.record(job, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")

    async def _finish(self, job: Object, status: dict[str, Any], reason: str, now: datetime.datetime) -> None:
        if reason == COMPLETE:
            set_condition(status, COMPLETE, "True", "", "", now)
            status["completionTime"] = format_time(now)
            await self.recorder.record(job, "Normal", "Completed", "Job completed")
        else:
            message = BACKOFF_LIMIT_MESSAGE if reason == BACKOFF_LIMIT_EXCEEDED else DEADLINE_MESSAGE
            set_condition(status, FAILED, "True", reason, message, now)
            await self.recorder.record(job, "Warning", reason, message)
        log.info("job finished job=%s reason=%s", object_key(job), reason)

    def _requeue_at_deadline(self, key: str, job: Object, status: dict[str, Any], now: datetime.datetime) -> None:
        expires = deadline(job, start_time({"status": status}))
        if expires is not None and not is_suspended(job):
            self.queue.add_after(key, max(0.0, (expires - now).total_seconds()) + 0.01)

    async def _write_status(self, job: Object, status: dict[str, Any]) -> None:
        if status == (job.get("status") or {}):
            return
        updated = copy.deepcopy(job)
        updated["status"] = status
        await self.client.update_status(JOBS, updated)

    # --- ttlSecondsAfterFinished --------------------------------------------------------------

    async def _expire(self, key: str, job: Object) -> None:
        """Delete a finished Job once its ttlSecondsAfterFinished has passed; requeue until then."""
        ttl = spec_int(job, "ttlSecondsAfterFinished", None)
        done = finished_at(job)
        if ttl is None or done is None:
            return
        remaining = (done + datetime.timedelta(seconds=ttl) - now_utc()).total_seconds()
        if remaining > 0:
            self.queue.add_after(key, remaining + 0.01)
            return
        meta = metadata(job)
        try:
            await self.client.delete(JOBS, meta["name"], namespace=meta.get("namespace"),
                                     propagation_policy="Background", precondition_uid=meta.get("uid"))  # fmt: skip
        except (NotFound, Conflict):
            return
        log.info("finished job deleted job=%s ttl_seconds=%d", key, ttl)


def new_job_controller(context: ControllerContext) -> JobController:
    return JobController(context)
