"""Discovery documents: /api, /apis, group and version lists, and the aggregated form.

kubectl and client libraries read these to map kinds to URLs. Clients that
ask for ``as=APIGroupDiscoveryList`` (kubectl 1.26 and newer) get the
aggregated v2 document in one request; others walk the legacy documents.
"""

from __future__ import annotations

from typing import Any

from pykube_control.apiserver.resources import ResourceType, groups, served_at

Object = dict[str, Any]

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "binding": ["create"],
    "eviction": ["create"],
    "log": ["get"],
    "finalize": ["update"],
}

SUBRESOURCE_KINDS = {
    "scale": ("autoscaling", "v1", "Scale"),
    "binding": ("", "v1", "Binding"),
    "eviction": ("policy", "v1", "Eviction"),
}


def aggregated_version_requested(accept: str) -> str | None:
    """Return the aggregated discovery content type that the Accept header requests first, if any."""
    for part in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == "APIGroupDiscoveryList" and params.get("g") == "apidiscovery.k8s.io":
            if params.get("v") == "v2":
                return AGGREGATED_V2
            if params.get("v") == "v2beta1":
                return AGGREGATED_V2BETA1
    return None


def api_versions(server_address: str) -> Object:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> Object:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> Object:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, versions) for name, versions in groups().items() if name],
    }


def api_group(name: str) -> Object | None:
    versions = groups().get(name)
    if not name or versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource_entries(resource: ResourceType, legacy: bool) -> list[Object]:
    entries: list[Object] = [
        {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
        }
    ]
    # Legacy versions carry no short names or categories, so "deploy" and
    # "all" resolve to the current version without ambiguity warnings.
    if resource.short_names and not legacy:
        entries[0]["shortNames"] = list(resource.short_names)
    if resource.categories and not legacy:
        entries[0]["categories"] = list(resource.categories)
    for sub in resource.subresources:
        group, version, kind = SUBRESOURCE_KINDS.get(sub, (resource.group, resource.version, resource.kind))
        entry: Object = {
            "name": f"{resource.plural}/{sub}",
            "singularName": "",
            "namespaced": resource.namespaced,
            "kind": kind,
            "verbs": SUBRESOURCE_VERBS.get(sub, ["get"]),
        }
        if (group, version) != (resource.group, resource.version):
            entry["group"], entry["version"] = group, version
        entries.append(entry)
    return entries


def api_resource_list(group: str, version: str) -> Object | None:
    served = served_at(group, version)
    if not served:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for r, legacy in served for entry in _resource_entries(r, legacy)],
    }


def _aggregated_resource(resource: ResourceType, legacy: bool) -> Object:
    entry: Object = {
        "resource": resource.plural,
        "responseKind": {"group": resource.group, "version": resource.version, "kind": resource.kind},
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": list(resource.verbs),
    }
    if resource.short_names and not legacy:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories and not legacy:
        entry["categories"] = list(resource.categories)
    subresources = []
    for sub in resource.subresources:
        group, version, kind = SUBRESOURCE_KINDS.get(sub, (resource.group, resource.version, resource.kind))
        subresources.append(
            {
                "subresource": sub,
                "responseKind": {"group": group, "version": version, "kind": kind},
                "verbs": SUBRESOURCE_VERBS.get(sub, ["get"]),
            }
        )
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated_discovery(core: bool, content_type: str) -> Object:
    """Return the aggregated document of the core group (/api) or of the named groups (/apis)."""
    items = []
    for name, versions in groups().items():
        if (name == "") != core:
            continue
        items.append(
            {
                "metadata": {"name": name, "creationTimestamp": None},
                "versions": [
                    {
                        "version": version,
                        "resources": [_aggregated_resource(r, legacy) for r, legacy in served_at(name, version)],
                        "freshness": "Current",
                    }
                    for version in versions
                ],
            }
        )
    api_version = "apidiscovery.k8s.io/v2" if content_type == AGGREGATED_V2 else "apidiscovery.k8s.io/v2beta1"
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}
