"""The ``kubernetes`` Service in ``default``, which lets pods reach the API server.

The API server writes it at start, as kube-apiserver's bootstrap controller
does: a ClusterIP Service on the first address of the service CIDR, port
443 (named https) to the API server's own port, without a selector, and
the Endpoints and EndpointSlice that point at the advertise address. A
restart on another port or address rewrites the ports and addresses.

Differences from Kubernetes: the Service is written once per start, not
reconciled every few seconds, and with several API servers on one etcd the
last one started owns the endpoints instead of all of them being listed.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from pykube_control.apiserver import objects, resources, storage
from pykube_control.apiserver.admission.service_allocator import Owner, load_cluster_ip_pool
from pykube_control.store.errors import KeyExistsError, KeyNotFoundError
from pykube_control.store.interface import Store

log = logging.getLogger("pykube.apiserver")

Object = dict[str, Any]

NAME = "kubernetes"
NAMESPACE = "default"
SERVICE_PORT = 443
PORT_NAME = "https"
SERVICE_LABELS = {"component": "apiserver", "provider": "kubernetes"}


async def ensure_kubernetes_service(store: Store, advertise_address: str, port: int) -> None:
    """Create or refresh the ``kubernetes`` Service and its endpoints for an API server on ``port``."""
    pool = await load_cluster_ip_pool(store)
    cluster_ip = pool.first_address()
    service = await _put(store, "services", _service(cluster_ip, pool.family, port), "spec")
    stored_ip = (service.get("spec") or {}).get("clusterIP")
    if stored_ip != cluster_ip:
        # NOTE: a Service kept from another service CIDR keeps its old address until deleted.
        log.warning("kubernetes service keeps an address outside the range cluster_ip=%s expected=%s", stored_ip, cluster_ip)
    else:
        await pool.claim(pool.parse(cluster_ip), Owner.of(service))

    try:
        address = ipaddress.ip_address(advertise_address)
    except ValueError:
        log.warning("kubernetes service has no endpoints: advertise address is not an IP address=%s", advertise_address)
        return
    await _put(store, "endpoints", _endpoints(str(address), port), "subsets")
    await _put(store, "endpointslices.discovery.k8s.io", _endpoint_slice(address, port), "endpoints", "ports", "addressType")


def _service(cluster_ip: str, family: str, port: int) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(SERVICE_LABELS)},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ipFamilies": [family],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "protocol": "TCP", "targetPort": port}],
        },
        "status": {"loadBalancer": {}},
    }


def _endpoints(address: str, port: int) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}]}],
    }


def _endpoint_slice(address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> Object:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"kubernetes.io/service-name": NAME}},
        "addressType": "IPv4" if address.version == 4 else "IPv6",
        "endpoints": [{"addresses": [str(address)], "conditions": {"ready": True}}],
        "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
    }


async def _put(store: Store, qualified: str, desired: Object, *fields: str) -> Object:
    """Create ``desired``, or rewrite ``fields`` of the stored object when they differ; return what is stored.

    The stored object's spec keeps values it has that ``desired`` lacks,
    so a Service keeps its allocated cluster IP.
    """
    resource = next(candidate for candidate in resources.RESOURCES if candidate.qualified == qualified)
    key = storage.object_key(resource, NAMESPACE, NAME)
    try:
        kv = await store.get(key)
    except KeyNotFoundError:
        objects.prepare_create(desired)
        try:
            await store.create(key, storage.encode(desired))
            log.info("created %s name=%s/%s", resource.plural, NAMESPACE, NAME)
            return desired
        except KeyExistsError:
            kv = await store.get(key)
    stored = storage.decode_kv(kv)
    updated = dict(stored)
    for field in fields:
        if field == "spec":
            updated["spec"] = {**(stored.get("spec") or {}), "ports": desired["spec"]["ports"]}
        else:
            updated[field] = desired[field]
    if all(updated.get(field) == stored.get(field) for field in fields):
        return stored
    await store.update(key, storage.encode(updated), expected_revision=kv.mod_revision)
    log.info("updated %s name=%s/%s", resource.plural, NAMESPACE, NAME)
    return updated
