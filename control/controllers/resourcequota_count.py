"""Counting a ResourceQuota's ``status.used`` from the objects of its namespace.

The totals are column sums over a (objects x quota resources) int64
matrix of milli-units, done by pykube_core's ResourceSums (the native
loop, or its pure-Python twin). Quantities finer than a milli-unit, such
as "1n", and sums that leave the int64 range fall back to exact Quantity
arithmetic, so the result always equals adding the Quantity values one by
one. Each total is printed in the format of the first non-zero quantity
added into it, which is how Quantity addition picks a format, so
"64Mi" + "64Mi" prints "128Mi".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from pykube_core.pod_resources import ResourceList, format_resource_list, parse_resource_list
from pykube_core.quantity import NANOS_PER_MILLI, Format, Quantity
from pykube_core.quota_scopes import quota_matches
from pykube_core.quota_usage import Object, object_usage, usage_source
from pykube_core.resource_sum import QuantityKernel, ResourceSums

INT64_MAX = 2**63 - 1

UsageFunc = Callable[[str, Object], ResourceList]
"""A function that measures one object of a qualified resource, as ``object_usage`` does."""


def hard_limits(quota: Object) -> ResourceList:
    return parse_resource_list((quota.get("spec") or {}).get("hard"))


def count_used(
    quota: Object,
    objects: Mapping[str, Iterable[Object]],
    *,
    kernel: QuantityKernel | None = None,
    usage_of: UsageFunc = object_usage,
) -> ResourceList:
    """Return the quota's usage of every resource in its ``spec.hard``.

    ``objects`` maps a qualified resource ("pods", "deployments.apps") to
    the namespace's objects of it. A hard resource whose source is missing
    from ``objects`` counts zero. ``usage_of`` may be a cached
    ``object_usage``, because parsing quantities costs more than the sums.
    """
    names = sorted(hard_limits(quota))
    rows: list[ResourceList] = []
    for source in sorted({source for name in names if (source := usage_source(name)) is not None}):
        for obj in objects.get(source, ()):
            if quota_matches(quota, source, obj):
                usage = restrict(usage_of(source, obj), names)
                if usage:
                    rows.append(usage)
    return sum_rows(names, rows, kernel=kernel)


def sum_rows(names: Sequence[str], rows: Sequence[ResourceList], *, kernel: QuantityKernel | None = None) -> ResourceList:
    """Add up ``rows`` per resource in ``names``; every name gets a total, zero when no row has it."""
    if not names:
        return {}
    formats = _first_formats(names, rows)
    matrix = _milli_matrix(names, rows)
    if matrix is not None:
        try:
            totals = ResourceSums(names, kernel=kernel).column_sums(matrix)
        except OverflowError:
            pass
        else:
            return {name: Quantity.from_milli(int(total), formats[name]) for name, total in zip(names, totals)}
    return _exact_sums(names, rows)


def _first_formats(names: Sequence[str], rows: Sequence[ResourceList]) -> dict[str, Format]:
    formats = {name: Format.DECIMAL_SI for name in names}
    unset = set(names)
    for row in rows:
        for name in list(unset):
            quantity = row.get(name)
            if quantity is not None and not quantity.is_zero():
                formats[name] = quantity.format
                unset.discard(name)
        if not unset:
            break
    return formats


def _milli_matrix(names: Sequence[str], rows: Sequence[ResourceList]) -> np.ndarray[tuple[int, int], np.dtype[np.int64]] | None:
    """Return the rows in milli-units, or None when one is finer than a milli-unit or beyond int64."""
    matrix = np.zeros((len(rows), len(names)), dtype=np.int64)
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            quantity = row.get(name)
            if quantity is None:
                continue
            milli, remainder = divmod(quantity.nanos, NANOS_PER_MILLI)
            if remainder or not -INT64_MAX <= milli <= INT64_MAX:
                return None
            matrix[i, j] = milli
    return matrix


def _exact_sums(names: Sequence[str], rows: Sequence[ResourceList]) -> ResourceList:
    totals = {name: Quantity(0, Format.DECIMAL_SI) for name in names}
    for row in rows:
        for name in names:
            quantity = row.get(name)
            if quantity is not None:
                totals[name] = totals[name] + quantity
    return totals


def quota_status(hard: ResourceList, used: ResourceList) -> dict[str, dict[str, str]]:
    """Return the wire ``status``: hard as in spec.hard, used for exactly the hard resources."""
    return {"hard": format_resource_list(hard), "used": format_resource_list(restrict(used, hard))}


def status_matches(quota: Object, hard: ResourceList, used: ResourceList) -> bool:
    """Tell whether the quota's current status has these values; formats may differ, as in "1Gi" and "1073741824"."""
    status = quota.get("status") or {}
    try:
        current_hard = parse_resource_list(status.get("hard"))
        current_used = parse_resource_list(status.get("used"))
    except ValueError:
        return False
    return current_hard == hard and current_used == restrict(used, hard)


def restrict(values: ResourceList, names: Iterable[str]) -> ResourceList:
    """Return the entries of ``values`` whose name is in ``names``."""
    wanted = set(names)
    return {name: quantity for name, quantity in values.items() if name in wanted}
