"""CRI errors: what the messages name, and which class each gRPC status raises."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from pykube_control.cri.client import CRIClient
from pykube_control.cri.errors import (
    CallTarget,
    CRIAlreadyExistsError,
    CRIError,
    CRINotFoundError,
    CRITimeoutError,
    CRIUnavailableError,
    error_from_status,
)

SANDBOX_ID = "a" * 64
CONTAINER_ID = "b" * 64


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param(CallTarget(), "the runtime", id="nothing known"),
        pytest.param(
            CallTarget(pod="default/web", sandbox_id=SANDBOX_ID),
            "pod default/web (sandbox aaaaaaaaaaaaa)",
            id="pod with sandbox id",
        ),
        pytest.param(CallTarget(sandbox_id=SANDBOX_ID), "pod with sandbox aaaaaaaaaaaaa", id="sandbox id only"),
        pytest.param(
            CallTarget(pod="default/web", sandbox_id=SANDBOX_ID, container="app", container_id=CONTAINER_ID),
            "container app (id bbbbbbbbbbbbb) of pod default/web (sandbox aaaaaaaaaaaaa)",
            id="container of pod",
        ),
        pytest.param(CallTarget(container_id=CONTAINER_ID), "container with id bbbbbbbbbbbbb", id="container id only"),
        pytest.param(CallTarget(image="localhost/app:1"), "image 'localhost/app:1'", id="image"),
        pytest.param(
            CallTarget(pod="default/web", container="app", image="localhost/app:1"),
            "container app of pod default/web image 'localhost/app:1'",
            id="container with image",
        ),
    ],
)
def test_target_describe(target: CallTarget, expected: str) -> None:
    assert target.describe() == expected


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        pytest.param(grpc.StatusCode.NOT_FOUND, CRINotFoundError, id="not found"),
        pytest.param(grpc.StatusCode.ALREADY_EXISTS, CRIAlreadyExistsError, id="already exists"),
        pytest.param(grpc.StatusCode.DEADLINE_EXCEEDED, CRITimeoutError, id="deadline exceeded"),
        pytest.param(grpc.StatusCode.UNAVAILABLE, CRIUnavailableError, id="unavailable"),
        pytest.param(grpc.StatusCode.UNKNOWN, CRIError, id="unknown"),
        pytest.param(grpc.StatusCode.INVALID_ARGUMENT, CRIError, id="invalid argument"),
    ],
)
def test_error_class_per_status(code: grpc.StatusCode, error_class: type[CRIError]) -> None:
    error = error_from_status("StartContainer", CallTarget(), code, "details", socket="/s.sock", timeout=2.0)
    assert type(error) is error_class


def test_error_message_fields() -> None:
    target = CallTarget(pod="default/web", sandbox_id=SANDBOX_ID, container="app", container_id=CONTAINER_ID)
    error = error_from_status(
        "StartContainer", target, grpc.StatusCode.UNKNOWN, "runc failed", socket="/s.sock", timeout=2.0
    )
    message = str(error)
    assert message.startswith("CRI StartContainer for container app (id bbbbbbbbbbbbb) of pod default/web")
    assert "UNKNOWN: runc failed" in message
    assert error.pod == "default/web"
    assert error.container == "app"


def test_timeout_message_gives_seconds() -> None:
    error = error_from_status(
        "ExecSync", CallTarget(), grpc.StatusCode.DEADLINE_EXCEEDED, "", socket="/s.sock", timeout=2.5
    )
    assert "timed out after 2.5 s" in str(error)


def test_unavailable_message_names_socket() -> None:
    error = error_from_status(
        "Version", CallTarget(), grpc.StatusCode.UNAVAILABLE, "connect failed", socket="/s.sock", timeout=1.0
    )
    assert "/s.sock" in str(error)


def test_socket_path_too_long() -> None:
    with pytest.raises(ValueError, match="unix socket path"):
        CRIClient("/tmp/" + "x" * 120)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        CRIClient("/tmp/cri.sock", timeout=0)


def test_client_built_outside_loop(tmp_path: Path) -> None:
    # The channel opens in the loop of the first call, so a client made
    # before any loop runs works in asyncio.run, and again after close().
    cri = CRIClient(tmp_path / "none.sock", timeout=1)

    async def call_then_close() -> type[BaseException] | None:
        try:
            await cri.version()
        except CRIError as exc:
            return type(exc)
        finally:
            await cri.close()
        return None

    assert asyncio.run(call_then_close()) is CRIUnavailableError
    assert asyncio.run(call_then_close()) is CRIUnavailableError
