"""Server-side printing: Table responses for ``kubectl get``.

kubectl requests ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints
the columns the server sends. Each kind has the columns Kubernetes' printers
give it (priority 1 columns appear with ``-o wide``); kinds without a
printer get Name and Created At, like Kubernetes' default table convertor.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from aiohttp import web

from pykube_control.apiserver.resources import ResourceType

Object = dict[str, Any]
Cell = str | int | float | bool | None
Column = tuple[str, str, int, Callable[[Object], Cell]]
"""(name, type, priority, cell function)."""


def table_requested(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip() for p in part.split(";")[1:] if "=" in p}
        if params.get("as") == "Table":
            return True
    return False


def _age(obj: Object) -> str:
    stamp = obj.get("metadata", {}).get("creationTimestamp")
    return human_duration_since(stamp) if isinstance(stamp, str) else "<unknown>"


def _parse_time(stamp: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        try:
            return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return None


def human_duration_since(stamp: str) -> str:
    moment = _parse_time(stamp)
    if moment is None:
        return "<invalid>"
    seconds = int((datetime.datetime.now(datetime.timezone.utc) - moment).total_seconds())
    return human_duration(max(seconds, 0))


def human_duration(seconds: int) -> str:
    """Format a duration as kubectl's AGE column does: 45s, 5m12s, 3h4m, 2d5h, 400d."""
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    return f"{years}y{days % 365}d" if days % 365 else f"{years}y"


def _get(obj: Any, *path: str | int) -> Any:
    for part in path:
        if isinstance(part, int):
            obj = obj[part] if isinstance(obj, list) and len(obj) > part else None
        else:
            obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _name(obj: Object) -> str:
    return str(_get(obj, "metadata", "name") or "")


def _join(values: list[Any]) -> str:
    return ",".join(str(v) for v in values) if values else "<none>"


def _or_none(value: Any) -> Cell:
    return "<none>" if value in (None, "") else value


# --- pods -----------------------------------------------------------------------------


def _or_not_applicable(value: Any) -> str:
    """Return the value as text, or "N/A" as kubectl prints an unset budget field."""
    return "N/A" if value is None else str(value)


def _pod_ready(pod: Object) -> str:
    containers = _get(pod, "spec", "containers") or []
    statuses = _get(pod, "status", "containerStatuses") or []
    ready = sum(1 for s in statuses if isinstance(s, dict) and s.get("ready"))
    return f"{ready}/{len(containers)}"


def _pod_status(pod: Object) -> str:
    if _get(pod, "metadata", "deletionTimestamp"):
        return "Terminating"
    reason = _get(pod, "status", "reason") or _get(pod, "status", "phase") or "Unknown"
    for status in _get(pod, "status", "containerStatuses") or []:
        waiting = _get(status, "state", "waiting", "reason")
        terminated = _get(status, "state", "terminated", "reason")
        if waiting:
            reason = waiting
        elif terminated:
            reason = terminated
    return str(reason)


def _pod_restarts(pod: Object) -> int:
    return sum(int(_get(s, "restartCount") or 0) for s in _get(pod, "status", "containerStatuses") or [])


def _containers(obj: Object, *path: str) -> list[Object]:
    containers = _get(obj, *path, "containers") or []
    return [c for c in containers if isinstance(c, dict)]


def _selector_text(selector: Any) -> str:
    labels = _get(selector, "matchLabels") if isinstance(selector, dict) and "matchLabels" in selector else selector
    parts = [f"{k}={v}" for k, v in sorted(labels.items())] if isinstance(labels, dict) else []
    for expression in _get(selector, "matchExpressions") or []:
        values = ",".join(expression.get("values") or [])
        parts.append(f"{expression.get('key')} {str(expression.get('operator', '')).lower()} ({values})")
    return ",".join(parts) or "<none>"


def _template_columns(path: tuple[str, ...]) -> list[Column]:
    return [
        ("Containers", "string", 1, lambda o: _join([c.get("name") for c in _containers(o, *path)])),
        ("Images", "string", 1, lambda o: _join([c.get("image") for c in _containers(o, *path)])),
        ("Selector", "string", 1, lambda o: _selector_text(_get(o, "spec", "selector"))),
    ]


