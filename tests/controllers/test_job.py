"""The Job controller against a real API server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pykube_control.client.api import APIClient
from pykube_control.client.errors import Conflict, NotFound
from pykube_control.client.informer import Informer
from pykube_control.client.resource import JOBS, PODS
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.job import JobController
from pykube_control.controllers.job_util import count_pods, is_complete, set_condition, desired_active
from tests.controllers.helpers import (  # noqa: F401 (api and server are fixtures)
    api,
    event_reasons,
    eventually,
    running,
    server,
)

Object = dict[str, Any]
Outcome = Callable[[Object], str]
"""Picks the phase a pod ends in: "Succeeded", "Failed", "Running" after two restarts, or "" to leave it."""


def make_job(name: str, restart_policy: str = "Never", **spec: Any) -> Object:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "work", "image": "busybox:1.36"}],
                    "restartPolicy": restart_policy,
                    "terminationGracePeriodSeconds": 0,
                }
            },
            **spec,
        },
    }


def fast_jobs(context: ControllerContext) -> JobController:
    return JobController(context, backoff_base=0.0)


async def _finish(client: APIClient, pod: Object, phase: str) -> None:
    meta = pod["metadata"]
    for _ in range(10):
        try:
            current = await client.get(PODS, meta["name"], namespace=meta["namespace"])
            current["status"] = {"phase": phase}
            if phase == "Running":
                # A container that crashed twice and was restarted in place, as under restartPolicy OnFailure.
                current["status"]["containerStatuses"] = [{"name": "work", "image": "busybox:1.36", "imageID": "",
                                                           "ready": False, "restartCount": 2}]  # fmt: skip
            await client.update_status(PODS, current)
            return
        except NotFound:
            return
        except Conflict:
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def finishing(client: APIClient, outcome: Outcome) -> AsyncIterator[list[str]]:
    """Play a node agent that ends each new pod in the phase ``outcome`` picks; yield the phases written."""
    informer = Informer(client, PODS)
    written: list[str] = []
    tasks: set[asyncio.Task[None]] = set()

    async def added(pod: Object) -> None:
        phase = outcome(pod)
        if phase:
            written.append(phase)
            task = asyncio.create_task(_finish(client, pod, phase))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    informer.add_handlers(on_add=added)
    informer.start()
    await informer.wait_for_sync(10)
    try:
        yield written
    finally:
        await informer.stop()
        for task in list(tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def job_status(client: APIClient, name: str) -> Object:
    job = await client.get(JOBS, name, namespace="default")
    status: Object = job.get("status") or {}
    return status


def true_condition(status: Object) -> tuple[str, str] | None:
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True":
            return condition["type"], condition.get("reason", "")
    return None


# --- rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "succeeded", "desired"),
    [
        pytest.param({"completions": 3, "parallelism": 2}, 0, 2, id="parallelism caps"),
        pytest.param({"completions": 3, "parallelism": 2}, 2, 1, id="completions left cap"),
        pytest.param({"completions": 3, "parallelism": 2}, 3, 0, id="done"),
        pytest.param({"parallelism": 2}, 0, 2, id="work queue running"),
        pytest.param({"parallelism": 2}, 1, 0, id="work queue one succeeded"),
    ],
)
def test_desired_active(spec: Object, succeeded: int, desired: int) -> None:
    assert desired_active({"spec": spec}, succeeded) == desired


@pytest.mark.parametrize(
    ("spec", "succeeded", "active", "complete"),
    [
        pytest.param({"completions": 2}, 2, 0, True, id="completions reached"),
        pytest.param({"completions": 2}, 1, 1, False, id="one missing"),
        pytest.param({}, 1, 1, False, id="work queue pods still running"),
        pytest.param({}, 1, 0, True, id="work queue drained"),
    ],
)
def test_is_complete(spec: Object, succeeded: int, active: int, complete: bool) -> None:
    assert is_complete({"spec": spec}, succeeded, active) is complete


def test_count_restarts() -> None:
    pods = [
        {"status": {"phase": "Running", "containerStatuses": [{"restartCount": 2}, {"restartCount": 1}]}},
        {"status": {"phase": "Failed"}},
        {"status": {"phase": "Succeeded"}},
    ]
    counts = count_pods(pods)
    assert (len(counts.active), counts.succeeded, counts.failed, counts.restarts) == (1, 1, 1, 3)


def test_condition_transition() -> None:
    status: Object = {}
    first = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    set_condition(status, "Failed", "True", "DeadlineExceeded", "late", first)
    set_condition(status, "Failed", "True", "DeadlineExceeded", "late", first + datetime.timedelta(hours=1))
    assert status["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


# --- against the API server ---------------------------------------------------------------------


async def test_completes(api: APIClient) -> None:
    async with running(api, [fast_jobs]), finishing(api, lambda pod: "Succeeded"):
        job = await api.create(JOBS, make_job("batch", completions=3, parallelism=2), namespace="default")

        async def done() -> bool:
            return true_condition(await job_status(api, "batch")) == ("Complete", "")

        await eventually(done, "the Job is Complete")
        status = await job_status(api, "batch")
        assert (status["succeeded"], status.get("failed"), status["active"]) == (3, 0, 0)
        assert status.get("completionTime")
        pods = (await api.list(PODS, namespace="default"))["items"]
        assert len(pods) == 3
        assert all(pod["metadata"]["labels"]["job-name"] == "batch" for pod in pods)
        assert all(pod["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"] for pod in pods)
        reasons = await event_reasons(api, "Job", "batch")
        assert reasons.count("SuccessfulCreate") == 3
        assert "Completed" in reasons


async def test_backoff_limit(api: APIClient) -> None:
    async with running(api, [fast_jobs]), finishing(api, lambda pod: "Failed"):
        await api.create(JOBS, make_job("flaky", backoffLimit=2), namespace="default")

        async def failed() -> bool:
            return true_condition(await job_status(api, "flaky")) == ("Failed", "BackoffLimitExceeded")

        await eventually(failed, "the Job failed with BackoffLimitExceeded")
        status = await job_status(api, "flaky")
        assert (status["failed"], status["active"]) == (3, 0)
        assert "BackoffLimitExceeded" in await event_reasons(api, "Job", "flaky")


async def test_on_failure_restarts(api: APIClient) -> None:
    async with running(api, [fast_jobs]), finishing(api, lambda pod: "Running"):
        await api.create(JOBS, make_job("crashy", "OnFailure", backoffLimit=1), namespace="default")

        async def failed() -> bool:
            return true_condition(await job_status(api, "crashy")) == ("Failed", "BackoffLimitExceeded")

        await eventually(failed, "the restarts exceed the backoff limit")
        assert (await job_status(api, "crashy"))["failed"] == 0


async def test_deadline(api: APIClient) -> None:
    async with running(api, [fast_jobs]):
        await api.create(JOBS, make_job("slow", activeDeadlineSeconds=1, parallelism=2), namespace="default")

        async def failed() -> bool:
            return true_condition(await job_status(api, "slow")) == ("Failed", "DeadlineExceeded")

        await eventually(failed, "the Job failed with DeadlineExceeded", timeout=10)

        async def no_pods() -> bool:
            return not (await api.list(PODS, namespace="default"))["items"]

        await eventually(no_pods, "the Job's running pods are deleted", timeout=10)
        assert (await job_status(api, "slow"))["active"] == 0


async def test_suspended(api: APIClient) -> None:
    async with running(api, [fast_jobs]):
        await api.create(JOBS, make_job("held", suspend=True), namespace="default")

        async def observed() -> bool:
            return "active" in await job_status(api, "held")

        await eventually(observed, "the suspended Job has a status", timeout=10)
        assert not (await api.list(PODS, namespace="default"))["items"]


async def test_ttl_after_finished(api: APIClient) -> None:
    async with running(api, [fast_jobs]), finishing(api, lambda pod: "Succeeded"):
        await api.create(JOBS, make_job("brief", ttlSecondsAfterFinished=1), namespace="default")

        async def gone() -> bool:
            try:
                await api.get(JOBS, "brief", namespace="default")
            except NotFound:
                return True
            return False

        await eventually(gone, "the finished Job is deleted after its TTL", timeout=15)
