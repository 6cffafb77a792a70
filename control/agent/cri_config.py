"""Pod spec to CRI configuration: the PodSandboxConfig and ContainerConfig messages.

Everything the agent must find again after a restart is written into the
runtime's labels and annotations, because CRI is then the only memory:

- sandbox and container labels ``io.kubernetes.pod.uid``, ``.pod.name``,
  ``.pod.namespace`` (and ``io.kubernetes.container.name`` on containers),
  the keys the kubelet uses, plus ``pykube.io/node`` with the node name so
  that two agents sharing one containerd never adopt each other's pods;
- container annotations with the spec hash (a changed image restarts the
  container) and the restart count, which the next instance continues.

Linux resources follow the kubelet. CPU shares come from the cpu request
(the limit when no request is set) as ``max(2, milli * 1024 / 1000)``. A
cpu limit sets a CFS quota of ``milli * period / 1000`` µs, at least
1000 µs, with a period of 100000 µs. A memory limit becomes the memory
limit in bytes.

Differences from a kubelet: no pod-level cgroup, so each container's limits
are enforced on its own cgroup (under the agent's cgroup parent) and the
sandbox gets none;
oom_score_adj is never negative (Guaranteed pods get 0, not -997), because
a containerd without CAP_SYS_RESOURCE cannot lower it; /etc/hosts and
/dev/termination-log are not managed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pykube_core.quantity import parse_quantity

from pykube_control.cri.proto import api_pb2
from pykube_control.agent.env import expand

Object = dict[str, Any]

LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"
LABEL_NODE = "pykube.io/node"
LABEL_CONTAINER_KIND = "pykube.io/container-kind"
"""Container label: "init" for init containers, "app" for the others."""
ANNOTATION_HASH = "io.kubernetes.container.hash"
ANNOTATION_RESTART_COUNT = "io.kubernetes.container.restartCount"

CPU_PERIOD = 100_000
"""Microseconds of the CFS period, the kubelet's default."""
MIN_SHARES = 2
MIN_QUOTA = 1_000
"""Microseconds; the smallest CFS quota the kernel accepts."""
CLUSTER_DOMAIN = "cluster.local"


def pod_key(pod: Mapping[str, Any]) -> str:
    metadata = pod.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


def pod_log_directory(logs_dir: Path, pod: Mapping[str, Any]) -> Path:
    """Return <logs_dir>/<namespace>_<name>_<uid>, the kubelet's pod log directory."""
    metadata = pod.get("metadata") or {}
    return logs_dir / f"{metadata.get('namespace')}_{metadata.get('name')}_{metadata.get('uid')}"


def container_log_path(container_name: str, restart_count: int) -> str:
    """Return the log path relative to the pod log directory: <container>/<restart count>.log."""
    return f"{container_name}/{restart_count}.log"


def sandbox_config(
    pod: Mapping[str, Any],
    *,
    node_name: str,
    logs_dir: Path,
    attempt: int,
    cluster_dns: Sequence[str] = (),
    cgroup_parent: str = "",
) -> Any:
    """Return the PodSandboxConfig of the pod's ``attempt``-th sandbox.

    ``cgroup_parent`` is the cgroup under which the runtime puts the
    sandbox and its containers, "" for the runtime's default.
    """
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    host_network = bool(spec.get("hostNetwork"))
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    labels.update(_pod_labels(pod, node_name))
    config = api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(
            name=str(metadata.get("name")), uid=str(metadata.get("uid")),
            namespace=str(metadata.get("namespace")), attempt=attempt,
        ),  # fmt: skip
        hostname="" if host_network else str(spec.get("hostname") or metadata.get("name"))[:63],
        log_directory=str(pod_log_directory(logs_dir, pod)),
        labels=labels,
        annotations={str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()},
        port_mappings=_port_mappings(spec),
        linux=api_pb2.LinuxPodSandboxConfig(
            cgroup_parent=cgroup_parent,
            security_context=api_pb2.LinuxSandboxSecurityContext(
                namespace_options=_namespace_options(spec),
                **_run_as(spec.get("securityContext") or {}, {}),
            ),
        ),
    )
    dns = dns_config(pod, cluster_dns)
    if dns is not None:
        config.dns_config.CopyFrom(dns)
    return config


def dns_config(pod: Mapping[str, Any], cluster_dns: Sequence[str]) -> Any | None:
    """Return the sandbox's DNSConfig, or None to let the runtime copy the node's resolv.conf.

    ClusterFirst uses the cluster DNS servers when the agent has any, and
    otherwise falls back to the node's settings as the kubelet does. A
    pod's dnsConfig adds servers, searches and options to the result.
    """
    spec = pod.get("spec") or {}
    namespace = (pod.get("metadata") or {}).get("namespace")
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and cluster_dns:
        servers = list(cluster_dns)
        searches = [f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN]
        options = ["ndots:5"]
    extra = spec.get("dnsConfig") or {}
    servers += [str(s) for s in extra.get("nameservers") or []]
    searches += [str(s) for s in extra.get("searches") or []]
    for option in extra.get("options") or []:
        value = option.get("value")
        options.append(f"{option.get('name')}:{value}" if value is not None else str(option.get("name")))
    if not (servers or searches or options):
        return None
    return api_pb2.DNSConfig(servers=servers, searches=searches, options=options)


