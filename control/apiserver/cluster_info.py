"""The ConfigMap ``kube-public/cluster-info``: how a joining machine finds the API server and its CA.

The API server writes it at start (and rewrites it when the URL or CA
changes) with one key, ``kubeconfig``: a kubeconfig holding one cluster
entry with the server URL and the CA as certificate-authority-data, and no
users. Anyone may read it (see auth/bootstrap_policy.py). A joining
machine fetches it without verifying TLS, so it trusts the CA only after
the CA's public key hash matches the one it was given.

Differences from kubeadm: no ``jws-kubeconfig-<token-id>`` signatures are
added, so discovery relies on the CA hash alone.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import yaml

from pykube_control.apiserver import objects, resources, storage
from pykube_control.store.errors import KeyExistsError, KeyNotFoundError
from pykube_control.store.interface import Store

log = logging.getLogger("pykube.apiserver")

NAMESPACE = "kube-public"
NAME = "cluster-info"
KUBECONFIG_KEY = "kubeconfig"

Object = dict[str, Any]


def cluster_info_kubeconfig(server_url: str, ca_pem: bytes) -> str:
    """Return the YAML kubeconfig stored in cluster-info: one unnamed cluster, no users or contexts."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "",
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii"),
                },
            }
        ],
        "contexts": [],
        "users": [],
        "current-context": "",
        "preferences": {},
    }
    text: str = yaml.safe_dump(config, default_flow_style=False, sort_keys=False)
    return text


async def ensure_cluster_info(store: Store, server_url: str, ca_pem: bytes) -> None:
    """Create kube-public/cluster-info, or rewrite its data when the server URL or CA changed."""
    configmaps = resources.by_plural("", "v1", "configmaps")
    assert configmaps is not None
    key = storage.object_key(configmaps, NAMESPACE, NAME)
    data = {KUBECONFIG_KEY: cluster_info_kubeconfig(server_url, ca_pem)}
    try:
        kv = await store.get(key)
    except KeyNotFoundError:
        desired: Object = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
            "data": data,
        }
        objects.prepare_create(desired)
        try:
            await store.create(key, storage.encode(desired))
            log.info("created configmap name=%s/%s", NAMESPACE, NAME)
            return
        except KeyExistsError:
            kv = await store.get(key)
    stored = storage.decode_kv(kv)
    if stored.get("data") == data:
        return
    await store.update(key, storage.encode({**stored, "data": data}), expected_revision=kv.mod_revision)
    log.info("updated configmap name=%s/%s server=%s", NAMESPACE, NAME, server_url)
