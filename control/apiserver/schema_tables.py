"""What the Kubernetes client models do not say about the wire format.

The official client's models (kubernetes 37.x) give each field a Python
type string, which loses facts that the API server's OpenAPI documents
carry. An ``int`` may be int32 or int64, a ``Dict[str, str]`` may contain
resource quantities, a ``datetime`` may be a MicroTime, and an ``object``
may be an IntOrString. The strategic-merge-patch tags of the Go types are
not there at all. These tables restore those facts for
the served kinds. They were written from Kubernetes' Go struct tags
(k8s.io/api, release 1.32), not copied from its generated documents.

Keys are "<Type>.<jsonField>", where <Type> is the Go type name (the
client class name without its version prefix, so "PodSpec" for V1PodSpec
and "Event" for CoreV1Event).
"""

from __future__ import annotations

# (patch strategy, merge key) of the list and struct fields that kubectl
# merges in client-side apply; every other list is replaced whole.
PATCH_STRATEGIES: dict[str, tuple[str, str]] = {
    "ObjectMeta.finalizers": ("merge", ""),
    "ObjectMeta.ownerReferences": ("merge", "uid"),
    "PodSpec.volumes": ("merge,retainKeys", "name"),
    "PodSpec.initContainers": ("merge", "name"),
    "PodSpec.containers": ("merge", "name"),
    "PodSpec.ephemeralContainers": ("merge", "name"),
    "PodSpec.imagePullSecrets": ("merge", "name"),
    "PodSpec.hostAliases": ("merge", "ip"),
    "PodSpec.topologySpreadConstraints": ("merge", "topologyKey"),
    "PodSpec.resourceClaims": ("merge,retainKeys", "name"),
    "PodSpec.schedulingGates": ("merge", "name"),
    "Container.ports": ("merge", "containerPort"),
    "Container.env": ("merge", "name"),
    "Container.volumeMounts": ("merge", "mountPath"),
    "Container.volumeDevices": ("merge", "devicePath"),
    "EphemeralContainer.ports": ("merge", "containerPort"),
    "EphemeralContainer.env": ("merge", "name"),
    "EphemeralContainer.volumeMounts": ("merge", "mountPath"),
    "EphemeralContainer.volumeDevices": ("merge", "devicePath"),
    "PodStatus.conditions": ("merge", "type"),
    "PodStatus.podIPs": ("merge", "ip"),
    "PodStatus.hostIPs": ("merge", "ip"),
    "PodStatus.resourceClaimStatuses": ("merge,retainKeys", "name"),
    "ServiceSpec.ports": ("merge", "port"),
    "ServiceStatus.conditions": ("merge", "type"),
    "ServiceAccount.secrets": ("merge", "name"),
    "NodeSpec.podCIDRs": ("merge", ""),
    "NodeStatus.conditions": ("merge", "type"),
    "NodeStatus.addresses": ("merge", "type"),
    "NamespaceStatus.conditions": ("merge", "type"),
    "PersistentVolumeClaimStatus.conditions": ("merge", "type"),
    "ReplicationControllerStatus.conditions": ("merge", "type"),
    "DeploymentSpec.strategy": ("retainKeys", ""),
    "DeploymentStatus.conditions": ("merge", "type"),
    "ReplicaSetStatus.conditions": ("merge", "type"),
    "DaemonSetStatus.conditions": ("merge", "type"),
    "JobStatus.conditions": ("merge", "type"),
}

# Integer fields that are int64 in Go; every other integer field is int32.
# Any field named observedGeneration is int64 too (see INT64_FIELD_NAMES).
INT64_FIELDS: frozenset[str] = frozenset({
    "ObjectMeta.generation",
    "ObjectMeta.deletionGracePeriodSeconds",
    "PodSpec.activeDeadlineSeconds",
    "PodSpec.terminationGracePeriodSeconds",
    "Probe.terminationGracePeriodSeconds",
    "JobSpec.activeDeadlineSeconds",
    "PodSecurityContext.runAsUser",
    "PodSecurityContext.runAsGroup",
    "PodSecurityContext.fsGroup",
    "PodSecurityContext.supplementalGroups",
    "SecurityContext.runAsUser",
    "SecurityContext.runAsGroup",
    "LinuxContainerUser.uid",
    "LinuxContainerUser.gid",
    "LinuxContainerUser.supplementalGroups",
    "ContainerImage.sizeBytes",
    "ServiceAccountTokenProjection.expirationSeconds",
    "Toleration.tolerationSeconds",
    "SleepAction.seconds",
    "NodeSwapStatus.capacity",
    "Status.code",
    "DeleteOptions.gracePeriodSeconds",
    "ListMeta.remainingItemCount",
})
# NOTE: the "user" and "defaultUser" fields of projected volume sources are
# newer than Kubernetes 1.32; they are assumed to be int64 like other ids.
INT64_FIELD_NAMES: frozenset[str] = frozenset({"observedGeneration", "user", "defaultUser"})

