"""The scheduler daemon: places pending pods on nodes through the API server.

queue.py orders the pending pods and holds back the ones that failed.
cache.py keeps a pykube_core NodeTable in sync with the informers and with
the scheduler's own assumptions. daemon.py runs the scheduling cycle and
binds pods. The filter and score kernels live in pykube_core.scheduler.
"""
