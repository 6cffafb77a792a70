"""Settings of the cyclic garbage collector for the long-running daemons.

The API server, the scheduler and the controller manager hold every object
of the cluster in memory (watch caches, informer stores, the scheduler's
node table) as dicts and lists, and CPython's collector tracks each of
them. With the default thresholds (700, 10, 10) it runs a young collection
every 700 net allocations. It runs a full one, which walks every tracked
object, whenever the long-lived objects have grown by a quarter. With
5,000 nodes and a few thousand pods, such a collection took 50 to 110 ms
on the benchmark machine (bench/bench_scheduler_e2e.py, 2 cores), and
every request in flight waited for it. These objects form no reference
cycles, so collecting rarely loses nothing: reference counting frees them
the moment they are dropped. The daemons therefore run young collections
every 20,000 allocations and older ones ten times less often than the
defaults. Garbage that does form cycles (tracebacks, finished tasks)
waits longer before it is freed.
"""

from __future__ import annotations

import gc

DAEMON_THRESHOLDS = (20_000, 100, 100)
"""gc.set_threshold arguments for the daemons: generation 0, 1 and 2."""


def tune_for_daemon() -> None:
    """Apply DAEMON_THRESHOLDS to this process."""
    gc.set_threshold(*DAEMON_THRESHOLDS)
