"""One pod on this node: a level-triggered loop that drives CRI state toward the pod spec.

Each pod bound to the node gets one ``PodWorker`` with one asyncio task.
All CRI calls for a pod happen on that task, so they never race. The task
sleeps until something may have changed: a new version of the pod from
the informer, a container state change seen by the agent's relist, a
probe result that flipped, or a back-off that expired. Each wake-up runs
``sync``, which compares what the spec wants with what CRI reports, takes
the next steps, and writes the pod status when it changed:

1. a sandbox, created after the pod's volumes are set up. A sandbox that
   stopped is replaced by a new one, with a new attempt number and pod IP;
2. init containers, one at a time in order, each until it exits 0;
3. the app containers, each started once and then restarted by the
   restart policy, with crash back-off (backoff.py), and killed and
   restarted when a liveness or startup probe fails;
4. on deletion: preStop hooks, SIGTERM, SIGKILL after the grace period,
   removal of containers, sandbox, volumes and logs, then the final delete
   of the pod object with gracePeriodSeconds=0.

Nothing is remembered outside CRI that cannot be rebuilt: a worker that
starts for a pod whose sandbox and containers already exist (after an
agent restart) adopts them by their labels, continues their restart
counts from their annotations, and seeds readiness from the pod's last
written status, so Ready does not flap.

The worker keeps the newest exited instance of each container (for
lastState and ``kubectl logs --previous``) and removes older ones when it
starts a new one.

A failed image pull leaves the container waiting with ErrImagePull, and
the next try of that image waits out the pull back-off (pull_backoff.py),
shown as ImagePullBackOff.

Differences from a kubelet: sidecar init containers (restartPolicy
Always) are run like plain init containers; Events are recorded for
container starts, kills, back-off and failures, but not for every failed
probe attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pykube_control.agent import cri_config
from pykube_control.agent.backoff import CrashBackoff
from pykube_control.agent.env import EnvError, PodContext, resolve_env
from pykube_control.agent.fake_status import rfc3339, utc_now
from pykube_control.agent.hooks import run_hook
from pykube_control.agent.images import ImageError, ImageNeverPullError, ensure_image
from pykube_control.agent.log_rotation import rotated_files
from pykube_control.agent.node_info import NodeResources
from pykube_control.agent.pod_status import ContainerView, pod_status, terminated_state
from pykube_control.agent.probes import ProbeKind, ProbeWorker
from pykube_control.agent.pull_backoff import PullBackoff
from pykube_control.client.api import APIClient
from pykube_control.client.events import EventRecorder, EventType
from pykube_control.client.errors import APIConnectionError, APIError, Conflict, NotFound
from pykube_control.client.resource import PODS
from pykube_control.cri.client import CRIClient
from pykube_control.cri.errors import CRIError, CRINotFoundError
from pykube_control.cri.proto import api_pb2

log = logging.getLogger("pykube.agent")

Object = dict[str, Any]

RESYNC_PERIOD = 10.0
"""Seconds between syncs of a pod when nothing wakes its worker; the relist wakes it on container changes."""
RETRY_DELAY = 2.0
"""Seconds before a sync that failed (a CRI or API error) runs again."""
DEFAULT_GRACE = 30
"""Seconds of terminationGracePeriodSeconds when the spec leaves it out (the API server defaults it too)."""
NANOS = 1_000_000_000


class PodVolumes(Protocol):
    """The volume manager as the worker uses it (agent/volumes' VolumeManager fits)."""

    async def setup(self, pod: Object) -> Any: ...

    def mounts(self, pod: Object, container: Object, volumes: Any) -> Sequence[Any]: ...

    async def teardown(self, pod_uid: str) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Node-wide settings every pod worker shares."""

    node_name: str
    node_ip: str
    logs_dir: Path
    allocatable: NodeResources
    cluster_dns: tuple[str, ...] = ()
    cgroup_parent: str = ""
    """Cgroup of every sandbox and container of the node; "" for the runtime's default."""
    allow_privileged: bool = False
    resync_period: float = RESYNC_PERIOD
    retry_delay: float = RETRY_DELAY
    netns: Path | None = None
    """Network namespace file from which probes and hooks connect to pods; None for the agent's own."""


@dataclasses.dataclass(slots=True)
class Instance:
    """One CRI container of the pod: an instance (attempt) of a container of the spec."""

    id: str
    name: str
    attempt: int
    state: int
    created_at: int
    init: bool
    spec_hash: str
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    image_ref: str = ""

    @property
    def running(self) -> bool:
        return self.state == api_pb2.CONTAINER_RUNNING

    @property
    def exited(self) -> bool:
        return self.state == api_pb2.CONTAINER_EXITED


class PodWorker:
    """Run one pod; see the module docstring. ``start`` once; ``update`` with each new version of the pod."""

    def __init__(
        self,
        pod: Object,
        *,
        cri: CRIClient,
        client: APIClient,
        volumes: PodVolumes | None,
        settings: WorkerSettings,
        backoff: CrashBackoff,
        startup_gate: asyncio.Semaphore | None = None,
        events: EventRecorder | None = None,
        pull_backoff: PullBackoff | None = None,
    ) -> None:
        self.pod = pod
        self.uid = str(pod["metadata"]["uid"])
        self.key = cri_config.pod_key(pod)
        self.cri = cri
        self.client = client
        self.volumes = volumes
        self.settings = settings
        self.backoff = backoff
        self.pull_backoff = pull_backoff if pull_backoff is not None else PullBackoff()
        self.startup_gate = startup_gate
        """Held while the pod has no sandbox yet, so a burst of new pods starts a few at a time."""
        self.events = events
        self._event_tasks: set[asyncio.Task[Any]] = set()

        self.removed = False
        """True once the pod object is gone from the API server: tear everything down."""
        self.finished = asyncio.Event()
        """Set when the pod's containers, sandbox and volumes are gone and the worker has ended."""
        self.rejection: tuple[str, str] | None = None
        """(reason, message) when admission rejected the pod; the worker only writes that status."""

        self.sandbox_id: str | None = None
        self.sandbox_config: Any = None
        self.pod_ips: list[str] = []
        self._pod_volumes: Any = None
        self._instances: dict[str, list[Instance]] = {}
        self._status_cache: dict[str, Instance] = {}
        self._waiting: dict[str, tuple[str, str]] = {}
        """Container name -> (reason, message) of a start that failed, for its waiting state."""
        self._pull_due = 0.0
        """Seconds, during one sync, until the earliest image pull back-off of the pod ends."""
        self._probes: dict[str, dict[ProbeKind, ProbeWorker]] = {}
        """Container id -> its probe workers."""
        self._carried_attempts: dict[str, int] = {}
        """Container name -> its last attempt in a sandbox that was replaced."""
        self._written: Object | None = None
        self._start_time: str | None = (pod.get("status") or {}).get("startTime")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

        self._adopted_ready: dict[str, bool] = {}
        """Container id -> ready, from the pod's last written status (for adoption after a restart)."""
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            container_id = str(status.get("containerID") or "").removeprefix("containerd://")
            if container_id:
                self._adopted_ready[container_id] = bool(status.get("ready"))

    # --- task ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pod-worker-{self.key}")

    async def stop(self) -> None:
        """Stop the worker's task and probes without touching the pod's containers (agent shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stop_probes(None)

    def update(self, pod: Object) -> None:
        self.pod = pod
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        delay = 0.0
        while not self.finished.is_set():
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                if self.sandbox_id is None and self.startup_gate is not None:
                    async with self.startup_gate:
                        delay = await self.sync()
                else:
                    delay = await self.sync()
            except (CRIError, APIError, APIConnectionError, OSError) as error:
                log.warning("pod sync failed, retrying pod=%s retry_in=%.1f error=%s",
                            self.key, self.settings.retry_delay, error)  # fmt: skip
                delay = self.settings.retry_delay
            except Exception:
                log.exception("pod sync failed unexpectedly, retrying pod=%s", self.key)
                delay = self.settings.retry_delay

    # --- sync ----------------------------------------------------------------------------------

    async def sync(self) -> float:
        """Take the next steps toward the spec; return the seconds until the next sync is due."""
        metadata = self.pod["metadata"]
        if self.removed or metadata.get("deletionTimestamp"):
            await self.terminate()
            return 0.0
        if self.rejection is not None:
            await self._write_rejection()
            return self.settings.resync_period
        if (self._written or self.pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            await self._observe()
            await self._stop_sandbox_of_finished_pod()
            return self.settings.resync_period
        if self._start_time is None:
            self._start_time = pod_start_time()
        if not await self._ensure_volumes() or not await self._ensure_sandbox():
            await self._write_status()
            return self.settings.retry_delay
        await self._observe()
        await self._start_created()
        await self._ensure_probes()
        next_due = self.settings.resync_period
        self._pull_due = next_due
        if await self._sync_init_containers():
            next_due = min(next_due, await self._sync_app_containers())
        next_due = min(next_due, self._pull_due)
        await self._observe()
        await self._write_status()
        return max(0.05, next_due)

    async def _ensure_volumes(self) -> bool:
        """Set the pod's volumes up once per worker (again after an agent restart); False when that failed."""
        if self.volumes is None or self._pod_volumes is not None:
            return True
        try:
            self._pod_volumes = await self.volumes.setup(self.pod)
        except Exception as error:  # VolumeError, and whatever else a volume source raised
            self._waiting_all("ContainerCreating", f"volume setup failed: {error}")
            log.warning("pod volumes not ready pod=%s error=%s", self.key, error)
            return False
        return True

    async def _ensure_sandbox(self) -> bool:
        """Find or create a ready sandbox; return False when none could be made (retry later)."""
        sandboxes = await self.cri.list_pod_sandbox(labels={cri_config.LABEL_POD_UID: self.uid})
        sandboxes.sort(key=lambda box: box.created_at)
        ready = [box for box in sandboxes if box.state == api_pb2.SANDBOX_READY]
        if ready:
            newest = ready[-1]
            if newest.id != self.sandbox_id:
                self.sandbox_id = newest.id
                self.sandbox_config = self._sandbox_config(newest.metadata.attempt)
                await self._read_pod_ips()
            return True
        if sandboxes:
            log.info("pod sandbox not ready, replacing it pod=%s sandbox=%s", self.key, sandboxes[-1].id[:13])
            # Restart counts go on in the new sandbox, as the kubelet's do.
            for box in sandboxes:
                for old in await self.cri.list_containers(sandbox_id=box.id):
                    name = old.metadata.name
                    self._carried_attempts[name] = max(self._carried_attempts.get(name, -1), old.metadata.attempt)
            await self._remove_containers_and_sandboxes(sandboxes)
        self.sandbox_id = None
        attempt = (sandboxes[-1].metadata.attempt + 1) if sandboxes else 0
        config = self._sandbox_config(attempt)
        self.sandbox_id = await self.cri.run_pod_sandbox(config)
        self.sandbox_config = config
        await self._read_pod_ips()
        log.info("pod sandbox started pod=%s sandbox=%s attempt=%d pod_ip=%s",
                 self.key, self.sandbox_id[:13], attempt, ",".join(self.pod_ips))  # fmt: skip
        return True

    def _sandbox_config(self, attempt: int) -> Any:
        return cri_config.sandbox_config(
            self.pod, node_name=self.settings.node_name, logs_dir=self.settings.logs_dir,
            attempt=attempt, cluster_dns=self.settings.cluster_dns, cgroup_parent=self.settings.cgroup_parent,
        )  # fmt: skip

    async def _read_pod_ips(self) -> None:
        if (self.pod.get("spec") or {}).get("hostNetwork"):
            self.pod_ips = [self.settings.node_ip]
            return
        assert self.sandbox_id is not None
        status = await self.cri.pod_sandbox_status(self.sandbox_id)
        ips = [status.network.ip] if status.network.ip else []
        ips += [extra.ip for extra in status.network.additional_ips if extra.ip]
        self.pod_ips = ips

    async def _observe(self) -> None:
        """Refresh ``_instances`` from CRI: every container of the current sandbox, oldest attempt first."""
        if self.sandbox_id is None:
            self._instances = {}
            return
        listed = await self.cri.list_containers(sandbox_id=self.sandbox_id)
        instances: dict[str, list[Instance]] = {}
        for container in listed:
            instance = await self._instance(container)
            instances.setdefault(instance.name, []).append(instance)
        for group in instances.values():
            group.sort(key=lambda item: (item.attempt, item.created_at))
        self._instances = instances
        live = {item.id for group in instances.values() for item in group}
        for stale in set(self._status_cache) - live:
            del self._status_cache[stale]

    async def _instance(self, container: Any) -> Instance:
        cached = self._status_cache.get(container.id)
        if cached is not None and cached.state == container.state:
            return cached
        labels = container.labels
        instance = Instance(
            id=container.id, name=container.metadata.name, attempt=container.metadata.attempt,
            state=container.state, created_at=container.created_at,
            init=labels.get(cri_config.LABEL_CONTAINER_KIND) == "init",
            spec_hash=container.annotations.get(cri_config.ANNOTATION_HASH, ""), image_ref=container.image_ref,
        )  # fmt: skip
        if container.state in (api_pb2.CONTAINER_RUNNING, api_pb2.CONTAINER_EXITED):
            try:
                status = await self.cri.container_status(container.id)
            except CRINotFoundError:
                return instance
            instance.started_at = status.started_at
            instance.finished_at = status.finished_at
            instance.exit_code = status.exit_code
            instance.reason = status.reason
            instance.message = status.message
            instance.image_ref = status.image_ref or instance.image_ref
            instance.state = status.state
            self._status_cache[container.id] = instance
        return instance

    async def _start_created(self) -> None:
        """Start instances left created but not started (the agent stopped between the two calls)."""
        started = False
        for group in self._instances.values():
            latest = group[-1]
            if latest.state == api_pb2.CONTAINER_CREATED:
                log.info("starting container left created pod=%s container=%s", self.key, latest.name)
                await self.cri.start_container(latest.id)
                started = True
        if started:
            await self._observe()

    async def _ensure_probes(self) -> None:
        """Stop the probes of containers that stopped; start them for running ones that have none (adopted)."""
        running = {item.id: item for group in self._instances.values() for item in group if item.running}
        await self._stop_probes(set(running))
        specs = {str(c["name"]): c for c in (self.pod.get("spec") or {}).get("containers") or []}
        for container_id, instance in running.items():
            if container_id in self._probes or instance.init or instance.name not in specs:
                continue
            self._start_probes(specs[instance.name], container_id, instance.started_at / NANOS)

    def is_running(self, container_name: str) -> bool:
        """Return True when the newest instance of the container was running at the last observation."""
        latest = self._latest(container_name)
        return latest is not None and latest.running

    def _latest(self, name: str) -> Instance | None:
        group = self._instances.get(name)
        return group[-1] if group else None

    # --- init containers -----------------------------------------------------------------------

    async def _sync_init_containers(self) -> bool:
        """Advance the init containers; return True when all of them succeeded."""
        spec = self.pod.get("spec") or {}
        policy = spec.get("restartPolicy") or "Always"
        for container in spec.get("initContainers") or []:
            name = str(container["name"])
            latest = self._latest(name)
            if latest is None:
                await self._start_container(container, init=True, previous=None)
                return False
            if latest.running or latest.state == api_pb2.CONTAINER_CREATED:
                return False
            if latest.exited and latest.exit_code == 0:
                continue
            if policy != "Never" and self._restart_due(latest) <= 0:
                await self._start_container(container, init=True, previous=latest)
            return False
        return True

    # --- app containers ------------------------------------------------------------------------

    async def _sync_app_containers(self) -> float:
        """Start, restart or kill app containers; return the seconds until a back-off expires."""
        spec = self.pod.get("spec") or {}
        policy = spec.get("restartPolicy") or "Always"
        next_due = self.settings.resync_period
        for container in spec.get("containers") or []:
            name = str(container["name"])
            latest = self._latest(name)
            if latest is None:
                await self._start_container(container, init=False, previous=None)
                continue
            if latest.running:
                reason = self._kill_reason(container, latest)
                if reason is None:
                    continue
                log.info("killing container pod=%s container=%s reason=%s", self.key, name, reason)
                self._event("Warning", "Unhealthy", reason)
                await self._kill(container, latest, self._grace_seconds())
                await self._observe()
                latest = self._latest(name)
                if latest is None or not latest.exited:
                    continue
            if not latest.exited:
                continue
            if policy == "Never" or (policy == "OnFailure" and latest.exit_code == 0):
                continue
            remaining = self._restart_due(latest)
            if remaining > 0:
                delay = self.backoff.current((self.uid, name))
                if self._waiting.get(name, ("", ""))[0] != "CrashLoopBackOff":
                    metadata = self.pod["metadata"]
                    self._event("Warning", "BackOff", f"Back-off restarting failed container {name} in pod "
                                f"{metadata['name']}_{metadata['namespace']}({self.uid})")  # fmt: skip
                self._waiting[name] = (
                    "CrashLoopBackOff",
                    f"back-off {delay:g}s restarting failed container={name} pod={self.pod['metadata']['name']}_"
                    f"{self.pod['metadata']['namespace']}({self.uid})",
                )
                next_due = min(next_due, remaining)
                continue
            await self._start_container(container, init=False, previous=latest)
        return next_due

    def _kill_reason(self, container: Mapping[str, Any], latest: Instance) -> str | None:
        if latest.spec_hash and latest.spec_hash != cri_config.container_hash(container):
            return "container spec changed"
        probes = self._probes.get(latest.id) or {}
        for kind in (ProbeKind.STARTUP, ProbeKind.LIVENESS):
            worker = probes.get(kind)
            if worker is not None and worker.failed_for_good:
                return f"{kind.value} probe failed: {worker.message}"
        return None

    def _restart_due(self, latest: Instance) -> float:
        """Return the seconds before ``latest`` (exited) may be replaced; 0 when it may be now."""
        finished = latest.finished_at / NANOS if latest.finished_at else time.time()
        ran_for = max(0.0, finished - latest.started_at / NANOS) if latest.started_at else 0.0
        # The back-off clock is monotonic while CRI times are wall clock: convert the finish time.
        finished_monotonic = time.monotonic() - max(0.0, time.time() - finished)
        return self.backoff.remaining((self.uid, latest.name), finished_monotonic, ran_for)

    async def _start_container(self, container: Object, *, init: bool, previous: Instance | None) -> None:
        """Create and start the next instance of ``container``; a failure leaves it waiting with the reason."""
        name = str(container["name"])
        if previous is not None:
            restart_count = previous.attempt + 1
        else:
            restart_count = self._carried_attempts.get(name, -1) + 1
        inputs = await self._container_inputs(container)
        if inputs is None or not await self._pull_image(container):
            return

        await self._remove_older_instances(name)
        envs, mounts = inputs
        config = cri_config.container_config(
            self.pod, container, node_name=self.settings.node_name, init=init,
            restart_count=restart_count, envs=envs, mounts=mounts,
        )  # fmt: skip
        container_id = await self._create_and_start(name, config)
        if restart_count > 0:
            self.backoff.record_restart((self.uid, name))
        log.info("container started pod=%s container=%s id=%s restart_count=%d",
                 self.key, name, container_id[:13], restart_count)  # fmt: skip

        if not init:
            self._start_probes(container, container_id, time.time())
            await self._post_start(container, container_id)

    async def _container_inputs(self, container: Object) -> tuple[list[tuple[str, str]], list[tuple[str, str, bool]]] | None:
        """Return the container's environment and mounts; None when its spec cannot run here (it waits)."""
        name = str(container["name"])
        privileged = (container.get("securityContext") or {}).get("privileged")
        if privileged and not self.settings.allow_privileged:
            message = (f"privileged container {name} is not allowed on node {self.settings.node_name}; "
                       "start the agent with --allow-privileged")  # fmt: skip
            self._waiting[name] = ("CreateContainerConfigError", message)
            self._event("Warning", "Failed", f"Error: {message}")
            return None
        try:
            context = PodContext(self.pod, host_ip=self.settings.node_ip, pod_ips=self.pod_ips,
                                 allocatable=self.settings.allocatable)  # fmt: skip
            envs = await resolve_env(self.client, container, context)
            mounts = self._mounts(container)
        except (EnvError, ValueError) as error:
            self._waiting[name] = ("CreateContainerConfigError", str(error))
            self._event("Warning", "Failed", f"Error: {error}")
            log.warning("container config invalid pod=%s container=%s error=%s", self.key, name, error)
            return None
        return envs, mounts

    async def _pull_image(self, container: Object) -> bool:
        """Make the container's image present by its pull policy; False when it is not (the container waits)."""
        name = str(container["name"])
        image = str(container.get("image"))
        key = (self.uid, image)
        remaining = self.pull_backoff.remaining(key)
        if remaining > 0:
            self._pull_due = min(self._pull_due, remaining)
            self._set_waiting_with_event(name, "ImagePullBackOff", f'Back-off pulling image "{image}"', "Normal", "BackOff")
            return False
        pull_started: list[float] = []

        def pulling() -> None:
            pull_started.append(time.monotonic())
            self._event("Normal", "Pulling", f'Pulling image "{image}"')

        try:
            await ensure_image(self.cri, image, _pull_policy(container), pulling=pulling)
        except ImageNeverPullError as error:
            self._set_waiting_with_event(name, "ErrImageNeverPull", str(error), "Warning", "ErrImageNeverPull")
            return False
        except (ImageError, CRIError) as error:
            delay = self.pull_backoff.failed(key)
            self._pull_due = min(self._pull_due, delay)
            message = f'Failed to pull image "{image}": {error}'
            log.warning("image pull failed pod=%s container=%s image=%s retry_in=%.0f error=%s",
                        self.key, name, image, delay, error)  # fmt: skip
            self._waiting[name] = ("ErrImagePull", message)
            self._event("Warning", "Failed", message)
            return False
        self.pull_backoff.succeeded(key)
        if pull_started:
            self._event("Normal", "Pulled", f'Successfully pulled image "{image}" in {time.monotonic() - pull_started[0]:.3f}s')
        else:
            self._event("Normal", "Pulled", f'Container image "{image}" already present on machine')
        return True

    def _set_waiting_with_event(self, name: str, reason: str, message: str, event_type: EventType, event_reason: str) -> None:
        """Make container ``name`` wait with ``reason``; record the Event only when the reason is new."""
        if self._waiting.get(name, ("", ""))[0] != reason:
            self._event(event_type, event_reason, message)
        self._waiting[name] = (reason, message)

    async def _create_and_start(self, name: str, config: Any) -> str:
        """Create and start one container in the current sandbox; return its id. CRI errors propagate."""
        assert self.sandbox_id is not None
        log_dir = cri_config.pod_log_directory(self.settings.logs_dir, self.pod) / name
        log_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_log(cri_config.pod_log_directory(self.settings.logs_dir, self.pod) / config.log_path)
        try:
            container_id = str(await self.cri.create_container(self.sandbox_id, config, self.sandbox_config))
        except CRIError as error:
            self._waiting[name] = ("CreateContainerError", str(error))
            self._event("Warning", "Failed", f"Error: {error}")
            raise
        self._event("Normal", "Created", f"Created container: {name}")
        try:
            await self.cri.start_container(container_id)
        except CRIError as error:
            self._waiting[name] = ("RunContainerError", str(error))
            self._event("Warning", "Failed", f"Error: {error}")
            raise
        self._event("Normal", "Started", f"Started container {name}")
        self._waiting.pop(name, None)
        return container_id

    def _mounts(self, container: Object) -> list[tuple[str, str, bool]]:
        if self.volumes is None or self._pod_volumes is None:
            if container.get("volumeMounts"):
                raise ValueError(f"container {container.get('name')} mounts volumes, but this agent has no volume manager")
            return []
        mounts = self.volumes.mounts(self.pod, container, self._pod_volumes)
        return [(str(mount.host_path), str(mount.container_path), bool(mount.readonly)) for mount in mounts]

    async def _post_start(self, container: Object, container_id: str) -> None:
        handler = (container.get("lifecycle") or {}).get("postStart")
        if not handler:
            return
        ok, message = await run_hook(
            handler, pod_ip=self._probe_ip(), container=container,
            exec_probe=self._exec_probe(container_id), timeout=float(self._grace_seconds()),
            netns=self.settings.netns,
        )  # fmt: skip
        if not ok:
            log.warning("postStart hook failed, killing container pod=%s container=%s message=%s",
                        self.key, container.get("name"), message)  # fmt: skip
            await self.cri.stop_container(container_id, 0)

    async def _remove_older_instances(self, name: str) -> None:
        """Remove all instances of ``name`` but the newest, which stays for lastState and previous logs."""
        for old in (self._instances.get(name) or [])[:-1]:
            with contextlib.suppress(CRINotFoundError):
                await self.cri.remove_container(old.id)
            self._status_cache.pop(old.id, None)

    # --- probes --------------------------------------------------------------------------------

    def _start_probes(self, container: Object, container_id: str, started_at: float) -> None:
        workers: dict[ProbeKind, ProbeWorker] = {}
        kinds = {ProbeKind.LIVENESS: "livenessProbe", ProbeKind.READINESS: "readinessProbe", ProbeKind.STARTUP: "startupProbe"}
        for kind, field in kinds.items():
            probe = container.get(field)
            if not probe:
                continue
            worker = ProbeWorker(
                kind, probe, container=container, pod_ip=self._probe_ip(),
                exec_probe=self._exec_probe(container_id), on_change=self.wake, started_at=started_at,
                label=f"{self.key}/{container.get('name')}", netns=self.settings.netns,
            )  # fmt: skip
            workers[kind] = worker
        startup = workers.get(ProbeKind.STARTUP)
        if startup is not None:
            for kind in (ProbeKind.LIVENESS, ProbeKind.READINESS):
                if kind in workers:
                    workers[kind].gate = lambda: startup.result
        adopted = self._adopted_ready.get(container_id)
        if adopted is not None and ProbeKind.READINESS in workers:
            # Keep the readiness the pod had before the agent restarted, so Ready does not flap.
            workers[ProbeKind.READINESS].result = adopted
        if adopted is not None and startup is not None:
            startup.result = True
        for worker in workers.values():
            worker.start()
        self._probes[container_id] = workers

    async def _stop_probes(self, keep: set[str] | None) -> None:
        for container_id in list(self._probes):
            if keep is not None and container_id in keep:
                continue
            for worker in self._probes.pop(container_id).values():
                await worker.stop()

    def _probe_ip(self) -> str:
        return self.pod_ips[0] if self.pod_ips else self.settings.node_ip

    def _exec_probe(self, container_id: str) -> Any:
        async def run(command: list[str], timeout: float) -> tuple[int, bytes]:
            response = await self.cri.exec_sync(container_id, command, max(1, int(timeout)))
            return int(response.exit_code), bytes(response.stdout) + bytes(response.stderr)

        return run

    def _container_ready(self, instance: Instance) -> tuple[bool, bool]:
        """Return (ready, started) of a running instance."""
        probes = self._probes.get(instance.id) or {}
        startup = probes.get(ProbeKind.STARTUP)
        started = startup.result if startup is not None else True
        readiness = probes.get(ProbeKind.READINESS)
        ready = started and (readiness.result if readiness is not None else True)
        return ready, started

    # --- status --------------------------------------------------------------------------------

    def _views(self, containers: Sequence[Object], *, init: bool) -> list[ContainerView]:
        views = []
        for container in containers:
            name = str(container["name"])
            view = ContainerView(name=name, image=str(container.get("image")))
            if init:
                view.reason = "PodInitializing"
            group = self._instances.get(name) or []
            latest = group[-1] if group else None
            previous = group[-2] if len(group) > 1 else None
            if previous is not None:
                view.last_terminated = terminated_state(_exited_view(previous))
            if latest is not None:
                view.container_id = latest.id
                view.image_id = latest.image_ref
                view.restart_count = latest.attempt
                if latest.running:
                    view.state = "running"
                    view.started_at = latest.started_at / NANOS
                    view.ready, view.started = self._container_ready(latest)
                    if init:
                        view.ready = False
                elif latest.exited:
                    exited = _exited_view(latest)
                    exited.restart_count, exited.image_id = latest.attempt, latest.image_ref
                    exited.last_terminated = view.last_terminated
                    view = exited
                    view.image = str(container.get("image"))
                    if not init and name in self._waiting:
                        # Waiting to restart: the exited instance moves to lastState.
                        view.last_terminated = terminated_state(view)
                        view.state = "waiting"
                        view.reason, view.message = self._waiting[name]
            elif name in self._waiting:
                view.reason, view.message = self._waiting[name]
            elif not init and (self.pod.get("spec") or {}).get("initContainers"):
                view.reason = "PodInitializing"
            views.append(view)
        return views

    async def _write_status(self) -> None:
        spec = self.pod.get("spec") or {}
        init = self._views(spec.get("initContainers") or [], init=True)
        app = self._views(spec.get("containers") or [], init=False)
        status = pod_status(
            self.pod, host_ip=self.settings.node_ip, pod_ips=self.pod_ips, sandbox_ready=self.sandbox_id is not None,
            init=init, app=app, start_time=self._start_time,
        )  # fmt: skip
        await self._patch_status(status)

    async def _patch_status(self, status: Object) -> None:
        if status == self._written:
            return
        current = self.pod.get("status") or {}
        if self._written is None and all(current.get(key) == value for key, value in status.items()):
            self._written = status
            return
        metadata = self.pod["metadata"]
        try:
            updated = await self.client.patch(
                PODS, metadata["name"], {"status": status}, namespace=metadata.get("namespace"), subresource="status"
            )
        except NotFound:
            return
        self._written = status
        if (updated.get("metadata") or {}).get("uid") == self.uid:
            self.pod = updated
        log.debug("pod status written pod=%s phase=%s", self.key, status.get("phase"))

    async def _write_rejection(self) -> None:
        assert self.rejection is not None
        reason, message = self.rejection
        status = {"phase": "Failed", "reason": reason, "message": message, "hostIP": self.settings.node_ip,
                  "hostIPs": [{"ip": self.settings.node_ip}], "startTime": self._start_time or pod_start_time()}  # fmt: skip
        if status == self._written:
            return
        await self._patch_status(status)
        self._event("Warning", reason, message)
        log.info("pod rejected pod=%s reason=%s message=%s", self.key, reason, message)

    def _waiting_all(self, reason: str, message: str) -> None:
        spec = self.pod.get("spec") or {}
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            self._waiting[str(container["name"])] = (reason, message)

    def _event(self, event_type: EventType, reason: str, message: str) -> None:
        """Record an Event about the pod in the background; recording never delays or fails the sync."""
        if self.events is None:
            return
        task = asyncio.create_task(self.events.record(self.pod, event_type, reason, message))
        self._event_tasks.add(task)
        task.add_done_callback(self._event_tasks.discard)

    # --- termination ---------------------------------------------------------------------------

    def _grace_seconds(self) -> int:
        metadata = self.pod.get("metadata") or {}
        grace = metadata.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE)
        return max(0, int(grace if grace is not None else DEFAULT_GRACE))

    async def _kill(self, container: Mapping[str, Any], instance: Instance, grace: int) -> None:
        """Run the preStop hook within the grace period, then stop the container (SIGTERM, then SIGKILL)."""
        deadline = time.monotonic() + grace
        handler = (container.get("lifecycle") or {}).get("preStop")
        if handler and grace > 0:
            ok, message = await run_hook(
                handler, pod_ip=self._probe_ip(), container=container,
                exec_probe=self._exec_probe(instance.id), timeout=float(grace), netns=self.settings.netns,
            )  # fmt: skip
            if not ok:
                log.warning("preStop hook failed pod=%s container=%s message=%s", self.key, instance.name, message)
        remaining = max(0, int(deadline - time.monotonic() + 0.999))
        self._event("Normal", "Killing", f"Stopping container {instance.name}")
        await self._stop_probes_of(instance.id)
        with contextlib.suppress(CRINotFoundError):
            await self.cri.stop_container(instance.id, remaining)

    async def _stop_probes_of(self, container_id: str) -> None:
        for worker in (self._probes.pop(container_id, None) or {}).values():
            await worker.stop()

    async def terminate(self) -> None:
        """Stop and remove everything of the pod, then complete its deletion; sets ``finished``."""
        spec = self.pod.get("spec") or {}
        specs = {str(c["name"]): c for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])}
        sandboxes = await self.cri.list_pod_sandbox(labels={cri_config.LABEL_POD_UID: self.uid})
        running: list[Instance] = []
        for box in sandboxes:
            self.sandbox_id = box.id
            await self._observe()
            running += [item for group in self._instances.values() for item in group if item.running]
        grace = self._grace_seconds()
        log.info("pod terminating pod=%s grace_seconds=%d running=%d", self.key, grace, len(running))
        await asyncio.gather(*(self._kill(specs.get(item.name) or {}, item, grace) for item in running))
        await self._stop_probes(None)
        await self._remove_containers_and_sandboxes(sandboxes)
        self.sandbox_id = None
        if self.volumes is not None:
            await self.volumes.teardown(self.uid)
        shutil.rmtree(cri_config.pod_log_directory(self.settings.logs_dir, self.pod), ignore_errors=True)
        self.backoff.forget(self.uid)
        self.pull_backoff.forget(self.uid)
        if not self.removed:
            await self._final_delete()
        log.info("pod terminated pod=%s", self.key)
        self.finished.set()

    async def _remove_containers_and_sandboxes(self, sandboxes: Sequence[Any]) -> None:
        for box in sandboxes:
            for container in await self.cri.list_containers(sandbox_id=box.id):
                with contextlib.suppress(CRINotFoundError):
                    await self.cri.stop_container(container.id, 0)
                    await self.cri.remove_container(container.id)
            with contextlib.suppress(CRINotFoundError):
                await self.cri.stop_pod_sandbox(box.id)
                await self.cri.remove_pod_sandbox(box.id)
        self._instances = {}
        self._status_cache.clear()

    async def _stop_sandbox_of_finished_pod(self) -> None:
        """Stop the sandbox of a pod that reached Succeeded or Failed, which frees its IP; keep the containers."""
        if self.sandbox_id is None:
            return
        if any(item.running for group in self._instances.values() for item in group):
            return
        with contextlib.suppress(CRINotFoundError):
            await self.cri.stop_pod_sandbox(self.sandbox_id)
        await self._stop_probes(None)

    async def _final_delete(self) -> None:
        metadata = self.pod["metadata"]
        if not metadata.get("deletionTimestamp"):
            return
        try:
            await self.client.delete(
                PODS, metadata["name"], namespace=metadata.get("namespace"),
                grace_period_seconds=0, precondition_uid=self.uid,
            )  # fmt: skip
        except (NotFound, Conflict):
            pass