TEMPLATE = ("spec", "template", "spec")


def _service_ports(svc: Object) -> str:
    ports = []
    for port in _get(svc, "spec", "ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(ports) or "<none>"


def _node_status(node: Object) -> str:
    ready = "Unknown"
    for condition in _get(node, "status", "conditions") or []:
        if condition.get("type") == "Ready":
            ready = "Ready" if condition.get("status") == "True" else "NotReady"
    if _get(node, "spec", "unschedulable"):
        ready += ",SchedulingDisabled"
    return ready


def _node_roles(node: Object) -> str:
    labels = _get(node, "metadata", "labels") or {}
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in labels if k.startswith(prefix))
    return ",".join(roles) or "<none>"


def _node_address(kind: str) -> Callable[[Object], Cell]:
    def cell(node: Object) -> Cell:
        for address in _get(node, "status", "addresses") or []:
            if address.get("type") == kind:
                return str(address.get("address"))
        return "<none>"

    return cell


def _event_object(event: Object) -> str:
    involved = _get(event, "involvedObject") or _get(event, "regarding") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _event_last_seen(event: Object) -> str:
    stamp = _get(event, "lastTimestamp") or _get(event, "eventTime") or _get(event, "metadata", "creationTimestamp")
    return human_duration_since(stamp) if isinstance(stamp, str) else "<unknown>"


def _quota_usage(limits: bool) -> Callable[[Object], Cell]:
    """Return the cell of a quota's REQUEST or LIMIT column: "name: used/hard" pairs, sorted."""

    def cell(quota: Object) -> Cell:
        hard = _get(quota, "status", "hard") or _get(quota, "spec", "hard") or {}
        used = _get(quota, "status", "used") or {}
        names = sorted(n for n in hard if n.startswith("limits.") == limits)
        return ", ".join(f"{n}: {used.get(n, '0')}/{hard[n]}" for n in names)

    return cell


def _slice_ports(eps: Object) -> str:
    ports = [str(port.get("port")) for port in _get(eps, "ports") or [] if isinstance(port, dict)]
    return ",".join(ports) or "<unset>"


def _slice_endpoints(eps: Object) -> str:
    addresses = [a for e in _get(eps, "endpoints") or [] for a in (e.get("addresses") or [])]
    return _abbreviate(addresses)


