"""kubectl explain against the OpenAPI documents, served by a small aiohttp app.

The app serves only what ``kubectl explain`` reads: legacy discovery
(/api, /apis and the resource lists, built from the resources table) and
the three OpenAPI documents. kubectl 1.32 reads /openapi/v3 by default and
the protobuf /openapi/v2 with ``--output plaintext-openapiv2``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pykube_control.apiserver import openapi
from pykube_control.apiserver.resources import RESOURCES, groups

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH"),
]

Object = dict[str, Any]

KUBECTL_TIMEOUT_SECONDS = 60


def resource_list(group: str, version: str) -> Object:
    entries = [
        {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
            "shortNames": list(r.short_names),
        }
        for r in RESOURCES
        if r.group == group and r.version == version
    ]
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}


def group_list() -> Object:
    entries = []
    for name, versions in groups().items():
        if not name:
            continue
        listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        entries.append({"name": name, "versions": listed, "preferredVersion": listed[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": entries}


def openapi_response(request: web.Request) -> web.Response:
    path = request.path
    if path == "/openapi/v2":
        accept = request.headers.get("Accept", "")
        if any(media in accept for media in openapi.V2_PROTOBUF_ACCEPT_TYPES):
            return web.Response(body=openapi.openapi_v2_protobuf(), content_type=openapi.V2_PROTOBUF_CONTENT_TYPE)
        return web.Response(body=openapi.openapi_v2_json(), content_type="application/json")
    if path == "/openapi/v3":
        return web.json_response(openapi.openapi_v3_index())
    parts = path.removeprefix("/openapi/v3/").split("/")
    group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
    return web.Response(body=openapi.openapi_v3_json(group, version), content_type="application/json")


def discovery_response(request: web.Request) -> web.Response:
    path = request.path
    if path == "/api":
        return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
    if path == "/apis":
        return web.json_response(group_list())
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) == 2:
        return web.json_response(resource_list("", parts[1]))
    if parts[0] == "apis" and len(parts) == 3:
        return web.json_response(resource_list(parts[1], parts[2]))
    return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}, status=404)


class FakeServer:
    """The aiohttp app, recording each request as (path, Accept header)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.headers.get("Accept", "")))
        if request.path.startswith("/openapi/"):
            return openapi_response(request)
        return discovery_response(request)


@pytest.fixture
async def fake_server() -> AsyncIterator[tuple[FakeServer, str]]:
    fake = FakeServer()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def write_kubeconfig(directory: Path, server: str) -> Path:
    path = directory / "kubeconfig"
    path.write_text(
        "apiVersion: v1\n"
        "kind: Config\n"
        f"clusters:\n- name: fake\n  cluster:\n    server: {server}\n"
        "users:\n- name: user\n  user:\n    token: unused\n"
        "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: user\n"
        "current-context: fake\n"
    )
    return path


async def kubectl(tmp_path: Path, server: str, *args: str) -> str:
    """Run kubectl against ``server`` with a kubeconfig and cache of its own; return stdout."""
    kubeconfig = write_kubeconfig(tmp_path, server)
    command = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), KUBECTL_TIMEOUT_SECONDS)
    assert process.returncode == 0, f"{' '.join(command)} failed: {stderr.decode()}"
    return stdout.decode()


async def test_explain_reads_v3(fake_server: tuple[FakeServer, str], tmp_path: Path) -> None:
    fake, server = fake_server

    output = await kubectl(tmp_path, server, "explain", "deployment.spec")

    assert "DeploymentSpec is the specification of the desired behavior of the" in output
    assert "replicas\t<integer>" in output
    assert "/openapi/v3/apis/apps/v1" in [path for path, _ in fake.requests]


async def test_explain_int_or_string_field(fake_server: tuple[FakeServer, str], tmp_path: Path) -> None:
    _, server = fake_server

    output = await kubectl(tmp_path, server, "explain", "service.spec.ports.targetPort")

    assert "FIELD: targetPort <IntOrString>" in output


async def test_explain_reads_v2_protobuf(fake_server: tuple[FakeServer, str], tmp_path: Path) -> None:
    fake, server = fake_server

    output = await kubectl(tmp_path, server, "explain", "--output", "plaintext-openapiv2", "deployment.spec.strategy")
    v2_accepts = [accept for path, accept in fake.requests if path == "/openapi/v2"]

    assert "DeploymentStrategy describes how to replace existing pods with new ones." in output
    assert v2_accepts
    assert all("protobuf" in accept for accept in v2_accepts)
