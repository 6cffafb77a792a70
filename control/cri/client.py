"""The CRI client: the node agent's only way to run pods in a container runtime.

``CRIClient`` speaks the Container Runtime Interface (gRPC package
runtime.v1) to containerd, or any CRI runtime, over a unix socket with
grpc.aio. It has one coroutine per RPC, a deadline on every call, and
errors that name the pod and container involved.

Public API (``from pykube_control.cri.client import CRIClient`` and the
messages from ``pykube_control.cri.proto.api_pb2``)::

    async with CRIClient("/var/lib/pykube/containerd/containerd.sock") as cri:
        # RuntimeService
        await cri.version()                       -> api_pb2.VersionResponse
        await cri.status()                        -> api_pb2.StatusResponse
        await cri.run_pod_sandbox(config)         -> sandbox id (str)
        await cri.stop_pod_sandbox(sandbox_id)
        await cri.remove_pod_sandbox(sandbox_id)
        await cri.pod_sandbox_status(sandbox_id)  -> api_pb2.PodSandboxStatus
        await cri.list_pod_sandbox(state=..., labels=...)  -> list[api_pb2.PodSandbox]
        await cri.create_container(sandbox_id, config, sandbox_config) -> container id
        await cri.start_container(container_id)
        await cri.stop_container(container_id, grace_seconds)
        await cri.remove_container(container_id)
        await cri.container_status(container_id)  -> api_pb2.ContainerStatus
        await cri.list_containers(sandbox_id=..., state=..., labels=...)
                                                  -> list[api_pb2.Container]
        await cri.update_container_resources(container_id, resources)
        await cri.reopen_container_log(container_id)
        await cri.exec_sync(container_id, cmd, timeout_seconds)
                                                  -> api_pb2.ExecSyncResponse
        # ImageService
        await cri.list_images()                   -> list[api_pb2.Image]
        await cri.image_status(image)             -> api_pb2.Image | None
        await cri.pull_image(image, auth=...)     -> image ref (str)
        await cri.remove_image(image)

Requests are built from the generated messages (``api_pb2.PodSandboxConfig``,
``api_pb2.ContainerConfig``, ``api_pb2.LinuxContainerResources``,
``api_pb2.AuthConfig``), and results are the generated messages, so every
CRI field is available under its spec name with no second model to keep in
sync. Only the fields listed in control/cri/proto/api.proto exist.

Every call takes a keyword-only ``timeout`` in seconds that overrides the
client's default for that call. StopContainer and ExecSync add the grace
period or command timeout they send to the runtime, so the deadline never
cuts off a wait the runtime was asked to make.

Every failure raises a ``CRIError`` (``pykube_control.cri.errors``) whose
message has the RPC, the pod as "namespace/name", the container name, the
short ids and the gRPC status. The runtime identifies objects only by id,
so the client remembers the pod and container names of every sandbox and
container it created, listed or read the status of, and forgets them on
removal. After a restart, ids unseen so far appear as ids only until the
next list call.

Stop and remove calls treat NOT_FOUND as success, as the CRI spec makes
them idempotent, because containerd 1.6 still returns NOT_FOUND for an id
it already removed.

The client never retries: whether a failed CreateContainer may be repeated
depends on the pod worker's state, so the caller decides.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import grpc.aio

from pykube_control.cri.errors import CallTarget, CRIError, CRINotFoundError, error_from_status
from pykube_control.cri.proto import api_pb2, api_pb2_grpc

logger = logging.getLogger("pykube.cri")

DEFAULT_TIMEOUT = 120.0
"""Seconds allowed for one CRI call, the default of the kubelet's
--runtime-request-timeout (2 minutes). A RunPodSandbox that sets up a
network or a CreateContainer that unpacks a large image can take tens of
seconds on a busy node."""

DEFAULT_PULL_TIMEOUT = 900.0
"""Seconds allowed for one PullImage. A pull downloads every layer in one
call, so it gets far more time than other calls; 15 minutes covers a
gigabyte image on a slow link (an estimate, not a measurement)."""

MAX_MESSAGE_BYTES = 40 * 1024 * 1024
"""Largest response accepted, in bytes. The CRI spec lets a runtime return
up to 16 MiB each of stdout and stderr from ExecSync, and large list
responses on a busy node come close to gRPC's 4 MiB default."""

