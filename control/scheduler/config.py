"""`pykube scheduler --config`: the parts of kube-scheduler's KubeSchedulerConfiguration (v1) that pykube honours.

A file such as::

    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    percentageOfNodesToScore: 0
    podInitialBackoffSeconds: 1
    podMaxBackoffSeconds: 10
    profiles:
    - schedulerName: default-scheduler
      plugins:
        score:
          enabled:
          - {name: NodeResourcesFit, weight: 2}
          disabled:
          - {name: ImageLocality}
      pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: MostAllocated
            resources: [{name: cpu, weight: 1}, {name: memory, weight: 1}]

becomes a ``SchedulerSettings``. These fields are honoured:

- percentageOfNodesToScore, at the top level or in the profile. 0 is
  kube-scheduler's adaptive percentage, and a value above 100 counts as
  100. Left out, pykube keeps scoring every feasible node, where
  kube-scheduler would sample.
- podInitialBackoffSeconds and podMaxBackoffSeconds.
- The profile's schedulerName.
- The weights of the seven default score plugins. A weight of 0 or a
  ``disabled`` entry turns a plugin's score off, and ``"*"`` disables all.
- NodeResourcesFit's scoringStrategy (LeastAllocated, MostAllocated, or
  RequestedToCapacityRatio with its shape), NodeResourcesBalancedAllocation's
  resources and InterPodAffinity's hardPodAffinityWeight.

The client connection, leader election, parallelism and debugging
fields are accepted and ignored, since command-line flags (or nothing,
for parallelism) set those. Anything else,
such as a second profile, extenders, or a filter plugin disabled, is
refused with an error naming the field, because the scheduler would
otherwise run with settings its user did not ask for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pykube_core.scheduler import Profile, ScorePlugin
from pykube_core.scheduler.arrays import Strategy
from pykube_core.scheduler.framework import DEFAULT_WEIGHTS, ShapePoint
from pykube_control.scheduler.queue import INITIAL_BACKOFF, MAX_BACKOFF

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"
SCORE_PLUGINS = {
    "TaintToleration": ScorePlugin.TAINT_TOLERATION,
    "NodeAffinity": ScorePlugin.NODE_AFFINITY,
    "NodeResourcesFit": ScorePlugin.NODE_RESOURCES_FIT,
    "NodeResourcesBalancedAllocation": ScorePlugin.BALANCED_ALLOCATION,
    "ImageLocality": ScorePlugin.IMAGE_LOCALITY,
    "PodTopologySpread": ScorePlugin.POD_TOPOLOGY_SPREAD,
    "InterPodAffinity": ScorePlugin.INTER_POD_AFFINITY,
}
STRATEGIES = {
    "LeastAllocated": Strategy.LEAST_ALLOCATED,
    "MostAllocated": Strategy.MOST_ALLOCATED,
    "RequestedToCapacityRatio": Strategy.REQUESTED_TO_CAPACITY_RATIO,
}
_IGNORED_SECTIONS = ("clientConnection", "leaderElection", "enableProfiling", "enableContentionProfiling")
_TOP_FIELDS = {"apiVersion", "kind", "percentageOfNodesToScore", "podInitialBackoffSeconds", "podMaxBackoffSeconds",
               "profiles", "parallelism", *_IGNORED_SECTIONS}  # fmt: skip
_PROFILE_FIELDS = {"schedulerName", "percentageOfNodesToScore", "plugins", "pluginConfig"}


class ConfigError(ValueError):
    """A configuration file that pykube cannot honour; the message names the file, the field and the fix."""


@dataclasses.dataclass(frozen=True)
class SchedulerSettings:
    """Settings of the scheduler daemon read from a configuration file."""

    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    profile: Profile = dataclasses.field(default_factory=Profile)
    initial_backoff: float = INITIAL_BACKOFF
    max_backoff: float = MAX_BACKOFF


def load_config(path: Path) -> SchedulerSettings:
    """Read a KubeSchedulerConfiguration file; raise ConfigError naming what is wrong."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the scheduler configuration: {exc}") from None
    try:
        return parse_config(document)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_config(document: Any) -> SchedulerSettings:
    """Turn a decoded KubeSchedulerConfiguration into settings; see the module docstring."""
    config = _mapping(document, "the document")
    if config.get("apiVersion") != API_VERSION or config.get("kind") != KIND:
        raise ConfigError(
            f"apiVersion {config.get('apiVersion')!r} and kind {config.get('kind')!r}: "
            f"use apiVersion {API_VERSION} and kind {KIND}"
        )
    _check_fields(config, _TOP_FIELDS, "")

    profiles = config.get("profiles") or [{}]
    if not isinstance(profiles, list) or len(profiles) != 1:
        raise ConfigError("profiles: pykube runs one profile; list exactly one (or none for the default)")
    profile = _mapping(profiles[0], "profiles[0]")
    _check_fields(profile, _PROFILE_FIELDS, "profiles[0].")
    percentage = profile.get("percentageOfNodesToScore", config.get("percentageOfNodesToScore"))

    initial = _number(config, "podInitialBackoffSeconds", INITIAL_BACKOFF)
    maximum = _number(config, "podMaxBackoffSeconds", MAX_BACKOFF)
    if not 0 < initial <= maximum:
        raise ConfigError(
            f"podInitialBackoffSeconds {initial:g} and podMaxBackoffSeconds {maximum:g}: "
            "the initial back-off must be above 0 and at most the maximum"
        )
    name = profile.get("schedulerName", DEFAULT_SCHEDULER_NAME)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"profiles[0].schedulerName: {name!r} is not a name; use a non-empty string")

    fields: dict[str, Any] = {"weights": _score_weights(profile.get("plugins"))}
    fields["percentage_of_nodes_to_score"] = _percentage(percentage)
    fields.update(_plugin_args(profile.get("pluginConfig")))
    try:
        built = Profile(**fields)
    except ValueError as exc:
        raise ConfigError(f"profiles[0]: {exc}") from None
    return SchedulerSettings(name, built, initial, maximum)


