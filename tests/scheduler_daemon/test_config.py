"""`pykube scheduler --config`: KubeSchedulerConfiguration files, good and bad, and a configured daemon end to end."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from pykube_control.agent.fake import FakeNodes
from pykube_control.cli.scheduler_command import scheduler_command
from pykube_control.client.api import APIClient
from pykube_control.client.resource import PODS
from pykube_control.scheduler.config import ConfigError, SchedulerSettings, load_config, parse_config
from pykube_control.scheduler.daemon import run_scheduler
from pykube_core.scheduler import ScorePlugin
from pykube_core.scheduler.arrays import Strategy
from pykube_core.scheduler.framework import DEFAULT_WEIGHTS, ShapePoint
from tests.scheduler_daemon.conftest import get_pod, make_pod, wait_until

Object = dict[str, Any]
HEADER = {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration"}


def config(**fields: Any) -> Object:
    return {**HEADER, **fields}


def test_empty_config_keeps_defaults() -> None:
    settings = parse_config(config())

    assert settings == SchedulerSettings()
    assert settings.profile.percentage_of_nodes_to_score is None


def test_full_profile() -> None:
    document = config(
        percentageOfNodesToScore=30,
        podInitialBackoffSeconds=2,
        podMaxBackoffSeconds=20,
        clientConnection={"kubeconfig": "/etc/kubernetes/scheduler.conf"},
        profiles=[{
            "schedulerName": "packer",
            "plugins": {"score": {"disabled": [{"name": "ImageLocality"}], "enabled": [{"name": "NodeResourcesFit", "weight": 5}]}},
            "pluginConfig": [
                {"name": "NodeResourcesFit", "args": {"scoringStrategy": {
                    "type": "RequestedToCapacityRatio",
                    "resources": [{"name": "cpu", "weight": 2}, {"name": "memory", "weight": 1}],
                    "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]},
                }}},
                {"name": "NodeResourcesBalancedAllocation", "args": {"resources": [{"name": "cpu", "weight": 1}]}},
                {"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 10}},
            ],
        }],
    )  # fmt: skip

    settings = parse_config(document)

    profile = settings.profile
    assert (settings.scheduler_name, settings.initial_backoff, settings.max_backoff) == ("packer", 2.0, 20.0)
    assert profile.percentage_of_nodes_to_score == 30
    assert profile.strategy == Strategy.REQUESTED_TO_CAPACITY_RATIO
    assert profile.fit_resources == (("cpu", 2), ("memory", 1))
    assert profile.shape == (ShapePoint(0, 0), ShapePoint(100, 10))
    assert profile.balanced_resources == ("cpu",)
    assert profile.hard_pod_affinity_weight == 10
    assert profile.weights[ScorePlugin.IMAGE_LOCALITY] == 0
    assert profile.weights[ScorePlugin.NODE_RESOURCES_FIT] == 5
    assert profile.weights[ScorePlugin.TAINT_TOLERATION] == DEFAULT_WEIGHTS[ScorePlugin.TAINT_TOLERATION]


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (50, 50), (150, 100)])
def test_percentage_of_nodes_to_score(value: int, expected: int) -> None:
    assert parse_config(config(percentageOfNodesToScore=value)).profile.percentage_of_nodes_to_score == expected


def test_profile_percentage_overrides_top_level() -> None:
    settings = parse_config(config(percentageOfNodesToScore=10, profiles=[{"percentageOfNodesToScore": 40}]))

    assert settings.profile.percentage_of_nodes_to_score == 40


def test_disable_all_scores_then_enable_one() -> None:
    plugins = {"score": {"disabled": [{"name": "*"}], "enabled": [{"name": "NodeAffinity"}]}}

    weights = parse_config(config(profiles=[{"plugins": plugins}])).profile.weights

    assert {plugin for plugin, weight in weights.items() if weight} == {ScorePlugin.NODE_AFFINITY}
    assert weights[ScorePlugin.NODE_AFFINITY] == DEFAULT_WEIGHTS[ScorePlugin.NODE_AFFINITY]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param({**HEADER, "apiVersion": "kubescheduler.config.k8s.io/v1beta3"}, "use apiVersion kubescheduler.config.k8s.io/v1", id="api version"),
        pytest.param(config(extenders=[{}]), "extenders: pykube does not support this field", id="unknown field"),
        pytest.param(config(profiles=[{}, {"schedulerName": "b"}]), "profiles: pykube runs one profile", id="two profiles"),
        pytest.param(config(profiles=[{"plugins": {"filter": {"disabled": [{"name": "NodePorts"}]}}}]), "plugins.filter", id="filter plugin"),
        pytest.param(config(profiles=[{"plugins": {"score": {"enabled": [{"name": "Coscheduling"}]}}}]), "'Coscheduling' is not a score plugin", id="unknown plugin"),
        pytest.param(config(percentageOfNodesToScore=-1), "percentageOfNodesToScore: -1", id="negative percentage"),
        pytest.param(config(podInitialBackoffSeconds=20, podMaxBackoffSeconds=10), "initial back-off", id="back-off order"),
        pytest.param(
            config(profiles=[{"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "Binpack"}}}]}]),
            "scoringStrategy.type: 'Binpack' is unknown", id="unknown strategy",
        ),
        pytest.param(
            config(profiles=[{"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "RequestedToCapacityRatio"}}}]}]),
            "RequestedToCapacityRatio needs at least one shape point", id="ratio without shape",
        ),
    ],
)
def test_rejected_config(document: Object, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(document)

    assert message in str(error.value)


def test_load_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.yaml"
    path.write_text(yaml.safe_dump(config(profiles="none")))

    with pytest.raises(ConfigError) as error:
        load_config(path)

    assert str(error.value).startswith(f"{path}: profiles")


def test_cli_rejects_bad_config_before_connecting(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.yaml"
    path.write_text(yaml.safe_dump(config(percentageOfNodesToScore="all")))

    result = CliRunner().invoke(scheduler_command, ["--config", str(path), "--kubeconfig", str(tmp_path / "missing")])

    assert result.exit_code == 1
    assert f"{path}: percentageOfNodesToScore: 'all' is not a whole number from 0 to 100" in result.output


async def test_configured_scheduler_packs_pods(client: APIClient, nodes: FakeNodes) -> None:
    """MostAllocated with a profile name of its own: the pods for that name land on one node, the others wait."""
    document = config(profiles=[{
        "schedulerName": "packer",
        "plugins": {"score": {"disabled": [{"name": "*"}], "enabled": [{"name": "NodeResourcesFit"}]}},
        "pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "MostAllocated"}}}],
    }])  # fmt: skip
    task = asyncio.create_task(run_scheduler(client, leader_elect=False, settings=parse_config(document)))
    try:
        names = [f"packed-{i}" for i in range(6)]
        for name in names:
            await client.create(PODS, make_pod(name, cpu="500m", scheduler_name="packer"))
        await client.create(PODS, make_pod("default-pod"))

        async def all_bound() -> bool:
            return all([(await get_pod(client, name))["spec"].get("nodeName") for name in names])

        await wait_until(all_bound, what="the packer's pods bound")
        placed = {(await get_pod(client, name))["spec"]["nodeName"] for name in names}
        await asyncio.sleep(0.5)
        default_pod = await get_pod(client, "default-pod")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert len(placed) == 1
    assert not default_pod["spec"].get("nodeName")
