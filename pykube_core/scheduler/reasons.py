"""Reason strings of the filter plugins and the "0/N nodes are available" summary.

The kernels return codes. This module turns them into the exact strings
that kube-scheduler writes into a pod's PodScheduled condition and its
FailedScheduling event, because users and tools search for them.

The wording is that of Kubernetes 1.35. Since 1.35 and 1.34.2, the
TaintToleration reason no longer names the taint, so that taint keys and
values do not leak into pod statuses. LEGACY_UNTOLERATED_TAINT is the older
"{key: value}" form, which a profile can ask for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from pykube_core.scheduler.arrays import AffinityFailure, FilterPlugin, SpreadFailure

NODE_UNSCHEDULABLE = "node(s) were unschedulable"
NODE_NAME_MISMATCH = "node(s) didn't match the requested node name"
UNTOLERATED_TAINT = "node(s) had untolerated taint(s)"
LEGACY_UNTOLERATED_TAINT = "node(s) had untolerated taint {%s: %s}"
NODE_AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
NODE_PORTS_CONFLICT = "node(s) didn't have free ports for the requested pod ports"
TOO_MANY_PODS = "Too many pods"
INSUFFICIENT_RESOURCE = "Insufficient %s"
NO_NODES_AVAILABLE = "no nodes available to schedule pods"
SPREAD_CONSTRAINTS_MISMATCH = "node(s) didn't match pod topology spread constraints"
SPREAD_MISSING_LABEL = SPREAD_CONSTRAINTS_MISMATCH + " (missing required label)"
POD_AFFINITY_MISMATCH = "node(s) didn't match pod affinity rules"
POD_ANTI_AFFINITY_MISMATCH = "node(s) didn't match pod anti-affinity rules"
# kube-scheduler's wording, without an apostrophe after "pods".
EXISTING_ANTI_AFFINITY_MISMATCH = "node(s) didn't satisfy existing pods anti-affinity rules"
VOLUME_NODE_AFFINITY_CONFLICT = "node(s) had volume node affinity conflict"
VOLUME_ZONE_CONFLICT = "node(s) had no available volume zone"

# Reasons of the plugins that report one of several fixed reasons, by the
# code the kernel puts in FilterArrays.detail.
DETAIL_REASONS: dict[FilterPlugin, dict[int, str]] = {
    FilterPlugin.POD_TOPOLOGY_SPREAD: {
        SpreadFailure.SKEW: SPREAD_CONSTRAINTS_MISMATCH,
        SpreadFailure.MISSING_LABEL: SPREAD_MISSING_LABEL,
    },
    FilterPlugin.INTER_POD_AFFINITY: {
        AffinityFailure.AFFINITY: POD_AFFINITY_MISMATCH,
        AffinityFailure.ANTI_AFFINITY: POD_ANTI_AFFINITY_MISMATCH,
        AffinityFailure.EXISTING_ANTI_AFFINITY: EXISTING_ANTI_AFFINITY_MISMATCH,
    },
}

FIXED_REASONS = {
    FilterPlugin.NODE_UNSCHEDULABLE: NODE_UNSCHEDULABLE,
    FilterPlugin.NODE_NAME: NODE_NAME_MISMATCH,
    FilterPlugin.NODE_AFFINITY: NODE_AFFINITY_MISMATCH,
    FilterPlugin.NODE_PORTS: NODE_PORTS_CONFLICT,
    FilterPlugin.VOLUME_BINDING: VOLUME_NODE_AFFINITY_CONFLICT,
    FilterPlugin.VOLUME_ZONE: VOLUME_ZONE_CONFLICT,
}

PLUGIN_NAMES = {
    FilterPlugin.NONE: "",
    FilterPlugin.NODE_UNSCHEDULABLE: "NodeUnschedulable",
    FilterPlugin.NODE_NAME: "NodeName",
    FilterPlugin.TAINT_TOLERATION: "TaintToleration",
    FilterPlugin.NODE_AFFINITY: "NodeAffinity",
    FilterPlugin.NODE_PORTS: "NodePorts",
    FilterPlugin.NODE_RESOURCES_FIT: "NodeResourcesFit",
    FilterPlugin.POD_TOPOLOGY_SPREAD: "PodTopologySpread",
    FilterPlugin.INTER_POD_AFFINITY: "InterPodAffinity",
    FilterPlugin.VOLUME_BINDING: "VolumeBinding",
    FilterPlugin.VOLUME_ZONE: "VolumeZone",
}


def untolerated_taint_reason(key: str, value: str, *, legacy: bool) -> str:
    """Return the TaintToleration reason; legacy names the taint as Kubernetes 1.34.1 and older did."""
    return LEGACY_UNTOLERATED_TAINT % (key, value) if legacy else UNTOLERATED_TAINT


def insufficient_reasons(resources: Sequence[str], insufficient: Sequence[int]) -> list[str]:
    """Return NodeResourcesFit's reasons for the flagged resource columns, in column order."""
    reasons = []
    for resource, flagged in zip(resources, insufficient):
        if not flagged:
            continue
        reasons.append(TOO_MANY_PODS if resource == "pods" else INSUFFICIENT_RESOURCE % resource)
    return reasons


def summarize(node_count: int, node_reasons: Iterable[Sequence[str]]) -> str:
    """Format kube-scheduler's FitError message from the reasons of every rejected node.

    Each reason is counted once per node that reported it, and the
    "<count> <reason>" parts are sorted as strings, as kube-scheduler sorts
    them (so "10 Insufficient cpu" comes before "2 Too many pods").
    """
    if node_count == 0:
        return NO_NODES_AVAILABLE
    histogram: Counter[str] = Counter()
    for reasons in node_reasons:
        histogram.update(reasons)
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    message = f"0/{node_count} nodes are available:"
    if parts:
        message += " " + ", ".join(parts) + "."
    return message