def _percentage(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"percentageOfNodesToScore: {value!r} is not a whole number from 0 to 100")
    return min(value, 100)


def _score_weights(plugins: Any) -> dict[ScorePlugin, int]:
    weights = dict(DEFAULT_WEIGHTS)
    if plugins is None:
        return weights
    plugins = _mapping(plugins, "profiles[0].plugins")
    for point, section in plugins.items():
        section = _mapping(section, f"profiles[0].plugins.{point}")
        if point != "score":
            if section.get("enabled") or section.get("disabled"):
                raise ConfigError(
                    f"profiles[0].plugins.{point}: pykube runs the default plugins at this extension point; "
                    "only score plugins can be configured"
                )
            continue
        for index, entry in enumerate(section.get("disabled") or []):
            plugin_name = _mapping(entry, f"profiles[0].plugins.score.disabled[{index}]").get("name")
            if plugin_name == "*":
                weights = dict.fromkeys(weights, 0)
            else:
                weights[_score_plugin(plugin_name, f"profiles[0].plugins.score.disabled[{index}]")] = 0
        for index, entry in enumerate(section.get("enabled") or []):
            where = f"profiles[0].plugins.score.enabled[{index}]"
            entry = _mapping(entry, where)
            plugin = _score_plugin(entry.get("name"), where)
            weight = entry.get("weight", DEFAULT_WEIGHTS[plugin])
            if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
                raise ConfigError(f"{where}.weight: {weight!r} is not a whole number from 0 to 100")
            weights[plugin] = weight
    return weights


def _plugin_args(configs: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if configs is None:
        return fields
    if not isinstance(configs, list):
        raise ConfigError("profiles[0].pluginConfig: expected a list of {name, args}")
    for index, entry in enumerate(configs):
        where = f"profiles[0].pluginConfig[{index}]"
        entry = _mapping(entry, where)
        name = entry.get("name")
        args = _mapping(entry.get("args") or {}, f"{where}.args")
        if name == "NodeResourcesFit":
            fields.update(_fit_args(args, f"{where}.args"))
        elif name == "NodeResourcesBalancedAllocation":
            fields["balanced_resources"] = tuple(name for name, _ in _resources(args.get("resources"), f"{where}.args.resources"))
        elif name == "InterPodAffinity":
            weight = args.get("hardPodAffinityWeight", 1)
            if not isinstance(weight, int) or isinstance(weight, bool):
                raise ConfigError(f"{where}.args.hardPodAffinityWeight: {weight!r} is not a whole number from 0 to 100")
            fields["hard_pod_affinity_weight"] = weight
        else:
            raise ConfigError(
                f"{where}.name: pykube has no arguments for plugin {name!r}; "
                "configure NodeResourcesFit, NodeResourcesBalancedAllocation or InterPodAffinity"
            )
    return fields


def _fit_args(args: Mapping[str, Any], where: str) -> dict[str, Any]:
    strategy = _mapping(args.get("scoringStrategy") or {}, f"{where}.scoringStrategy")
    kind = strategy.get("type", "LeastAllocated")
    if kind not in STRATEGIES:
        raise ConfigError(f"{where}.scoringStrategy.type: {kind!r} is unknown; use one of {', '.join(STRATEGIES)}")
    fields: dict[str, Any] = {"strategy": STRATEGIES[kind]}
    if "resources" in strategy:
        fields["fit_resources"] = _resources(strategy["resources"], f"{where}.scoringStrategy.resources")
    if kind == "RequestedToCapacityRatio":
        ratio = _mapping(strategy.get("requestedToCapacityRatio") or {}, f"{where}.scoringStrategy.requestedToCapacityRatio")
        shape = []
        for index, point in enumerate(ratio.get("shape") or []):
            at = f"{where}.scoringStrategy.requestedToCapacityRatio.shape[{index}]"
            point = _mapping(point, at)
            utilization, score = point.get("utilization", 0), point.get("score", 0)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (utilization, score)):
                raise ConfigError(f"{at}: utilization {utilization!r} and score {score!r} must be whole numbers")
            shape.append(ShapePoint(utilization, score))
        fields["shape"] = tuple(shape)
    return fields


def _resources(value: Any, where: str) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list of {{name, weight}}")
    resources = []
    for index, entry in enumerate(value):
        entry = _mapping(entry, f"{where}[{index}]")
        name, weight = entry.get("name"), entry.get("weight", 1)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}[{index}].name: {name!r} is not a resource name")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0:
            raise ConfigError(f"{where}[{index}].weight: {weight!r} is not a positive whole number")
        resources.append((name, weight))
    return tuple(resources)


def _score_plugin(name: Any, where: str) -> ScorePlugin:
    if name not in SCORE_PLUGINS:
        raise ConfigError(f"{where}.name: {name!r} is not a score plugin pykube runs; use one of {', '.join(SCORE_PLUGINS)}")
    return SCORE_PLUGINS[name]


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: {value!r} is not a number of seconds")
    return float(value)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _check_fields(section: Mapping[str, Any], known: set[str], prefix: str) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: pykube does not support this field; remove it")