MAX_UNIX_SOCKET_PATH = 107
"""Maximum length in bytes of a unix socket path on Linux (sun_path is 108
bytes including the terminating NUL)."""

_RPC = Callable[..., Awaitable[Any]]


class CRIClient:
    """An async CRI client over one gRPC channel to a unix socket.

    The channel is created by the first call, inside the event loop that
    makes it, because a grpc.aio channel belongs to the loop it was created
    in. So constructing the client needs no loop and never fails because
    the runtime is down; the first call does, with ``CRIUnavailableError``.
    Use the client from one event loop, as an async context manager or
    with ``close()``.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        pull_timeout: float = DEFAULT_PULL_TIMEOUT,
    ) -> None:
        path = os.fspath(Path(socket_path).absolute())
        if len(path.encode()) > MAX_UNIX_SOCKET_PATH:
            raise ValueError(
                f"CRI socket path {path!r} is {len(path.encode())} bytes long, more than "
                f"the {MAX_UNIX_SOCKET_PATH} bytes a unix socket path may have; "
                "use a shorter data directory"
            )
        if timeout <= 0 or pull_timeout <= 0:
            raise ValueError(
                f"CRI timeouts must be positive seconds, got timeout={timeout!r} "
                f"pull_timeout={pull_timeout!r}"
            )
        self.socket_path = path
        self.timeout = timeout
        self.pull_timeout = pull_timeout
        self._channel: grpc.aio.Channel | None = None
        self._runtime_stub: Any = None
        self._image_stub: Any = None
        # Names for error messages: sandbox id -> "namespace/name", and
        # container id -> (container name, sandbox id).
        self._pods: dict[str, str] = {}
        self._containers: dict[str, tuple[str, str]] = {}

    async def close(self) -> None:
        """Close the channel; calls in flight fail with CRIUnavailableError.

        The next call opens a new channel.
        """
        channel, self._channel = self._channel, None
        self._runtime_stub = self._image_stub = None
        if channel is not None:
            await channel.close()

    def _open(self) -> None:
        self._channel = grpc.aio.insecure_channel(
            f"unix://{self.socket_path}",
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self._runtime_stub = api_pb2_grpc.RuntimeServiceStub(self._channel)
        self._image_stub = api_pb2_grpc.ImageServiceStub(self._channel)

    @property
    def _runtime(self) -> Any:
        """The RuntimeService stub, opening the channel on first use."""
        if self._channel is None:
            self._open()
        return self._runtime_stub

    @property
    def _images(self) -> Any:
        """The ImageService stub, opening the channel on first use."""
        if self._channel is None:
            self._open()
        return self._image_stub

    async def __aenter__(self) -> CRIClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- RuntimeService: runtime ----

    async def version(self, *, timeout: float | None = None) -> api_pb2.VersionResponse:
        """Return the runtime's name and versions (api_pb2.VersionResponse)."""
        request = api_pb2.VersionRequest(version="v1")
        response: api_pb2.VersionResponse = await self._call(
            self._runtime.Version, request, "Version", CallTarget(), timeout
        )
        return response

    async def status(self, *, timeout: float | None = None) -> api_pb2.StatusResponse:
        """Return the runtime's conditions, RuntimeReady and NetworkReady (api_pb2.StatusResponse)."""
        request = api_pb2.StatusRequest()
        response: api_pb2.StatusResponse = await self._call(
            self._runtime.Status, request, "Status", CallTarget(), timeout
        )
        return response

    # ---- RuntimeService: pod sandboxes ----

    async def run_pod_sandbox(
        self, config: api_pb2.PodSandboxConfig, *, runtime_handler: str = "", timeout: float | None = None
    ) -> str:
        """Create and start a sandbox from an api_pb2.PodSandboxConfig; return its id.

        With host networking (``linux.security_context.namespace_options.network
        = NODE``) leave ``hostname`` empty: containerd 1.6 then shares the
        host's UTS namespace too, and runc rejects a hostname there.
        """
        pod = _pod_name(config.metadata)
        request = api_pb2.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler)
        response = await self._call(
            self._runtime.RunPodSandbox, request, "RunPodSandbox", CallTarget(pod=pod), timeout
        )
        sandbox_id: str = response.pod_sandbox_id
        self._pods[sandbox_id] = pod
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str, *, timeout: float | None = None) -> None:
        """Stop every process of the sandbox and release its network; idempotent.

        A sandbox that no longer exists counts as stopped.
        """
        request = api_pb2.StopPodSandboxRequest(pod_sandbox_id=sandbox_id)
        target = self._sandbox_target(sandbox_id)
        await self._call_idempotent(self._runtime.StopPodSandbox, request, "StopPodSandbox", target, timeout)

    async def remove_pod_sandbox(self, sandbox_id: str, *, timeout: float | None = None) -> None:
        """Remove the sandbox and its containers; idempotent."""
        request = api_pb2.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id)
        target = self._sandbox_target(sandbox_id)
        await self._call_idempotent(
            self._runtime.RemovePodSandbox, request, "RemovePodSandbox", target, timeout
        )
        self._pods.pop(sandbox_id, None)
        for container_id, (_, owner) in list(self._containers.items()):
            if owner == sandbox_id:
                del self._containers[container_id]

    async def pod_sandbox_status(
        self, sandbox_id: str, *, timeout: float | None = None
    ) -> api_pb2.PodSandboxStatus:
        """Return the sandbox's api_pb2.PodSandboxStatus (state, network.ip, created_at)."""
        request = api_pb2.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id)
        target = self._sandbox_target(sandbox_id)
        response: api_pb2.PodSandboxStatusResponse = await self._call(
            self._runtime.PodSandboxStatus, request, "PodSandboxStatus", target, timeout
        )
        self._remember_sandbox(response.status)
        return response.status

    async def list_pod_sandbox(
        self,
        *,
        sandbox_id: str = "",
        state: api_pb2.PodSandboxState | None = None,
        labels: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[api_pb2.PodSandbox]:
        """Return the sandboxes (api_pb2.PodSandbox) matching every given filter.

        ``state`` is api_pb2.SANDBOX_READY or api_pb2.SANDBOX_NOTREADY; None
        lists both. ``labels`` must all match exactly.
        """
        sandbox_filter = api_pb2.PodSandboxFilter(id=sandbox_id, label_selector=labels or {})
        if state is not None:
            sandbox_filter.state.state = state
        request = api_pb2.ListPodSandboxRequest(filter=sandbox_filter)
        response = await self._call(
            self._runtime.ListPodSandbox, request, "ListPodSandbox", CallTarget(), timeout
        )
        items = list(response.items)
        if not (sandbox_id or state is not None or labels):
            # An unfiltered list is complete, so names of sandboxes removed
            # by another client can go.
            self._pods.clear()
        for item in items:
            self._remember_sandbox(item)
        return items

    # ---- RuntimeService: containers ----

    async def create_container(
        self,
        sandbox_id: str,
        config: api_pb2.ContainerConfig,
        sandbox_config: api_pb2.PodSandboxConfig,
        *,
        timeout: float | None = None,
    ) -> str:
        """Create a container from an api_pb2.ContainerConfig in the sandbox; return its id.

        ``sandbox_config`` is the api_pb2.PodSandboxConfig the sandbox was
        run with; the runtime reads the log directory and namespaces from it.
        """
        name: str = config.metadata.name
        request = api_pb2.CreateContainerRequest(
            pod_sandbox_id=sandbox_id, config=config, sandbox_config=sandbox_config
        )
        target = CallTarget(
            pod=self._pods.get(sandbox_id) or _pod_name(sandbox_config.metadata),
            sandbox_id=sandbox_id,
            container=name,
            image=config.image.image,
        )
        response = await self._call(
            self._runtime.CreateContainer, request, "CreateContainer", target, timeout
        )
        container_id: str = response.container_id
        self._containers[container_id] = (name, sandbox_id)
        return container_id

    async def start_container(self, container_id: str, *, timeout: float | None = None) -> None:
        """Start a created container."""
        request = api_pb2.StartContainerRequest(container_id=container_id)
        target = self._container_target(container_id)
        await self._call(self._runtime.StartContainer, request, "StartContainer", target, timeout)

    async def stop_container(
        self, container_id: str, grace_seconds: int, *, timeout: float | None = None
    ) -> None:
        """Stop a container: SIGTERM, then SIGKILL after ``grace_seconds``; idempotent.

        The call's deadline is the timeout plus the grace period, because
        the runtime waits up to the grace period before it replies.
        """
        if grace_seconds < 0:
            raise ValueError(f"grace_seconds must be 0 or more, got {grace_seconds!r}")
        request = api_pb2.StopContainerRequest(container_id=container_id, timeout=grace_seconds)
        target = self._container_target(container_id)
        deadline = self._deadline(timeout) + grace_seconds
        await self._call_idempotent(self._runtime.StopContainer, request, "StopContainer", target, deadline)

    async def remove_container(self, container_id: str, *, timeout: float | None = None) -> None:
        """Remove a container, killing it first if it runs; idempotent."""
        request = api_pb2.RemoveContainerRequest(container_id=container_id)
        target = self._container_target(container_id)
        await self._call_idempotent(
            self._runtime.RemoveContainer, request, "RemoveContainer", target, timeout
        )
        self._containers.pop(container_id, None)

    async def container_status(
        self, container_id: str, *, timeout: float | None = None
    ) -> api_pb2.ContainerStatus:
        """Return the container's api_pb2.ContainerStatus.

        Times (created_at, started_at, finished_at) are nanoseconds since
        the epoch, 0 when not reached yet; exit_code is meaningful only
        when finished_at is set.
        """
        request = api_pb2.ContainerStatusRequest(container_id=container_id)
        target = self._container_target(container_id)
        response: api_pb2.ContainerStatusResponse = await self._call(
            self._runtime.ContainerStatus, request, "ContainerStatus", target, timeout
        )
        return response.status

    async def list_containers(
        self,
        *,
        container_id: str = "",
        sandbox_id: str = "",
        state: api_pb2.ContainerState | None = None,
        labels: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[api_pb2.Container]:
        """Return the containers (api_pb2.Container) matching every given filter.

        ``state`` is one of api_pb2.CONTAINER_CREATED, CONTAINER_RUNNING,
        CONTAINER_EXITED or CONTAINER_UNKNOWN; None lists all.
        """
        container_filter = api_pb2.ContainerFilter(
            id=container_id, pod_sandbox_id=sandbox_id, label_selector=labels or {}
        )
        if state is not None:
            container_filter.state.state = state
        request = api_pb2.ListContainersRequest(filter=container_filter)
        target = CallTarget(sandbox_id=sandbox_id or None, pod=self._pods.get(sandbox_id))
        response = await self._call(
            self._runtime.ListContainers, request, "ListContainers", target, timeout
        )
        containers = list(response.containers)
        if not (container_id or sandbox_id or state is not None or labels):
            self._containers.clear()
        for container in containers:
            self._containers[container.id] = (container.metadata.name, container.pod_sandbox_id)
        return containers

    async def update_container_resources(
        self, container_id: str, resources: api_pb2.LinuxContainerResources, *, timeout: float | None = None
    ) -> None:
        """Apply new api_pb2.LinuxContainerResources to a running container."""
        request = api_pb2.UpdateContainerResourcesRequest(container_id=container_id, linux=resources)
        target = self._container_target(container_id)
        await self._call(
            self._runtime.UpdateContainerResources, request, "UpdateContainerResources", target, timeout
        )

    async def reopen_container_log(self, container_id: str, *, timeout: float | None = None) -> None:
        """Make the runtime reopen the container's log file, after the caller rotated it."""
        request = api_pb2.ReopenContainerLogRequest(container_id=container_id)
        target = self._container_target(container_id)
        await self._call(self._runtime.ReopenContainerLog, request, "ReopenContainerLog", target, timeout)

    async def exec_sync(
        self,
        container_id: str,
        cmd: Sequence[str],
        timeout_seconds: int,
        *,
        timeout: float | None = None,
    ) -> api_pb2.ExecSyncResponse:
        """Run ``cmd`` in the container and return api_pb2.ExecSyncResponse.

        ``timeout_seconds`` is sent to the runtime, which kills the command
        after it (0 means no limit, so the call deadline alone bounds it).
        A non-zero exit code is a result, not an error.
        """
        if not cmd:
            raise ValueError(f"exec_sync needs a command, got {list(cmd)!r}")
        if timeout_seconds < 0:
            raise ValueError(f"timeout_seconds must be 0 or more, got {timeout_seconds!r}")
        request = api_pb2.ExecSyncRequest(container_id=container_id, cmd=list(cmd), timeout=timeout_seconds)
        target = self._container_target(container_id)
        deadline = self._deadline(timeout) + timeout_seconds
        response: api_pb2.ExecSyncResponse = await self._call(
            self._runtime.ExecSync, request, "ExecSync", target, deadline
        )
        return response

    # ---- ImageService ----

    async def list_images(self, *, timeout: float | None = None) -> list[api_pb2.Image]:
        """Return every image the runtime has (api_pb2.Image)."""
        request = api_pb2.ListImagesRequest()
        response = await self._call(self._images.ListImages, request, "ListImages", CallTarget(), timeout)
        return list(response.images)

    async def image_status(
        self, image: str, *, timeout: float | None = None
    ) -> api_pb2.Image | None:
        """Return the api_pb2.Image for a reference, tag or id, or None if the runtime lacks it."""
        request = api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=image))
        response: api_pb2.ImageStatusResponse = await self._call(
            self._images.ImageStatus, request, "ImageStatus", CallTarget(image=image), timeout
        )
        if not response.HasField("image"):
            return None
        return response.image

    async def pull_image(
        self,
        image: str,
        *,
        auth: api_pb2.AuthConfig | None = None,
        sandbox_config: api_pb2.PodSandboxConfig | None = None,
        timeout: float | None = None,
    ) -> str:
        """Pull ``image`` from its registry; return the image reference the runtime stored.

        ``auth`` is an api_pb2.AuthConfig for private registries. The
        default deadline is the client's ``pull_timeout``.
        """
        request = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=image))
        if auth is not None:
            request.auth.CopyFrom(auth)
        if sandbox_config is not None:
            request.sandbox_config.CopyFrom(sandbox_config)
        deadline = self.pull_timeout if timeout is None else timeout
        target = CallTarget(image=image)
        if sandbox_config is not None:
            target = CallTarget(pod=_pod_name(sandbox_config.metadata), image=image)
        response = await self._call(self._images.PullImage, request, "PullImage", target, deadline)
        image_ref: str = response.image_ref
        return image_ref

    async def remove_image(self, image: str, *, timeout: float | None = None) -> None:
        """Remove an image by reference, tag or id; idempotent."""
        request = api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image=image))
        target = CallTarget(image=image)
        await self._call_idempotent(self._images.RemoveImage, request, "RemoveImage", target, timeout)

    # ---- helpers ----

    def _deadline(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    async def _call(
        self, rpc: _RPC, request: Any, method: str, target: CallTarget, timeout: float | None
    ) -> Any:
        """Send one unary RPC with a deadline and map a gRPC failure to a CRIError."""
        deadline = self._deadline(timeout)
        try:
            return await rpc(request, timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            error = error_from_status(
                method,
                target,
                exc.code(),
                exc.details() or "",
                socket=self.socket_path,
                timeout=deadline,
            )
            logger.debug(
                "cri call failed method=%s code=%s target=%s", method, exc.code().name, target.describe()
            )
            raise error from None

    async def _call_idempotent(
        self, rpc: _RPC, request: Any, method: str, target: CallTarget, timeout: float | None
    ) -> None:
        """Send a stop or remove call, for which NOT_FOUND means the work is already done.

        The CRI spec makes these calls idempotent, but containerd 1.6
        returns NOT_FOUND for an id it already removed.
        """
        try:
            await self._call(rpc, request, method, target, timeout)
        except CRINotFoundError:
            logger.debug("cri object already gone method=%s target=%s", method, target.describe())

    def _sandbox_target(self, sandbox_id: str) -> CallTarget:
        return CallTarget(pod=self._pods.get(sandbox_id), sandbox_id=sandbox_id)

    def _container_target(self, container_id: str) -> CallTarget:
        name, sandbox_id = self._containers.get(container_id, (None, None))
        pod = self._pods.get(sandbox_id) if sandbox_id is not None else None
        return CallTarget(pod=pod, sandbox_id=sandbox_id, container=name, container_id=container_id)

    def _remember_sandbox(self, sandbox: api_pb2.PodSandbox | api_pb2.PodSandboxStatus) -> None:
        if sandbox.id:
            self._pods[sandbox.id] = _pod_name(sandbox.metadata)


def _pod_name(metadata: api_pb2.PodSandboxMetadata) -> str:
    """Return "namespace/name" from an api_pb2.PodSandboxMetadata."""
    return f"{metadata.namespace}/{metadata.name}"


__all__ = ["CRIClient", "CRIError", "DEFAULT_TIMEOUT", "DEFAULT_PULL_TIMEOUT"]
