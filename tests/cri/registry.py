"""A read-only OCI distribution registry on loopback, serving images built by image_build.

Enough of the registry API for containerd to pull: ``GET /v2/``, and
``HEAD``/``GET`` of manifests (by tag or digest) and blobs. containerd's CRI
plugin talks plain HTTP to a registry on 127.0.0.1, so no TLS is needed.
``requests`` counts the manifest requests per tag, which shows whether a
pull reached the registry.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class LoopbackRegistry:
    """Blobs by digest and manifests by (repository, tag), served by an aiohttp runner."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add_archive(self, repository: str, tag: str, archive: bytes) -> None:
        """Serve the one image of an OCI layout tarball as ``<host>/<repository>:<tag>``."""
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            files = {
                member.name: extracted.read()
                for member in tar.getmembers()
                if (extracted := tar.extractfile(member)) is not None
            }
        for name, data in files.items():
            if name.startswith("blobs/sha256/"):
                self.blobs["sha256:" + name.removeprefix("blobs/sha256/")] = data
        index = json.loads(files["index.json"])
        self.manifests[(repository, tag)] = index["manifests"][0]["digest"]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v2/", self._root)
        app.router.add_route("*", "/v2/{name:.+}/manifests/{reference}", self._manifest)
        app.router.add_route("*", "/v2/{name:.+}/blobs/{digest}", self._blob)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _root(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _manifest(self, request: web.Request) -> web.Response:
        name, reference = request.match_info["name"], request.match_info["reference"]
        self.requests[f"{name}:{reference}"] += 1
        digest = reference if reference.startswith("sha256:") else self.manifests.get((name, reference))
        if digest is None or digest not in self.blobs:
            return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, status=404)
        return self._content(request, digest, "application/vnd.oci.image.manifest.v1+json")

    async def _blob(self, request: web.Request) -> web.Response:
        digest = request.match_info["digest"]
        if digest not in self.blobs:
            return web.json_response({"errors": [{"code": "BLOB_UNKNOWN"}]}, status=404)
        return self._content(request, digest, "application/octet-stream")

    def _content(self, request: web.Request, digest: str, content_type: str) -> web.Response:
        # aiohttp sends only the headers, with the body's length, for HEAD.
        return web.Response(body=self.blobs[digest], headers={"Docker-Content-Digest": digest}, content_type=content_type)
