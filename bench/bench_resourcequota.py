"""One ResourceQuota recount over 5,000 pods, as the quota controller does on each pod event.

Run with `python -m bench.run bench/bench_resourcequota.py`. The quota
limits five resources (pods, cpu and memory requests and limits), and
every pod has one container with all four set. The figure per operation
is one whole ``count_used`` call.

- parse every pod: usage measured from each pod's quantity strings, as
  without the controller's cache.
- cached, py kernel / cached, native kernel: usage taken from the
  controller's per-object cache, so only the scope checks, the milli-unit
  matrix and the column sums remain, done by the pure-Python twin or the
  Cython loop of pykube_core.resource_sum.
"""

from __future__ import annotations

from typing import Any

import pytest

from pykube_core.pod_resources import ResourceList
from pykube_core.quota_usage import Object, object_usage
from pykube_core.resource_sum import PURE_PYTHON_KERNEL, QuantityKernel, native_quantity_kernel
from pykube_control.controllers.resourcequota_count import UsageFunc, count_used

POD_COUNT = 5_000
QUOTA: Object = {
    "metadata": {"name": "compute", "namespace": "bench"},
    "spec": {"hard": {"pods": "10k", "requests.cpu": "1k", "requests.memory": "1Ti", "limits.cpu": "1k",
                      "limits.memory": "2Ti"}},
}  # fmt: skip


def make_pod(index: int) -> Object:
    resources = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
    return {
        "metadata": {"name": f"pod-{index}", "namespace": "bench", "uid": f"uid-{index}", "resourceVersion": "1"},
        "spec": {"containers": [{"name": "web", "image": "nginx", "resources": resources}]},
    }


def cached_usage(pods: list[Object]) -> UsageFunc:
    cache: dict[str, ResourceList] = {pod["metadata"]["uid"]: object_usage("pods", pod) for pod in pods}

    def usage_of(qualified: str, obj: Object) -> ResourceList:
        return cache[obj["metadata"]["uid"]]

    return usage_of


def kernel_of(name: str) -> QuantityKernel:
    if name == "native":
        try:
            return native_quantity_kernel()
        except ImportError:
            pytest.skip("native quantity kernel not built; run python setup.py build_ext --inplace")
    return PURE_PYTHON_KERNEL


VARIANTS = {
    "parse every pod": ("native", False),
    "cached, py kernel": ("py", True),
    "cached, native kernel": ("native", True),
}


@pytest.mark.benchmark(group="quota recount 5,000 pods")
@pytest.mark.parametrize("variant", list(VARIANTS))
def bench_quota_recount(benchmark: Any, variant: str) -> None:
    kernel_name, cached = VARIANTS[variant]
    kernel = kernel_of(kernel_name)
    pods = [make_pod(index) for index in range(POD_COUNT)]
    usage_of = cached_usage(pods) if cached else object_usage
    benchmark.extra_info["ops"] = 1
    benchmark.extra_info["pods"] = POD_COUNT

    used = benchmark(count_used, QUOTA, {"pods": pods}, kernel=kernel, usage_of=usage_of)

    assert str(used["pods"]) == "5k"
    assert str(used["requests.memory"]) == "320000Mi"
