"""The Deployment controller, with the ReplicaSet controller, against a real API server."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pykube_control.apiserver.app import RunningAPIServer
from pykube_control.client.api import APIClient
from pykube_control.client.resource import DEPLOYMENTS, REPLICA_SETS
from pykube_control.controllers import deployment_util as util
from pykube_control.controllers.deployment import new_deployment_controller
from pykube_control.controllers.replicaset import new_replicaset_controller
from tests.controllers.helpers import (  # noqa: F401 (api and server are fixtures)
    PodRunner,
    api,
    event_reasons,
    eventually,
    is_ready,
    list_pods,
    make_deployment,
    patch_retrying,
    running,
    server,
)

CONTROLLERS = [new_deployment_controller, new_replicaset_controller]
SELECTOR = "app=web"


async def get_deployment(api: APIClient, name: str = "web") -> dict[str, Any]:
    return await api.get(DEPLOYMENTS, name, namespace="default")


async def replica_sets(api: APIClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.list(REPLICA_SETS, namespace="default")).get("items") or []
    return items


async def complete(api: APIClient, name: str = "web") -> bool:
    deployment = await get_deployment(api, name)
    return util.is_complete(deployment, deployment.get("status") or {})


def revision_of(deployment: dict[str, Any]) -> str:
    return str((deployment["metadata"].get("annotations") or {}).get(util.REVISION, ""))


def progressing_reason(deployment: dict[str, Any]) -> str:
    found = util.condition(deployment.get("status") or {}, "Progressing")
    return str((found or {}).get("reason", ""))


async def set_image(api: APIClient, image: str, name: str = "web") -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}
    await patch_retrying(api, DEPLOYMENTS, name, patch)


# --- unit: hash and arithmetic ------------------------------------------------------------------------


def test_template_hash_stable() -> None:
    template = make_deployment("web", 1)["spec"]["template"]
    # A fixed value: the hash names ReplicaSets, so it must not change between releases or restarts.
    assert util.template_hash(template) == util.template_hash(copy.deepcopy(template))
    assert util.template_hash(template) == "867cc4bf"


def test_template_hash_collision_count() -> None:
    template = make_deployment("web", 1)["spec"]["template"]
    assert util.template_hash(template, 1) != util.template_hash(template)


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        pytest.param(10, "25%", "25%", (3, 2), id="percent surge up unavailable down"),
        pytest.param(4, 1, 1, (1, 1), id="absolute"),
        pytest.param(3, 0, "10%", (0, 1), id="both zero makes unavailable 1"),
        pytest.param(1, "100%", "0%", (1, 0), id="full surge"),
    ],
)
def test_surge_and_unavailable(replicas: int, surge: object, unavailable: object, expected: tuple[int, int]) -> None:
    deployment = make_deployment(
        "web", replicas, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    )
    assert util.surge_and_unavailable(deployment) == expected


def test_invalid_percent_names_field() -> None:
    deployment = make_deployment("web", 2, strategy={"rollingUpdate": {"maxSurge": "x%"}})
    with pytest.raises(ValueError, match="maxSurge"):
        util.surge_and_unavailable(deployment)


def test_proportion_shares_scale_up() -> None:
    # Two sets of 6 and 4 pods made for 10 + surge 3 = 13; the Deployment grows to 20 (+5 surge = 25).
    deployment = make_deployment("web", 20, strategy={"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}})
    bigger = {"metadata": {"annotations": {util.MAX_REPLICAS: "13"}}, "spec": {"replicas": 6}}
    assert util.proportion(bigger, deployment, to_add=15, added=0) == round(6 * 25 / 13) - 6


# --- against an API server ----------------------------------------------------------------------------


async def test_deployment_creates_replica_set(api: APIClient) -> None:
    await api.create(DEPLOYMENTS, make_deployment("web", 2, progressDeadlineSeconds=60))
    async with PodRunner(api), running(api, CONTROLLERS):
        await eventually(lambda: complete(api), "the rollout is complete")

    deployment = await get_deployment(api)
    (replica_set,) = await replica_sets(api)
    hash_value = util.template_hash(deployment["spec"]["template"])
    pods = await list_pods(api, SELECTOR)
    available = util.condition(deployment["status"], "Available") or {}
    assert replica_set["metadata"]["name"] == f"web-{hash_value}"
    assert replica_set["spec"]["template"]["metadata"]["labels"][util.POD_TEMPLATE_HASH] == hash_value
    assert replica_set["metadata"]["annotations"][util.REVISION] == "1"
    assert deployment["metadata"]["annotations"][util.REVISION] == "1"
    assert len(pods) == 2
    assert all(pod["metadata"]["labels"][util.POD_TEMPLATE_HASH] == hash_value for pod in pods)
    assert available.get("status") == "True"
    assert progressing_reason(deployment) == "NewReplicaSetAvailable"
    assert deployment["status"]["readyReplicas"] == 2
    assert deployment["status"].get("unavailableReplicas") == 0
    assert "ScalingReplicaSet" in await event_reasons(api, "Deployment", "web")


async def test_deployment_scale_up_and_down(api: APIClient) -> None:
    await api.create(DEPLOYMENTS, make_deployment("web", 2))
    async with PodRunner(api), running(api, CONTROLLERS):
        await eventually(lambda: complete(api), "2 replicas are available")
        await patch_retrying(api, DEPLOYMENTS, "web", {"spec": {"replicas": 4}})
        await eventually(lambda: complete(api), "4 replicas are available")
        assert len(await list_pods(api, SELECTOR)) == 4

        await patch_retrying(api, DEPLOYMENTS, "web", {"spec": {"replicas": 1}})
        await eventually(lambda: complete(api), "1 replica is available")

    assert len(await list_pods(api, SELECTOR)) == 1
    assert len(await replica_sets(api)) == 1


async def test_rolling_update_keeps_availability(api: APIClient) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    await api.create(DEPLOYMENTS, make_deployment("web", 4, strategy=strategy))
    async with PodRunner(api, ready_delay=0.2), running(api, CONTROLLERS):
        await eventually(lambda: complete(api), "the first rollout is complete")
        await set_image(api, "nginx:1.26")

        lowest_ready = 4
        samples = 0
        while True:
            pods = await list_pods(api, SELECTOR)
            lowest_ready = min(lowest_ready, sum(1 for pod in pods if is_ready(pod)))
            samples += 1
            deployment = await get_deployment(api)
            if deployment["metadata"]["generation"] == 2 and util.is_complete(deployment, deployment["status"]):
                break
            assert samples < 1000, "the rolling update did not finish"
            await asyncio.sleep(0.02)

    images = {pod["spec"]["containers"][0]["image"] for pod in await list_pods(api, SELECTOR)}
    assert lowest_ready >= 3
    assert samples > 5
    assert images == {"nginx:1.26"}
    assert len(await list_pods(api, SELECTOR)) == 4


async def test_recreate_never_mixes_templates(api: APIClient) -> None:
    await api.create(DEPLOYMENTS, make_deployment("web", 2, strategy={"type": "Recreate"}))
    async with PodRunner(api, ready_delay=0.1), running(api, CONTROLLERS):
        await eventually(lambda: complete(api), "the first rollout is complete")
        await set_image(api, "nginx:1.26")

        mixed = False
        while True:
            images = {pod["spec"]["containers"][0]["image"] for pod in await list_pods(api, SELECTOR)}
            mixed = mixed or len(images) > 1
            deployment = await get_deployment(api)
            if deployment["metadata"]["generation"] == 2 and util.is_complete(deployment, deployment["status"]):
                break
            await asyncio.sleep(0.02)

    images = {pod["spec"]["containers"][0]["image"] for pod in await list_pods(api, SELECTOR)}
    assert not mixed
    assert images == {"nginx:1.26"}


async def test_rollback_reuses_old_replica_set(api: APIClient) -> None:
    await api.create(DEPLOYMENTS, make_deployment("web", 2))
    async with PodRunner(api), running(api, CONTROLLERS):
        await eventually(lambda: complete(api), "revision 1 is rolled out")
        first = await get_deployment(api)
        await set_image(api, "nginx:1.26")

        async def second_done() -> bool:
            deployment = await get_deployment(api)
            return revision_of(deployment) == "2" and await complete(api)

        await eventually(second_done, "revision 2 is rolled out")
        # What `kubectl rollout undo` does: write the old ReplicaSet's template back, without its hash label,
        # and with the "creationTimestamp": null that kubectl's Go types add.
        old_template = copy.deepcopy(first["spec"]["template"])
        old_template["metadata"]["creationTimestamp"] = None
        undo = [{"op": "replace", "path": "/spec/template", "value": old_template}]
        await patch_retrying(api, DEPLOYMENTS, "web", undo, patch_type="json")

        async def rolled_back() -> bool:
            deployment = await get_deployment(api)
            return revision_of(deployment) == "3" and await complete(api)

        await eventually(rolled_back, "revision 3 is rolled out")

    sets = {rs["metadata"]["annotations"][util.REVISION]: rs for rs in await replica_sets(api)}
    images = {pod["spec"]["containers"][0]["image"] for pod in await list_pods(api, SELECTOR)}
    assert sorted(sets) == ["2", "3"]
    assert sets["3"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert sets["3"]["spec"]["replicas"] == 2
    assert sets["2"]["spec"]["replicas"] == 0
    assert images == {"nginx:1.25"}


async def test_paused_deployment_waits(api: APIClient) -> None:
    await api.create(DEPLOYMENTS, make_deployment("web", 2, progressDeadlineSeconds=60))
    async with PodRunner(api), running(api, CONTROLLERS):
        await eventually(lambda: complete(api), "the first rollout is complete")
        await patch_retrying(api, DEPLOYMENTS, "web", {"spec": {"paused": True}})

        async def paused() -> bool:
            return progressing_reason(await get_deployment(api)) == "DeploymentPaused"

        await eventually(paused, "the Deployment reports DeploymentPaused")
        await set_image(api, "nginx:1.26")
        await asyncio.sleep(0.5)
        assert len(await replica_sets(api)) == 1

        await patch_retrying(api, DEPLOYMENTS, "web", {"spec": {"paused": False}})

        async def resumed() -> bool:
            deployment = await get_deployment(api)
            return revision_of(deployment) == "2" and await complete(api)

        await eventually(resumed, "the resumed rollout is complete")

    assert len(await replica_sets(api)) == 2


async def test_scale_mid_rollout_proportional(api: APIClient) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    await api.create(DEPLOYMENTS, make_deployment("web", 4, strategy=strategy))
    async with running(api, CONTROLLERS):
        async with PodRunner(api):
            await eventually(lambda: complete(api), "the first rollout is complete")
        # Without the runner the new pods never become ready, so the rollout stops at 4 old + 1 new.
        await set_image(api, "nginx:1.26")
        await eventually(lambda: _replica_counts(api, [1, 4]), "the rollout stops at 4 old and 1 new replicas")
        await patch_retrying(api, DEPLOYMENTS, "web", {"spec": {"paused": True}})
        await patch_retrying(api, DEPLOYMENTS, "web", {"spec": {"replicas": 8}})
        # 8 replicas + 25% surge allow 10 pods: the 5 new ones split 4:1 as the sets' sizes do.
        await eventually(lambda: _replica_counts(api, [2, 8]), "the old set has 8 replicas and the new one 2")


async def _replica_counts(api: APIClient, expected: list[int]) -> bool:
    return sorted(util.replicas_of(rs) for rs in await replica_sets(api)) == expected


async def test_progress_deadline_exceeded(api: APIClient) -> None:
    await api.create(DEPLOYMENTS, make_deployment("web", 1, progressDeadlineSeconds=1))
    async with running(api, CONTROLLERS):

        async def timed_out() -> bool:
            return progressing_reason(await get_deployment(api)) == "ProgressDeadlineExceeded"

        await eventually(timed_out, "the Progressing condition reports ProgressDeadlineExceeded", timeout=10)

    condition = util.condition((await get_deployment(api))["status"], "Progressing") or {}
    assert condition.get("status") == "False"


async def test_revision_history_limit(api: APIClient) -> None:
    await api.create(DEPLOYMENTS, make_deployment("web", 1, revisionHistoryLimit=1))
    async with PodRunner(api), running(api, CONTROLLERS):
        for revision, image in enumerate(["nginx:1.25", "nginx:1.26", "nginx:1.27"], start=1):
            await set_image(api, image)

            async def rolled_out(expected: str = str(revision)) -> bool:
                deployment = await get_deployment(api)
                return revision_of(deployment) == expected and await complete(api)

            await eventually(rolled_out, f"revision {revision} is rolled out")

        async def history_trimmed() -> bool:
            return len(await replica_sets(api)) == 2

        await eventually(history_trimmed, "one old ReplicaSet remains")

    revisions = sorted(rs["metadata"]["annotations"][util.REVISION] for rs in await replica_sets(api))
    assert revisions == ["2", "3"]


async def test_restart_mid_rollout_converges(api: APIClient) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    await api.create(DEPLOYMENTS, make_deployment("web", 4, strategy=strategy))
    async with PodRunner(api, ready_delay=0.3):
        async with running(api, CONTROLLERS):
            await eventually(lambda: complete(api), "the first rollout is complete")
            await set_image(api, "nginx:1.26")

            async def underway() -> bool:
                return len(await replica_sets(api)) == 2

            await eventually(underway, "the new ReplicaSet exists")

        async with running(api, CONTROLLERS):

            async def done() -> bool:
                deployment = await get_deployment(api)
                return deployment["metadata"]["generation"] == 2 and util.is_complete(deployment, deployment["status"])

            await eventually(done, "the rollout completes after the restart")

    pods = await list_pods(api, SELECTOR)
    images = {pod["spec"]["containers"][0]["image"] for pod in pods}
    assert len(pods) == 4
    assert images == {"nginx:1.26"}
    assert len(await replica_sets(api)) == 2


# --- kubectl ------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def kubeconfig(server: RunningAPIServer, tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters:\n- name: test\n  cluster:\n    server: {server.url}\n"
        "users:\n- name: test\n  user: {}\n"
        "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: default\n"
    )
    yield path


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
async def test_kubectl_rollout_status(api: APIClient, server: RunningAPIServer, tmp_path: Path) -> None:
    await api.create(DEPLOYMENTS, make_deployment("web", 2))
    async with PodRunner(api, ready_delay=0.3), running(api, CONTROLLERS), kubeconfig(server, tmp_path) as config:
        process = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", str(config), "rollout", "status", "deployment/web", "--timeout=30s",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await process.communicate()

    assert process.returncode == 0, stderr.decode()
    assert "successfully rolled out" in stdout.decode()


async def kubectl(config: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(config), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    return process.returncode or 0, stdout.decode(), stderr.decode()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
async def test_kubectl_rollout_undo(api: APIClient, server: RunningAPIServer, tmp_path: Path) -> None:
    await api.create(DEPLOYMENTS, make_deployment("web", 2))
    async with PodRunner(api), running(api, CONTROLLERS), kubeconfig(server, tmp_path) as config:
        await eventually(lambda: complete(api), "revision 1 is rolled out")
        await set_image(api, "nginx:1.26")

        async def at_revision(expected: str) -> bool:
            return revision_of(await get_deployment(api)) == expected and await complete(api)

        await eventually(lambda: at_revision("2"), "revision 2 is rolled out")
        code, _, stderr = await kubectl(config, "rollout", "undo", "deployment/web")
        assert code == 0, stderr
        await eventually(lambda: at_revision("3"), "the undo is rolled out as revision 3")
        code, history, stderr = await kubectl(config, "rollout", "history", "deployment/web")

    revisions = sorted(revision_of(rs) for rs in await replica_sets(api))
    images = {pod["spec"]["containers"][0]["image"] for pod in await list_pods(api, SELECTOR)}
    assert code == 0, stderr
    assert revisions == ["2", "3"]
    assert images == {"nginx:1.25"}
    assert "3" in history.split()
