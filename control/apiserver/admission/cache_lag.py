"""Namespaces whose LimitRanges or ResourceQuotas were created too recently for the watch cache.

LimitRanger and ResourceQuota look for policy objects in the watch cache,
which applies a store write a moment after the write returns. A pod
created right after a LimitRange or quota could miss it. Kubernetes
closes the same gap with a live lookup when its informer shows nothing.
Here each plugin notes the namespace when it admits the create of a policy
object, and for a short while afterwards the plugins read that namespace
from the store instead of trusting an empty cache.

NOTE: the notes live in this process. With several API servers on one etcd,
a policy object created through another server is seen only once this
server's watch cache has it.
"""

from __future__ import annotations

import time
import weakref

from pykube_control.store.interface import Store

CACHE_LAG_SECONDS = 5.0
"""How long after admitting a create the store is read in place of an empty
cache. The cache normally applies a write within milliseconds; this is an
estimate with a wide margin for a loaded server."""


class RecentCreates:
    """Creation times of policy objects, by store and (resource, namespace)."""

    def __init__(self, window: float = CACHE_LAG_SECONDS) -> None:
        self.window = window
        self._times: weakref.WeakKeyDictionary[Store, dict[tuple[str, str], float]] = weakref.WeakKeyDictionary()

    def note(self, store: Store, resource: str, namespace: str) -> None:
        """Record that a ``resource`` object is being created in ``namespace`` now."""
        self._times.setdefault(store, {})[(resource, namespace)] = time.monotonic()

    def is_recent(self, store: Store, resource: str, namespace: str) -> bool:
        """Tell whether a ``resource`` object was created in ``namespace`` within the window."""
        times = self._times.get(store)
        if not times:
            return False
        moment = times.get((resource, namespace))
        if moment is None:
            return False
        if time.monotonic() - moment > self.window:
            del times[(resource, namespace)]
            return False
        return True


RECENT_CREATES = RecentCreates()
