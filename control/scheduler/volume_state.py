"""The PersistentVolumes and PersistentVolumeClaims that VolumeBinding and VolumeZone read.

Two informers feed pykube_core's check_volumes, which turns a pod's bound
claims into a per-node conflict mask. A change to either kind can make an
unschedulable pod fit (a claim gets bound), so the daemon moves the
unschedulable pods on when one comes or changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pykube_core.scheduler import NodeTable, VolumeCheck, check_volumes
from pykube_core.scheduler.volumes import claim_names
from pykube_control.client.api import APIClient
from pykube_control.client.informer import Informer
from pykube_control.client.resource import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES

Object = Mapping[str, Any]


class VolumeState:
    """PV and PVC informers and the volume check of one pod."""

    def __init__(self, client: APIClient) -> None:
        self.volumes = Informer(client, PERSISTENT_VOLUMES)
        self.claims = Informer(client, PERSISTENT_VOLUME_CLAIMS)
        self.informers = (self.volumes, self.claims)

    def check(self, table: NodeTable, pod: Object) -> VolumeCheck:
        """Return the pod's volume conflicts over the table's rows; a pod without claims costs no lookup."""
        if not claim_names(pod):
            return VolumeCheck()
        return check_volumes(
            table,
            pod,
            lambda namespace, name: self.claims.store.get_by_name(name, namespace),
            lambda name: self.volumes.store.get_by_name(name),
        )