# Fields whose values are resource quantities: maps from resource name to
# quantity, and the few single quantities.
QUANTITY_MAP_FIELDS: frozenset[str] = frozenset({
    "ResourceRequirements.limits",
    "ResourceRequirements.requests",
    "VolumeResourceRequirements.limits",
    "VolumeResourceRequirements.requests",
    "ContainerStatus.allocatedResources",
    "PodSpec.overhead",
    "PodStatus.allocatedResources",
    "NodeStatus.allocatable",
    "NodeStatus.capacity",
    "PersistentVolumeSpec.capacity",
    "PersistentVolumeClaimStatus.capacity",
    "PersistentVolumeClaimStatus.allocatedResources",
    "ResourceQuotaSpec.hard",
    "ResourceQuotaStatus.hard",
    "ResourceQuotaStatus.used",
    "LimitRangeItem.default",
    "LimitRangeItem.defaultRequest",
    "LimitRangeItem.max",
    "LimitRangeItem.min",
    "LimitRangeItem.maxLimitRequestRatio",
})
QUANTITY_FIELDS: frozenset[str] = frozenset({
    "EmptyDirVolumeSource.sizeLimit",
    "ResourceFieldSelector.divisor",
    "NodeAllocatableMappedResources.quantity",
    "NodeAllocatableOverheadResources.perContainer",
    "NodeAllocatableOverheadResources.perPod",
})

# Fields the client types as ``object`` that are IntOrString in Go.
INT_OR_STRING_FIELDS: frozenset[str] = frozenset({
    "HTTPGetAction.port",
    "TCPSocketAction.port",
    "ServicePort.targetPort",
    "RollingUpdateDeployment.maxSurge",
    "RollingUpdateDeployment.maxUnavailable",
    "RollingUpdateDaemonSet.maxSurge",
    "RollingUpdateDaemonSet.maxUnavailable",
    "PodDisruptionBudgetSpec.minAvailable",
    "PodDisruptionBudgetSpec.maxUnavailable",
})

# ``object`` fields with a named apimachinery type; any other ``object``
# field is free-form.
OBJECT_FIELD_TYPES: dict[str, str] = {
    "ManagedFieldsEntry.fieldsV1": "FieldsV1",
    "WatchEvent.object": "RawExtension",
}

# ``datetime`` fields that are metav1.MicroTime; the others are metav1.Time.
MICRO_TIME_FIELDS: frozenset[str] = frozenset({
    "Event.eventTime",
    "EventSeries.lastObservedTime",
    "LeaseSpec.acquireTime",
    "LeaseSpec.renewTime",
})

# Types of k8s.io/apimachinery/pkg/apis/meta/v1; the client names them like
# API types (V1ObjectMeta), so the Go package cannot come from the name.
META_TYPES: frozenset[str] = frozenset({
    "ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement",
    "OwnerReference", "ManagedFieldsEntry", "Condition", "Status",
    "StatusDetails", "StatusCause", "DeleteOptions", "Preconditions",
    "WatchEvent", "ShardInfo", "APIResource", "APIResourceList",
    "GroupVersionForDiscovery", "ServerAddressByClientCIDR",
})  # fmt: skip

# Go package of types that the served kinds use outside their own group.
PACKAGE_OVERRIDES: dict[str, str] = {
    "TopologySelectorTerm": "core",
    "TopologySelectorLabelRequirement": "core",
    "Scale": "autoscaling",
    "ScaleSpec": "autoscaling",
    "ScaleStatus": "autoscaling",
}

# NOTE: the client names alpha types by version only (V1alpha3...). The
# v1alpha3 types that Job and Pod reach are assumed to be scheduling.k8s.io
# types; a wrong guess changes only their definition names.
PACKAGE_OF_FOREIGN_VERSION: dict[str, str] = {"v1alpha3": "scheduling"}
