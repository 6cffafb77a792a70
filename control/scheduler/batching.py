"""Scheduling signatures: which queued pods the daemon may place in one kernel call.

Two pods with equal signatures read the same values in every filter and
score plugin, so the kernel can place them together and give the same
nodes as one cycle each (pykube_core's Scheduler.schedule_batch). The
signature covers everything a plugin reads: the namespace, the labels and
the whole spec. Replicas of one ReplicaSet differ only in their names and
uids, so they share one signature. Pods that differ in anything else never
do, even where the difference would not change a placement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

MAX_BATCH_SIZE = 256
"""Pods placed per kernel call at most. A larger batch saves little per pod
and delays the first bind of the batch until the whole batch is placed."""


def scheduling_signature(pod: Mapping[str, Any]) -> bytes:
    """Return a digest of the pod's namespace, labels and spec (spec.nodeName excluded)."""
    metadata = pod.get("metadata") or {}
    spec = dict(pod.get("spec") or {})
    spec.pop("nodeName", None)
    text = orjson.dumps(
        [metadata.get("namespace") or "default", metadata.get("labels") or {}, spec],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.blake2b(text, digest_size=16).digest()


def same_scheduling_inputs(pod: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Return True when the pods' signatures are equal, by comparing what the signature covers.

    Comparing the dicts costs far less than encoding and hashing both
    pods, and the daemon calls it for every pod it adds to a batch.
    """
    metadata = pod.get("metadata") or {}
    other_metadata = other.get("metadata") or {}
    if (metadata.get("namespace") or "default") != (other_metadata.get("namespace") or "default"):
        return False
    if (metadata.get("labels") or {}) != (other_metadata.get("labels") or {}):
        return False
    spec = pod.get("spec") or {}
    other_spec = other.get("spec") or {}
    if "nodeName" in spec or "nodeName" in other_spec:
        return scheduling_signature(pod) == scheduling_signature(other)
    return bool(spec == other_spec)