def _endpoints_addresses(ep: Object) -> str:
    pairs = []
    for subset in _get(ep, "subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for address in subset.get("addresses") or []:
            pairs += [f"{address.get('ip')}:{port}" if port else str(address.get("ip")) for port in ports]
    return _abbreviate(pairs)


def _abbreviate(values: list[Any]) -> str:
    """Join the first three values and count the rest, as kubectl's endpoint columns do."""
    if not values:
        return "<none>"
    shown = ",".join(str(v) for v in values[:3])
    return shown + (f" + {len(values) - 3} more..." if len(values) > 3 else "")


NAME: Column = ("Name", "string", 0, _name)
AGE: Column = ("Age", "string", 0, _age)

COLUMNS: dict[str, list[Column]] = {
    "pods": [
        NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        ("Restarts", "string", 0, _pod_restarts),
        AGE,
        ("IP", "string", 1, lambda p: _or_none(_get(p, "status", "podIP"))),
        ("Node", "string", 1, lambda p: _or_none(_get(p, "spec", "nodeName"))),
        ("Nominated Node", "string", 1, lambda p: _or_none(_get(p, "status", "nominatedNodeName"))),
        ("Readiness Gates", "string", 1, lambda p: "<none>"),
    ],
    "nodes": [
        NAME,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        AGE,
        ("Version", "string", 0, lambda n: str(_get(n, "status", "nodeInfo", "kubeletVersion") or "")),
        ("Internal-IP", "string", 1, _node_address("InternalIP")),
        ("External-IP", "string", 1, _node_address("ExternalIP")),
        ("OS-Image", "string", 1, lambda n: str(_get(n, "status", "nodeInfo", "osImage") or "<unknown>")),
        ("Kernel-Version", "string", 1, lambda n: str(_get(n, "status", "nodeInfo", "kernelVersion") or "<unknown>")),
        ("Container-Runtime", "string", 1, lambda n: str(_get(n, "status", "nodeInfo", "containerRuntimeVersion") or "<unknown>")),
    ],
    "namespaces": [NAME, ("Status", "string", 0, lambda n: str(_get(n, "status", "phase") or "")), AGE],
    "deployments.apps": [
        NAME,
        ("Ready", "string", 0, lambda d: f"{_get(d, 'status', 'readyReplicas') or 0}/{_get(d, 'spec', 'replicas') or 0}"),
        ("Up-to-date", "integer", 0, lambda d: _get(d, "status", "updatedReplicas") or 0),
        ("Available", "integer", 0, lambda d: _get(d, "status", "availableReplicas") or 0),
        AGE,
        *_template_columns(TEMPLATE),
    ],
    "replicasets.apps": [
        NAME,
        ("Desired", "integer", 0, lambda r: _get(r, "spec", "replicas") or 0),
        ("Current", "integer", 0, lambda r: _get(r, "status", "replicas") or 0),
        ("Ready", "integer", 0, lambda r: _get(r, "status", "readyReplicas") or 0),
        AGE,
        *_template_columns(TEMPLATE),
    ],
    "replicationcontrollers": [
        NAME,
        ("Desired", "integer", 0, lambda r: _get(r, "spec", "replicas") or 0),
        ("Current", "integer", 0, lambda r: _get(r, "status", "replicas") or 0),
        ("Ready", "integer", 0, lambda r: _get(r, "status", "readyReplicas") or 0),
        AGE,
        *_template_columns(TEMPLATE),
    ],
    "daemonsets.apps": [
        NAME,
        ("Desired", "integer", 0, lambda d: _get(d, "status", "desiredNumberScheduled") or 0),
        ("Current", "integer", 0, lambda d: _get(d, "status", "currentNumberScheduled") or 0),
        ("Ready", "integer", 0, lambda d: _get(d, "status", "numberReady") or 0),
        ("Up-to-date", "integer", 0, lambda d: _get(d, "status", "updatedNumberScheduled") or 0),
        ("Available", "integer", 0, lambda d: _get(d, "status", "numberAvailable") or 0),
        ("Node Selector", "string", 0, lambda d: _selector_text(_get(d, "spec", "template", "spec", "nodeSelector"))),
        AGE,
        *_template_columns(TEMPLATE),
    ],
    "jobs.batch": [
        NAME,
        ("Completions", "string", 0, lambda j: f"{_get(j, 'status', 'succeeded') or 0}/{_get(j, 'spec', 'completions') or 1}"),
        AGE,
        *_template_columns(TEMPLATE),
    ],
    "services": [
        NAME,
        ("Type", "string", 0, lambda s: str(_get(s, "spec", "type") or "ClusterIP")),
        ("Cluster-IP", "string", 0, lambda s: _or_none(_get(s, "spec", "clusterIP"))),
        ("External-IP", "string", 0, lambda s: _join(_get(s, "spec", "externalIPs") or [])),
        ("Port(s)", "string", 0, _service_ports),
        AGE,
        ("Selector", "string", 1, lambda s: _selector_text(_get(s, "spec", "selector"))),
    ],
    "resourcequotas": [NAME, AGE, ("Request", "string", 0, _quota_usage(False)), ("Limit", "string", 0, _quota_usage(True))],
    "endpointslices.discovery.k8s.io": [
        NAME,
        ("AddressType", "string", 0, lambda e: str(_get(e, "addressType") or "")),
        ("Ports", "string", 0, _slice_ports),
        ("Endpoints", "string", 0, _slice_endpoints),
        AGE,
    ],
    "endpoints": [NAME, ("Endpoints", "string", 0, _endpoints_addresses), AGE],
    "configmaps": [NAME, ("Data", "integer", 0, lambda c: len(_get(c, "data") or {}) + len(_get(c, "binaryData") or {})), AGE],
    "secrets": [
        NAME,
        ("Type", "string", 0, lambda s: str(_get(s, "type") or "Opaque")),
        ("Data", "integer", 0, lambda s: len(_get(s, "data") or {})),
        AGE,
    ],
    "serviceaccounts": [NAME, ("Secrets", "integer", 0, lambda s: len(_get(s, "secrets") or [])), AGE],
    "events": [
        ("Last Seen", "string", 0, _event_last_seen),
        ("Type", "string", 0, lambda e: str(_get(e, "type") or "")),
        ("Reason", "string", 0, lambda e: str(_get(e, "reason") or "")),
        ("Object", "string", 0, _event_object),
        ("Message", "string", 0, lambda e: str(_get(e, "message") or _get(e, "note") or "")),
    ],
    "persistentvolumeclaims": [
        NAME,
        ("Status", "string", 0, lambda c: str(_get(c, "status", "phase") or "")),
        ("Volume", "string", 0, lambda c: str(_get(c, "spec", "volumeName") or "")),
        ("Capacity", "string", 0, lambda c: str(_get(c, "status", "capacity", "storage") or "")),
        ("Access Modes", "string", 0, lambda c: ",".join(_get(c, "status", "accessModes") or [])),
        ("StorageClass", "string", 0, lambda c: str(_get(c, "spec", "storageClassName") or "<unset>")),
        AGE,
    ],
    "poddisruptionbudgets.policy": [
        NAME,
        ("Min Available", "string", 0, lambda b: _or_not_applicable(_get(b, "spec", "minAvailable"))),
        ("Max Unavailable", "string", 0, lambda b: _or_not_applicable(_get(b, "spec", "maxUnavailable"))),
        ("Allowed Disruptions", "integer", 0, lambda b: int(_get(b, "status", "disruptionsAllowed") or 0)),
        AGE,
    ],
    "priorityclasses.scheduling.k8s.io": [
        NAME,
        ("Value", "integer", 0, lambda c: int(_get(c, "value") or 0)),
        ("Global-Default", "boolean", 0, lambda c: bool(_get(c, "globalDefault"))),
        AGE,
        ("PreemptionPolicy", "string", 0, lambda c: str(_get(c, "preemptionPolicy") or "")),
    ],
}


def _csr_condition(csr: Object) -> str:
    """Return kubectl's CONDITION of a CSR: its True condition types joined by commas, plus Issued, or Pending."""
    types = [str(c.get("type")) for c in _get(csr, "status", "conditions") or [] if c.get("status") == "True"]
    if _get(csr, "status", "certificate"):
        types.append("Issued")
    return ",".join(types) or "Pending"


def _csr_duration(csr: Object) -> str:
    seconds = _get(csr, "spec", "expirationSeconds")
    return human_duration(seconds) if isinstance(seconds, int) else "<none>"


COLUMNS["certificatesigningrequests.certificates.k8s.io"] = [
    NAME,
    AGE,
    ("SignerName", "string", 0, lambda c: str(_get(c, "spec", "signerName") or "")),
    ("Requestor", "string", 0, lambda c: str(_get(c, "spec", "username") or "")),
    ("RequestedDuration", "string", 0, _csr_duration),
    ("Condition", "string", 0, _csr_condition),
]


def _columns(resource: ResourceType) -> list[Column]:
    return COLUMNS.get(resource.qualified, [NAME, ("Created At", "date", 0, lambda o: _get(o, "metadata", "creationTimestamp"))])


def _partial_metadata(obj: Object) -> Object:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def to_table(
    resource: ResourceType,
    items: list[Object],
    resource_version: str,
    request: web.Request,
    continue_token: str | None = None,
) -> Object:
    include = request.query.get("includeObject", "Metadata")
    columns = _columns(resource)
    rows = []
    for obj in items:
        row: Object = {"cells": [cell(obj) for _, _, _, cell in columns]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = _partial_metadata(obj)
        rows.append(row)
    metadata: Object = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [
            {"name": name, "type": kind, "format": "name" if name == "Name" else "", "description": "", "priority": priority}
            for name, kind, priority, _ in columns
        ],
        "rows": rows,
    }
