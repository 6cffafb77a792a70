"""The scheduler core: a dense node table and kube-scheduler's filter and score plugins.

NodeTable stores every node as arrays. Scheduler filters, scores and selects
over it with native kernels (pykube_core.scheduler._native) or their
pure-Python twin (PYKUBE_PURE_PYTHON=1). The scheduler daemon in
pykube_control drives it; this package does no I/O.
"""

from pykube_core.scheduler.arrays import (
    AffinityFailure,
    FilterPlugin,
    ScorePlugin,
    SpreadFailure,
    Status,
    Strategy,
)
from pykube_core.scheduler.framework import (
    DEFAULT_WEIGHTS,
    BatchResult,
    PURE_PYTHON_KERNEL,
    FilterResult,
    NodeVerdict,
    Profile,
    ScheduleResult,
    Scheduler,
    SchedulerKernel,
    ShapePoint,
    default_kernel,
    native_kernel,
)
from pykube_core.scheduler.node_table import NodeTable
from pykube_core.scheduler.pod_terms import NamespaceResolver
from pykube_core.scheduler.reasons import summarize
from pykube_core.scheduler.requests import pod_requests
from pykube_core.scheduler.volumes import VolumeCheck, check_volumes

__all__ = [
    "AffinityFailure",
    "BatchResult",
    "VolumeCheck",
    "check_volumes",
    "DEFAULT_WEIGHTS",
    "PURE_PYTHON_KERNEL",
    "FilterPlugin",
    "FilterResult",
    "NodeTable",
    "NamespaceResolver",
    "NodeVerdict",
    "Profile",
    "ScheduleResult",
    "ScorePlugin",
    "Scheduler",
    "SchedulerKernel",
    "ShapePoint",
    "SpreadFailure",
    "Status",
    "Strategy",
    "default_kernel",
    "native_kernel",
    "pod_requests",
    "summarize",
]