def _remove_stale_log(path: Path) -> None:
    """Remove the log (and its rotated files) of an earlier container that wrote to ``path`` and is gone.

    A container's log path is its restart count, and the counts start at 0
    again when a pod's containers were removed (by `pykube down`, or a
    reboot that lost them), so the new container would append to the old
    one's log. No live container writes there: attempts only grow while
    the old containers exist.
    """
    for stale in [path, *rotated_files(path)]:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            log.info("removed the log of a container that is gone path=%s", stale)


def _pull_policy(container: Mapping[str, Any]) -> str:
    """Return imagePullPolicy, defaulted as the API server does: Always for :latest or no tag, else IfNotPresent."""
    policy = container.get("imagePullPolicy")
    if policy:
        return str(policy)
    image = str(container.get("image") or "")
    tagged = ":" in image.rsplit("/", 1)[-1]
    return "Always" if not tagged or image.endswith(":latest") else "IfNotPresent"


def _exited_view(instance: Instance) -> ContainerView:
    view = ContainerView(name=instance.name, image="", state="terminated", container_id=instance.id)
    view.exit_code = instance.exit_code
    view.reason = instance.reason or ("Completed" if instance.exit_code == 0 else "Error")
    view.message = instance.message
    view.started_at = instance.started_at / NANOS if instance.started_at else None
    view.finished_at = instance.finished_at / NANOS if instance.finished_at else None
    return view


def pod_start_time() -> str:
    return rfc3339(utc_now())
