"""The content left in a terminating namespace, and the status conditions that report it.

Each pass of the namespace controller produces one ``ContentReport``:
whether discovery failed, which collections could not be deleted, how many
objects of each resource remain and which finalizers hold them.
``conditions_for`` turns it into the four conditions Kubernetes sets on a
Namespace while it is stuck, with the same types, reasons and status
values, so ``kubectl describe namespace`` reads the same. Messages are
worded for this server and list the resources in name order.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

Object = dict[str, Any]

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"
CONDITION_TYPES = (DISCOVERY_FAILURE, CONTENT_FAILURE, CONTENT_REMAINING, FINALIZERS_REMAINING)


@dataclasses.dataclass
class ContentReport:
    """The outcome of one attempt to empty a namespace."""

    discovery_error: str | None = None
    failures: list[str] = dataclasses.field(default_factory=list)
    """One "<resource>: <error>" entry per collection whose delete or list failed."""
    remaining: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    """Objects left per resource, keyed "<plural>" or "<plural>.<group>"."""
    finalizers: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    """Objects left per finalizer they carry."""

    @property
    def empty(self) -> bool:
        """True when the namespace contains nothing and every request succeeded."""
        return self.discovery_error is None and not self.failures and not self.remaining


def conditions_for(report: ContentReport) -> list[Object]:
    """Return the four namespace deletion conditions, without lastTransitionTime."""
    conditions = [_discovery(report), _content_failure(report), _content_remaining(report), _finalizers(report)]
    return conditions


def merge_conditions(existing: list[Object], computed: list[Object], now: str) -> list[Object]:
    """Return ``existing`` with the deletion conditions replaced by ``computed``.

    A condition whose status did not change keeps its lastTransitionTime.
    Conditions of other types stay as they are.
    """
    previous = {str(c.get("type")): c for c in existing if isinstance(c, dict)}
    merged = [c for c in existing if isinstance(c, dict) and c.get("type") not in CONDITION_TYPES]
    for condition in computed:
        old = previous.get(condition["type"])
        moment = now
        if old is not None and old.get("status") == condition["status"] and old.get("lastTransitionTime"):
            moment = str(old["lastTransitionTime"])
        merged.append({**condition, "lastTransitionTime": moment})
    return merged


def _condition(kind: str, failing: bool, reason: str, message: str) -> Object:
    return {"type": kind, "status": "True" if failing else "False", "reason": reason, "message": message}


def _discovery(report: ContentReport) -> Object:
    if report.discovery_error is not None:
        return _condition(DISCOVERY_FAILURE, True, "DiscoveryFailed", f"Discovery failed: {report.discovery_error}")
    return _condition(DISCOVERY_FAILURE, False, "ResourcesDiscovered", "All resources successfully discovered")


def _content_failure(report: ContentReport) -> Object:
    if report.failures:
        message = f"Failed to delete all resource types, {len(report.failures)} remaining: " + "; ".join(
            sorted(report.failures)
        )
        return _condition(CONTENT_FAILURE, True, "ContentDeletionFailed", message)
    return _condition(
        CONTENT_FAILURE, False, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"
    )


def _content_remaining(report: ContentReport) -> Object:
    if report.remaining:
        counts = ", ".join(f"{name} has {count} resource instances" for name, count in sorted(report.remaining.items()))
        return _condition(CONTENT_REMAINING, True, "SomeResourcesRemain", f"Some resources are remaining: {counts}")
    return _condition(CONTENT_REMAINING, False, "ContentRemoved", "All content successfully removed")


def _finalizers(report: ContentReport) -> Object:
    if report.finalizers:
        counts = ", ".join(f"{name} in {count} resource instances" for name, count in sorted(report.finalizers.items()))
        message = f"Some content in the namespace has finalizers remaining: {counts}"
        return _condition(FINALIZERS_REMAINING, True, "SomeFinalizersRemain", message)
    return _condition(FINALIZERS_REMAINING, False, "ContentHasNoFinalizers", "All content-preserving finalizers finished")
