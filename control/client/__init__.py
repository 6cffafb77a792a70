"""The client machinery every component uses to talk to the API server.

``APIClient`` (api.py) sends typed verbs and watches. ``Informer``
(informer.py) keeps a local, indexed cache of one resource with event
handlers. ``WorkQueue`` and ``run_workers`` (workqueue.py, workers.py)
drive reconcile loops with per-key back-off. ``LeaderElector`` (leader.py)
elects one active replica through a Lease, and ``EventRecorder``
(events.py) writes aggregated Events. They are asyncio counterparts of client-go's
building blocks, and take the same defaults unless a module says otherwise.
"""
