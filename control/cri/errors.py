"""Errors of CRI calls: one class per gRPC status a caller acts on.

A CRI runtime identifies sandboxes and containers by opaque ids, so a bare
gRPC error ("container 3f2a... not found") cannot tell the operator which
pod failed. Every error here carries the RPC name, the gRPC status, and the
pod and container the call was about, as far as the client knows them (see
``CallTarget``), and its message ends with what to check next.

The subclasses are the statuses the node agent treats differently: an
object already gone (``CRINotFoundError``), a name still taken by an old
container (``CRIAlreadyExistsError``), a call that ran out of time
(``CRITimeoutError``) and a runtime that does not respond at all
(``CRIUnavailableError``). Every other status raises ``CRIError`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc


def short_id(runtime_id: str) -> str:
    """Return the first 13 characters of a runtime id, as crictl prints it."""
    return runtime_id[:13]


@dataclass(frozen=True)
class CallTarget:
    """The objects one CRI call is about, for error messages.

    ``pod`` is "namespace/name" and ``container`` the container's name in
    the pod spec. Either is None when the client has not seen the sandbox
    or container, for example after the agent restarted and before it
    listed them again.
    """

    pod: str | None = None
    sandbox_id: str | None = None
    container: str | None = None
    container_id: str | None = None
    image: str | None = None

    def describe(self) -> str:
        """Return "container web (id 0123...) of pod default/web-0 (sandbox 4567...)"."""
        parts: list[str] = []
        if self.container is not None or self.container_id is not None:
            parts.append(_named("container", self.container, self.container_id, "id"))
        if self.pod is not None or self.sandbox_id is not None:
            prefix = "of pod" if parts else "pod"
            parts.append(_named(prefix, self.pod, self.sandbox_id, "sandbox"))
        if self.image is not None:
            parts.append(f"image {self.image!r}")
        return " ".join(parts) if parts else "the runtime"


def _named(kind: str, name: str | None, runtime_id: str | None, id_label: str) -> str:
    if name is None:
        return f"{kind} with {id_label} {short_id(runtime_id or '')}"
    if runtime_id is None:
        return f"{kind} {name}"
    return f"{kind} {name} ({id_label} {short_id(runtime_id)})"


class CRIError(Exception):
    """A CRI call failed; ``code`` is the gRPC status the runtime returned."""

    hint = "Check the container runtime's log for the cause."

    def __init__(
        self,
        method: str,
        target: CallTarget,
        code: grpc.StatusCode,
        details: str,
        *,
        socket: str = "",
        timeout: float | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.code = code
        self.details = details
        self.socket = socket
        self.timeout = timeout
        super().__init__(self._message())

    @property
    def pod(self) -> str | None:
        """The pod as "namespace/name", or None if the client did not know it."""
        return self.target.pod

    @property
    def container(self) -> str | None:
        """The container's name in the pod spec, or None if the client did not know it."""
        return self.target.container

    def _message(self) -> str:
        return (
            f"CRI {self.method} for {self.target.describe()} failed: "
            f"{self.code.name}: {self.details or '(no details)'}. {self._hint()}"
        )

    def _hint(self) -> str:
        return self.hint


class CRINotFoundError(CRIError):
    """The sandbox, container or image of the call does not exist in the runtime."""

    hint = "It was removed or never created; list the runtime's objects again."


class CRIAlreadyExistsError(CRIError):
    """The name of the new sandbox or container is still reserved by an old one."""

    hint = "Remove the old sandbox or container with that name, or raise the attempt number."


class CRITimeoutError(CRIError):
    """The call did not finish within its deadline (gRPC DEADLINE_EXCEEDED)."""

    def _hint(self) -> str:
        after = "its deadline" if self.timeout is None else f"{self.timeout:g} s"
        return (
            f"The call timed out after {after}; the runtime may be overloaded "
            "or stuck, so check its log, or raise the client's timeout."
        )


class CRIUnavailableError(CRIError):
    """The runtime did not respond on its socket (gRPC UNAVAILABLE)."""

    def _hint(self) -> str:
        return f"Check that the container runtime is running and listening on {self.socket}."


_ERROR_CLASSES: dict[grpc.StatusCode, type[CRIError]] = {
    grpc.StatusCode.NOT_FOUND: CRINotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: CRIAlreadyExistsError,
    grpc.StatusCode.DEADLINE_EXCEEDED: CRITimeoutError,
    grpc.StatusCode.UNAVAILABLE: CRIUnavailableError,
}


def error_from_status(
    method: str,
    target: CallTarget,
    code: grpc.StatusCode,
    details: str,
    *,
    socket: str,
    timeout: float,
) -> CRIError:
    """Build the CRIError subclass that matches ``code``."""
    error_class = _ERROR_CLASSES.get(code, CRIError)
    return error_class(method, target, code, details, socket=socket, timeout=timeout)