def container_config(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    node_name: str,
    init: bool,
    restart_count: int,
    envs: Sequence[tuple[str, str]],
    mounts: Sequence[tuple[str, str, bool]],
) -> Any:
    """Return the ContainerConfig of one container instance.

    ``mounts`` are (host path, container path, read only) triples.
    """
    name = str(container.get("name"))
    spec = pod.get("spec") or {}
    labels = _pod_labels(pod, node_name)
    labels[LABEL_CONTAINER_NAME] = name
    labels[LABEL_CONTAINER_KIND] = "init" if init else "app"
    security = container.get("securityContext") or {}
    pod_security = spec.get("securityContext") or {}
    # As the kubelet does, $(NAME) in command and args expands to the container's environment variables.
    defined = dict(envs)
    return api_pb2.ContainerConfig(
        metadata=api_pb2.ContainerMetadata(name=name, attempt=restart_count),
        image=api_pb2.ImageSpec(image=str(container.get("image"))),
        command=[expand(str(part), defined) for part in container.get("command") or []],
        args=[expand(str(part), defined) for part in container.get("args") or []],
        working_dir=str(container.get("workingDir") or ""),
        envs=[api_pb2.KeyValue(key=key, value=value) for key, value in envs],
        mounts=[
            api_pb2.Mount(host_path=host, container_path=path, readonly=readonly)
            for host, path, readonly in mounts
        ],
        labels=labels,
        annotations={
            ANNOTATION_HASH: container_hash(container),
            ANNOTATION_RESTART_COUNT: str(restart_count),
        },
        log_path=container_log_path(name, restart_count),
        stdin=bool(container.get("stdin")),
        stdin_once=bool(container.get("stdinOnce")),
        tty=bool(container.get("tty")),
        linux=api_pb2.LinuxContainerConfig(
            resources=linux_resources(container, qos_class=str((pod.get("status") or {}).get("qosClass") or "")),
            security_context=api_pb2.LinuxContainerSecurityContext(
                privileged=bool(security.get("privileged")),
                readonly_rootfs=bool(security.get("readOnlyRootFilesystem")),
                namespace_options=_namespace_options(spec),
                **_run_as(security, pod_security),
            ),
        ),
    )


def container_hash(container: Mapping[str, Any]) -> str:
    """Return a short hash of the container spec; a changed spec (a new image) gives a new hash."""
    encoded = json.dumps(container, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def linux_resources(container: Mapping[str, Any], *, qos_class: str = "") -> Any:
    """Return LinuxContainerResources from the container's requests and limits (see the module docstring)."""
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    cpu_request = requests.get("cpu", limits.get("cpu"))
    milli_request = parse_quantity(str(cpu_request)).milli_value() if cpu_request is not None else 0
    result = api_pb2.LinuxContainerResources(
        cpu_shares=max(MIN_SHARES, milli_request * 1024 // 1000),
        oom_score_adj=1000 if qos_class == "BestEffort" else 0,
    )
    if "cpu" in limits:
        milli_limit = parse_quantity(str(limits["cpu"])).milli_value()
        result.cpu_period = CPU_PERIOD
        result.cpu_quota = max(MIN_QUOTA, milli_limit * CPU_PERIOD // 1000)
    if "memory" in limits:
        result.memory_limit_in_bytes = parse_quantity(str(limits["memory"])).value()
    return result


def is_privileged(pod: Mapping[str, Any]) -> str | None:
    """Return the name of the first privileged container of the pod, or None."""
    spec = pod.get("spec") or {}
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if (container.get("securityContext") or {}).get("privileged"):
            return str(container.get("name"))
    return None


def _pod_labels(pod: Mapping[str, Any], node_name: str) -> dict[str, str]:
    metadata = pod.get("metadata") or {}
    return {
        LABEL_POD_UID: str(metadata.get("uid")),
        LABEL_POD_NAME: str(metadata.get("name")),
        LABEL_POD_NAMESPACE: str(metadata.get("namespace")),
        LABEL_NODE: node_name,
    }


def _namespace_options(spec: Mapping[str, Any]) -> Any:
    node, pod = api_pb2.NODE, api_pb2.POD
    pid = api_pb2.CONTAINER
    if spec.get("shareProcessNamespace"):
        pid = pod
    if spec.get("hostPID"):
        pid = node
    return api_pb2.NamespaceOption(
        network=node if spec.get("hostNetwork") else pod,
        pid=pid,
        ipc=node if spec.get("hostIPC") else pod,
    )


def _run_as(security: Mapping[str, Any], pod_security: Mapping[str, Any]) -> dict[str, Any]:
    """Return run_as_user and run_as_group keyword arguments; the container's settings win over the pod's."""
    fields: dict[str, Any] = {}
    user = security.get("runAsUser", pod_security.get("runAsUser"))
    group = security.get("runAsGroup", pod_security.get("runAsGroup"))
    if user is not None:
        fields["run_as_user"] = api_pb2.Int64Value(value=int(user))
    if group is not None:
        fields["run_as_group"] = api_pb2.Int64Value(value=int(group))
    return fields


def _port_mappings(spec: Mapping[str, Any]) -> list[Any]:
    mappings = []
    protocols = {"TCP": api_pb2.TCP, "UDP": api_pb2.UDP, "SCTP": api_pb2.SCTP}
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            if not port.get("hostPort"):
                continue
            mappings.append(api_pb2.PortMapping(
                protocol=protocols.get(str(port.get("protocol") or "TCP"), api_pb2.TCP),
                container_port=int(port["containerPort"]), host_port=int(port["hostPort"]),
                host_ip=str(port.get("hostIP") or ""),
            ))  # fmt: skip
    return mappings
