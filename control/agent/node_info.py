"""The machine's resources as the node agent reports them: capacity, reserved amounts, allocatable.

Capacity is read from the machine the agent runs on, bounded by the
cgroup the agent itself runs in, because a container's cgroup limits are
what its pods can really use:

- cpu: the CPUs in the agent's affinity mask, lowered to the cgroup's CFS
  quota (cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``) when one is set;
- memory: MemTotal of /proc/meminfo, lowered to the cgroup's memory limit;
- ephemeral-storage: the size of the file system holding the data directory;
- pods: a fixed count, 110 by default as for a kubelet.

Allocatable is capacity minus the reserved amounts (the kubelet's
--kube-reserved and --system-reserved), never below zero. Amounts are
integers: milli-cores for cpu, bytes for memory and storage, a count for pods.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from pykube_core.errors import InvalidQuantityError
from pykube_core.quantity import Format, Quantity, parse_quantity

DEFAULT_MAX_PODS = 110
"""Pods per node, the kubelet's default --max-pods."""
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage", "pods")
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_UNLIMITED_MEMORY = 2**60
"""cgroup v1 reports "no limit" as a huge page-aligned number; anything above this is no limit."""


@dataclasses.dataclass(frozen=True, slots=True)
class NodeResources:
    """Amounts of the node's resources: cpu in milli-cores, memory and storage in bytes, pods as a count."""

    cpu: int
    memory: int
    ephemeral_storage: int
    pods: int

    def as_dict(self) -> dict[str, int]:
        """Return the amounts keyed by Kubernetes resource name."""
        return {
            "cpu": self.cpu,
            "memory": self.memory,
            "ephemeral-storage": self.ephemeral_storage,
            "pods": self.pods,
        }

    def resource_list(self) -> dict[str, str]:
        """Return a Kubernetes ResourceList (quantity strings), as Node status carries it."""
        return {
            "cpu": str(Quantity.from_milli(self.cpu)),
            "memory": str(Quantity.from_units(self.memory, Format.BINARY_SI)),
            "ephemeral-storage": str(Quantity.from_units(self.ephemeral_storage, Format.BINARY_SI)),
            "pods": str(self.pods),
        }

    def minus(self, reserved: Mapping[str, int]) -> NodeResources:
        """Return these amounts less ``reserved`` (keyed by resource name), each at least zero."""
        unknown = set(reserved) - set(RESOURCE_NAMES)
        if unknown:
            raise ValueError(f"reserved resources {sorted(unknown)} are unknown; use {', '.join(RESOURCE_NAMES)}")
        values = self.as_dict()
        left = {name: max(0, amount - reserved.get(name, 0)) for name, amount in values.items()}
        return NodeResources(left["cpu"], left["memory"], left["ephemeral-storage"], left["pods"])


def machine_capacity(data_dir: Path, *, max_pods: int = DEFAULT_MAX_PODS) -> NodeResources:
    """Read the machine's capacity; ``data_dir`` must exist, its file system sizes ephemeral-storage."""
    return NodeResources(
        cpu=cpu_capacity_milli(),
        memory=memory_capacity_bytes(),
        ephemeral_storage=storage_capacity_bytes(data_dir),
        pods=max_pods,
    )


def cpu_capacity_milli() -> int:
    """Return the CPUs this process may use, in milli-cores, lowered to its cgroup's CFS quota."""
    cpus = len(os.sched_getaffinity(0)) * 1000
    quota = _cgroup_cpu_quota_milli()
    if quota is not None and quota > 0:
        cpus = min(cpus, quota)
    return cpus


def memory_capacity_bytes() -> int:
    """Return MemTotal in bytes, lowered to the memory limit of this process's cgroup."""
    total = _meminfo_total_bytes()
    limit = _cgroup_memory_limit()
    if limit is not None and 0 < limit < total:
        return limit
    return total


def storage_capacity_bytes(path: Path) -> int:
    """Return the size in bytes of the file system holding ``path``."""
    stats = os.statvfs(path)
    return stats.f_blocks * stats.f_frsize


def parse_reserved(text: str, *, flag: str) -> dict[str, int]:
    """Parse "cpu=100m,memory=256Mi" into amounts per resource name in this module's units.

    ``flag`` names the command-line option in error messages.
    """
    reserved: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name not in RESOURCE_NAMES:
            raise ValueError(
                f"{flag}: invalid entry {item!r}; use NAME=QUANTITY with NAME one of {', '.join(RESOURCE_NAMES)}"
            )
        try:
            quantity = parse_quantity(value)
        except InvalidQuantityError as error:
            raise ValueError(f"{flag}: invalid quantity {value!r} for {name}: {error}") from error
        reserved[name] = reserved.get(name, 0) + (quantity.milli_value() if name == "cpu" else quantity.value())
    return reserved


def _meminfo_total_bytes() -> int:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/meminfo has no MemTotal line; cannot size the node's memory")


def _own_cgroup_paths() -> dict[str, str]:
    """Map each cgroup controller (and "" for the unified hierarchy) to this process's cgroup path."""
    paths: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup", encoding="ascii") as cgroups:
            for line in cgroups:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in controllers.split(",") if controllers else [""]:
                    paths[controller] = path
    except OSError:
        pass
    return paths


def _read_first(*candidates: Path) -> str | None:
    for candidate in candidates:
        try:
            return candidate.read_text(encoding="ascii").strip()
        except OSError:
            continue
    return None


def _cgroup_cpu_quota_milli() -> int | None:
    paths = _own_cgroup_paths()
    unified = paths.get("")
    if unified is not None:
        text = _read_first(_CGROUP_ROOT / unified.lstrip("/") / "cpu.max", _CGROUP_ROOT / "unified" / unified.lstrip("/") / "cpu.max")
        if text:
            quota, _, period = text.partition(" ")
            if quota != "max" and period:
                return int(quota) * 1000 // int(period)
    v1 = paths.get("cpu")
    if v1 is not None:
        for mount in ("cpu", "cpu,cpuacct"):
            base = _CGROUP_ROOT / mount / v1.lstrip("/")
            quota_text = _read_first(base / "cpu.cfs_quota_us")
            period_text = _read_first(base / "cpu.cfs_period_us")
            if quota_text and period_text and int(quota_text) > 0:
                return int(quota_text) * 1000 // int(period_text)
    return None


def _cgroup_memory_limit() -> int | None:
    paths = _own_cgroup_paths()
    unified = paths.get("")
    if unified is not None:
        text = _read_first(_CGROUP_ROOT / unified.lstrip("/") / "memory.max")
        if text and text != "max":
            return int(text)
    v1 = paths.get("memory")
    if v1 is not None:
        text = _read_first(_CGROUP_ROOT / "memory" / v1.lstrip("/") / "memory.limit_in_bytes")
        if text and int(text) < _UNLIMITED_MEMORY:
            return int(text)
    return None
