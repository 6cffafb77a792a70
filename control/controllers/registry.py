"""The controllers `pykube controller-manager` can run, by name.

Each entry maps a name to "module:factory" so that importing the registry
imports no controller; the manager imports only the ones it runs. Add a
controller by adding one line here.
"""

from __future__ import annotations

import importlib

from pykube_control.controllers.base import ControllerFactory

CONTROLLERS: dict[str, str] = {
    # name: "module:factory" (factory(ControllerContext) -> Controller)
    "replicaset": "pykube_control.controllers.replicaset:new_replicaset_controller",
    "replicationcontroller": "pykube_control.controllers.replicaset:new_replication_controller",
    "deployment": "pykube_control.controllers.deployment:new_deployment_controller",
    "namespace": "pykube_control.controllers.namespace:new_namespace_controller",
    "endpointslice": "pykube_control.controllers.endpointslice:new_endpointslice_controller",
    "endpoints": "pykube_control.controllers.endpoints:new_endpoints_controller",
    "garbagecollector": "pykube_control.controllers.garbagecollector:new_garbage_collector",
    "serviceaccount": "pykube_control.controllers.serviceaccount:new_serviceaccount_controller",
    "nodelifecycle": "pykube_control.controllers.nodelifecycle:new_nodelifecycle_controller",
    "nodeipam": "pykube_control.controllers.nodeipam:new_nodeipam_controller",
    "job": "pykube_control.controllers.job:new_job_controller",
    "daemonset": "pykube_control.controllers.daemonset:new_daemonset_controller",
    "resourcequota": "pykube_control.controllers.resourcequota:new_resourcequota_controller",
    "disruption": "pykube_control.controllers.disruption:new_disruption_controller",
    "csrapproving": "pykube_control.controllers.csrapproving:new_csrapproving_controller",
    "csrsigning": "pykube_control.controllers.csrsigning:new_csrsigning_controller",
}


def load(name: str) -> ControllerFactory:
    """Return the factory of controller ``name``; raise KeyError naming the known ones."""
    try:
        target = CONTROLLERS[name]
    except KeyError:
        raise KeyError(f"unknown controller {name!r}; known controllers: {', '.join(sorted(CONTROLLERS))}") from None
    module_name, _, factory_name = target.partition(":")
    factory: ControllerFactory = getattr(importlib.import_module(module_name), factory_name)
    return factory
