"""LimitRange rules: default container resources and check min, max and limit/request ratio.

Pure functions over plain objects, so the LimitRanger plugin only fetches
the namespace's LimitRanges and turns the messages into a 403.

The semantics and every message follow Kubernetes' LimitRanger admission
plugin (plugin/pkg/admission/limitranger, 1.32):

- Defaults come from the items of type Container of every LimitRange in
  order. ``default`` fills missing limits, ``defaultRequest`` fills missing
  requests, and the pod gets the ``kubernetes.io/limit-ranger`` annotation
  listing what was set.
- Values compare at milli precision unless one of them is too large for
  an int64 of milli-units, then at whole-unit precision rounded up, as
  Kubernetes' requestLimitEnforcedValues does.
- The limit/request ratio is computed in float64 and printed with six
  decimals, as Go's ``%f`` does.

Differences from Kubernetes: messages come out in the order of the
LimitRange's JSON keys, where Kubernetes iterates a Go map in random order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pykube_core.pod_resources import (
    ResourceList,
    container_requirements,
    format_resource_list,
    parse_resource_list,
    pod_limits,
    pod_requests,
)
from pykube_core.quantity import Quantity

Object = dict[str, Any]

LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"

MAX_MILLI_VALUE = (2**63 - 1) // 1000
"""Largest value whose milli-units fit an int64; above it Kubernetes compares whole units."""

CONTAINER = "Container"
POD = "Pod"
CLAIM = "PersistentVolumeClaim"


def limit_items(limit_ranges: Iterable[Object]) -> list[Object]:
    """Return the ``spec.limits`` items of every LimitRange, in order."""
    items: list[Object] = []
    for limit_range in limit_ranges:
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            if isinstance(item, dict):
                items.append(item)
    return items


# --- defaults ----------------------------------------------------------------------


def default_requirements(items: Iterable[Object]) -> tuple[ResourceList, ResourceList]:
    """Return the default (requests, limits) of a container under the Container items.

    A later item wins a resource that several items set. Each item is read
    as LimitRange defaulting leaves it (limit from max, request from the
    limit, else from min), so an item stored without those defaults acts
    the same.
    """
    requests: ResourceList = {}
    limits: ResourceList = {}
    for item in items:
        if item.get("type") != CONTAINER:
            continue
        item_limits = parse_resource_list(item.get("max"))
        item_limits.update(parse_resource_list(item.get("default")))
        item_requests = parse_resource_list(item.get("min"))
        item_requests.update(item_limits)
        item_requests.update(parse_resource_list(item.get("defaultRequest")))
        requests.update(item_requests)
        limits.update(item_limits)
    return requests, limits


def apply_defaults(pod: Object, requests: ResourceList, limits: ResourceList) -> None:
    """Fill missing container requests and limits of ``pod`` in place and annotate what was set.

    A container's own limit without a request first becomes its request, as
    Kubernetes' pod defaulting does before admission, so a default request
    never undercuts a limit the user chose.
    """
    notes: list[str] = []
    spec = pod.get("spec") or {}
    for field, label in (("containers", "container"), ("initContainers", "init container")):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                notes.extend(_fill_container(container, label, requests, limits))
    if notes:
        annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[LIMIT_RANGER_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


def _fill_container(container: Object, label: str, requests: ResourceList, limits: ResourceList) -> list[str]:
    resources = container.get("resources")
    if not isinstance(resources, dict):
        resources = container["resources"] = {}
    own_limits = resources.get("limits")
    if not isinstance(own_limits, dict):
        own_limits = resources["limits"] = {}
    own_requests = resources.get("requests")
    if not isinstance(own_requests, dict):
        own_requests = resources["requests"] = {}
    for name, value in own_limits.items():
        own_requests.setdefault(name, value)

    set_limits = sorted(name for name in limits if name not in own_limits)
    set_requests = sorted(name for name in requests if name not in own_requests)
    own_limits.update(format_resource_list({name: limits[name] for name in set_limits}))
    own_requests.update(format_resource_list({name: requests[name] for name in set_requests}))
    if not own_limits:
        del resources["limits"]
    if not own_requests:
        del resources["requests"]

    notes = []
    name = container.get("name", "")
    if set_requests:
        notes.append(f"{', '.join(set_requests)} request for {label} {name}")
    if set_limits:
        notes.append(f"{', '.join(set_limits)} limit for {label} {name}")
    return notes


# --- checks ------------------------------------------------------------------------


def pod_violations(items: Iterable[Object], pod: Object) -> list[str]:
    """Return a message for every Container and Pod constraint ``pod`` breaks."""
    spec = pod.get("spec") or {}
    messages: list[str] = []
    for item in items:
        kind = item.get("type")
        if kind == CONTAINER:
            for field in ("containers", "initContainers"):
                for container in spec.get(field) or []:
                    if isinstance(container, dict):
                        requests, limits = container_requirements(container)
                        messages.extend(_item_violations(item, CONTAINER, requests, limits))
        elif kind == POD:
            requests = pod_requests(pod, overhead=False)
            limits = pod_limits(pod, overhead=False)
            messages.extend(_item_violations(item, POD, requests, limits))
    return messages


def claim_violations(items: Iterable[Object], claim: Object) -> list[str]:
    """Return a message for every PersistentVolumeClaim constraint ``claim`` breaks.

    Only ``spec.resources.requests`` counts: Kubernetes does not treat a
    claim's limits as user input.
    """
    requests = parse_resource_list(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    messages: list[str] = []
    for item in items:
        if item.get("type") != CLAIM:
            continue
        for name, enforced in parse_resource_list(item.get("min")).items():
            message = min_violation(CLAIM, name, enforced, requests, {})
            if message:
                messages.append(message)
        for name, enforced in parse_resource_list(item.get("max")).items():
            message = max_request_violation(CLAIM, name, enforced, requests)
            if message:
                messages.append(message)
    return messages


def _item_violations(item: Object, kind: str, requests: ResourceList, limits: ResourceList) -> list[str]:
    found = [min_violation(kind, name, q, requests, limits) for name, q in parse_resource_list(item.get("min")).items()]
    found += [max_violation(kind, name, q, requests, limits) for name, q in parse_resource_list(item.get("max")).items()]
    ratios = parse_resource_list(item.get("maxLimitRequestRatio"))
    found += [ratio_violation(kind, name, q, requests, limits) for name, q in ratios.items()]
    return [message for message in found if message]


def comparable(request: Quantity | None, limit: Quantity | None, enforced: Quantity) -> tuple[int, int, int]:
    """Return request, limit and enforced value at one precision; a missing quantity is 0."""
    values = [q or Quantity(0) for q in (request, limit, enforced)]
    if all(q.value() <= MAX_MILLI_VALUE for q in values):
        return values[0].milli_value(), values[1].milli_value(), values[2].milli_value()
    return values[0].value(), values[1].value(), values[2].value()


def min_violation(kind: str, name: str, enforced: Quantity, requests: ResourceList, limits: ResourceList) -> str | None:
    request, limit = requests.get(name), limits.get(name)
    observed_request, observed_limit, minimum = comparable(request, limit, enforced)
    if request is None:
        return f"minimum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_request < minimum:
        return f"minimum {name} usage per {kind} is {enforced}, but request is {request}"
    if limit is not None and observed_limit < minimum:
        return f"minimum {name} usage per {kind} is {enforced}, but limit is {limit}"
    return None


def max_violation(kind: str, name: str, enforced: Quantity, requests: ResourceList, limits: ResourceList) -> str | None:
    request, limit = requests.get(name), limits.get(name)
    observed_request, observed_limit, maximum = comparable(request, limit, enforced)
    if limit is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No limit is specified"
    if observed_limit > maximum:
        return f"maximum {name} usage per {kind} is {enforced}, but limit is {limit}"
    if request is not None and observed_request > maximum:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {request}"
    return None


def max_request_violation(kind: str, name: str, enforced: Quantity, requests: ResourceList) -> str | None:
    request = requests.get(name)
    observed_request, _, maximum = comparable(request, None, enforced)
    if request is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_request > maximum:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {request}"
    return None


def ratio_violation(kind: str, name: str, enforced: Quantity, requests: ResourceList, limits: ResourceList) -> str | None:
    request, limit = requests.get(name), limits.get(name)
    observed_request, observed_limit, _ = comparable(request, limit, enforced)
    prefix = f"{name} max limit to request ratio per {kind} is {enforced}"
    if request is None or observed_request == 0:
        return f"{prefix}, but no request is specified or request is 0"
    if limit is None or observed_limit == 0:
        return f"{prefix}, but no limit is specified or limit is 0"
    # float64 arithmetic on purpose: Kubernetes compares and prints this ratio as a Go float64.
    ratio = float(observed_limit) / float(observed_request)
    observed = ratio
    allowed = float(enforced.value())
    if enforced.value() <= MAX_MILLI_VALUE:
        observed = ratio * 1000
        allowed = float(enforced.milli_value())
    if observed > allowed:
        return f"{prefix}, but provided ratio is {ratio:f}"
    return None


def aggregate(messages: list[str]) -> str:
    """Join messages as Kubernetes' error aggregate does: duplicates dropped, brackets around several."""
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"
