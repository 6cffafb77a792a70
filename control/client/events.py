"""Recording core/v1 Events about objects, with repeats folded into one Event.

``EventRecorder.record(obj, "Warning", "FailedMount", message)`` writes an
Event whose involvedObject points at ``obj``. The recorder remembers the
Events it wrote, keyed as client-go's EventCorrelator keys them (source,
involved object, type, reason and message). A repeat patches the Event it
wrote before, raising ``count`` and moving ``lastTimestamp``, instead of
creating another one, so a failing retry loop does not fill the store.
When that Event is gone (it expired or was deleted), a new one is created.

Recording is best effort, as in client-go: failures are logged and never
raised to the caller, because an Event must not stop a controller's work.

Differences from client-go: similar Events with different messages are not
merged into one "(combined from similar events)" Event, there is no per-object
spam filter, and ``record`` writes before it returns instead of queueing.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import logging
import time
from typing import Any, Literal

from pykube_control.client.api import APIClient
from pykube_control.client.errors import APIConnectionError, APIError, NotFound
from pykube_control.client.resource import EVENTS

log = logging.getLogger("pykube.client")

EventType = Literal["Normal", "Warning"]
EVENT_TYPES = ("Normal", "Warning")

CACHE_SIZE = 4096
"""Events remembered for aggregation; the least recently recorded are forgotten first."""
DEFAULT_NAMESPACE = "default"
"""Namespace of Events about cluster-scoped objects, where Kubernetes puts them."""

Object = dict[str, Any]
_AggregationKey = tuple[str, ...]


@dataclasses.dataclass(slots=True)
class _Recorded:
    name: str
    namespace: str
    count: int


def _timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_reference(obj: Object) -> Object:
    """Return the ObjectReference of ``obj``: kind, apiVersion, namespace, name, uid and resourceVersion."""
    metadata = obj.get("metadata") or {}
    reference = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": metadata.get("name", "")}
    for field in ("namespace", "uid", "resourceVersion"):
        if metadata.get(field):
            reference[field] = metadata[field]
    return reference


class EventRecorder:
    """Writes Events as ``component`` (on ``host``, when given); see the module docstring."""

    def __init__(self, client: APIClient, component: str, host: str | None = None, *, cache_size: int = CACHE_SIZE) -> None:
        if not component:
            raise ValueError("event recorder component is empty; use the controller's name, such as deployment-controller")
        self.client = client
        self.component = component
        self.host = host
        self._cache_size = cache_size
        self._recorded: collections.OrderedDict[_AggregationKey, _Recorded] = collections.OrderedDict()
        self._lock = asyncio.Lock()

    async def record(self, obj: Object, event_type: EventType, reason: str, message: str) -> Object | None:
        """Write or update the Event and return it; return None when writing failed (the error is logged).

        Raise ValueError for an ``event_type`` other than Normal or Warning,
        which is a bug in the caller.
        """
        if event_type not in EVENT_TYPES:
            raise ValueError(f"invalid event type {event_type!r}; use Normal or Warning")
        reference = object_reference(obj)
        key = self._key(reference, event_type, reason, message)
        async with self._lock:
            try:
                return await self._write(key, reference, event_type, reason, message)
            except (APIError, APIConnectionError) as error:
                log.warning("event not recorded object=%s/%s/%s reason=%s error=%s",
                            reference["kind"], reference.get("namespace", ""), reference["name"], reason, error)  # fmt: skip
                return None

    async def _write(
        self, key: _AggregationKey, reference: Object, event_type: str, reason: str, message: str
    ) -> Object:
        now = datetime.datetime.now(datetime.timezone.utc)
        previous = self._recorded.get(key)
        if previous is not None:
            patch = {"count": previous.count + 1, "lastTimestamp": _timestamp(now), "message": message}
            try:
                updated = await self.client.patch(EVENTS, previous.name, patch, namespace=previous.namespace)
            except NotFound:
                del self._recorded[key]
            else:
                previous.count += 1
                self._recorded.move_to_end(key)
                return updated

        event = self._new_event(reference, event_type, reason, message, now)
        created = await self.client.create_event(event, namespace=event["metadata"]["namespace"])
        self._remember(key, _Recorded(created["metadata"]["name"], event["metadata"]["namespace"], 1))
        return created

    def _new_event(self, reference: Object, event_type: str, reason: str, message: str, now: datetime.datetime) -> Object:
        namespace = reference.get("namespace") or DEFAULT_NAMESPACE
        stamp = _timestamp(now)
        source = {"component": self.component}
        if self.host:
            source["host"] = self.host
        return {
            "apiVersion": "v1",
            "kind": "Event",
            # Name and nanosecond time, as client-go names Events, so names stay unique per object.
            "metadata": {"name": f"{reference['name']}.{time.time_ns():x}", "namespace": namespace},
            "involvedObject": reference,
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": source,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host or "",
        }

    def _key(self, reference: Object, event_type: str, reason: str, message: str) -> _AggregationKey:
        return (
            self.component, self.host or "", str(reference.get("kind", "")), str(reference.get("namespace", "")),
            str(reference.get("name", "")), str(reference.get("uid", "")), str(reference.get("apiVersion", "")),
            event_type, reason, message,
        )  # fmt: skip

    def _remember(self, key: _AggregationKey, recorded: _Recorded) -> None:
        self._recorded[key] = recorded
        self._recorded.move_to_end(key)
        while len(self._recorded) > self._cache_size:
            self._recorded.popitem(last=False)
