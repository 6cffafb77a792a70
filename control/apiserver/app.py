"""Starting and stopping an API server: store, caches, credentials and the HTTP site.

``start_apiserver`` is what ``pykube apiserver`` and the tests call. With
TLS (the default) it creates the CA, serving certificate, admin token and
admin kubeconfig in the data directory on first start and loads them
afterwards. ``insecure=True`` serves plain HTTP without authentication and
refuses any address but loopback: it exists for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import ipaddress
import logging
import socket
from pathlib import Path

from aiohttp import web

from pykube_control.apiserver import objects, resources, storage
from pykube_control.apiserver.admission.service_allocator import (
    DEFAULT_SERVICE_CIDR,
    parse_service_cidr,
    record_service_cidr,
)
from pykube_control.apiserver.admission.priority import ensure_system_priority_classes
from pykube_control.apiserver.admission.service_ips import repair_allocations
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.kubernetes_service import ensure_kubernetes_service
from pykube_control.apiserver.security import Security
from pykube_control.apiserver.server import APIServer, default_admission
from pykube_control.store import open_store
from pykube_control.store.errors import KeyExistsError
from pykube_control.store.interface import Store

log = logging.getLogger("pykube.apiserver")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

DEFAULT_PORT = 6443


@dataclasses.dataclass
class APIServerConfig:
    data_dir: Path
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    store_url: str | None = None
    """None: SQLite in the data directory."""
    insecure: bool = False
    advertise_address: str | None = None
    extra_sans: tuple[str, ...] = ()
    service_cluster_ip_range: str = DEFAULT_SERVICE_CIDR
    """CIDR that Service cluster IPs come from; its first address is the ``kubernetes`` Service's."""


@dataclasses.dataclass
class RunningAPIServer:
    config: APIServerConfig
    store: Store
    ctx: APIContext
    runner: web.AppRunner
    port: int
    url: str
    kubeconfig: Path | None
    admin_token: str | None

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.ctx.stop()
        await self.store.close()
        log.info("apiserver stopped url=%s", self.url)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def ensure_system_namespaces(store: Store) -> None:
    namespaces = resources.by_plural("", "v1", "namespaces")
    assert namespaces is not None
    for name in SYSTEM_NAMESPACES:
        obj = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        objects.prepare_create(obj)
        try:
            await store.create(storage.object_key(namespaces, None, name), storage.encode(obj))
            log.info("created namespace name=%s", name)
        except KeyExistsError:
            pass


def _services() -> resources.ResourceType:
    services = resources.by_plural("", "v1", "services")
    assert services is not None
    return services


def _bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}; is another API server running? choose --port") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def start_apiserver(config: APIServerConfig) -> RunningAPIServer:
    if config.insecure and not _is_loopback(config.host):
        raise ValueError(
            f"--insecure serves without TLS or authentication and only on loopback; "
            f"use --host 127.0.0.1 instead of {config.host}"
        )
    service_cidr = parse_service_cidr(config.service_cluster_ip_range)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store_url = config.store_url or f"sqlite://{(config.data_dir / 'state.db').resolve()}"
    store = await open_store(store_url)
    try:
        await ensure_system_namespaces(store)
        await ensure_system_priority_classes(store)
        await record_service_cidr(store, service_cidr)
        await repair_allocations(store, _services())
        ctx = APIContext.create(store)
        ctx.admission_plugins = default_admission()
        await ctx.start()
    except BaseException:
        await store.close()
        raise

    sock = _bind_socket(config.host, config.port)
    port = sock.getsockname()[1]
    advertise = config.advertise_address or ("127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host)
    scheme = "http" if config.insecure else "https"
    url = f"{scheme}://{advertise}:{port}" if ":" not in advertise else f"{scheme}://[{advertise}]:{port}"
    try:
        await ensure_kubernetes_service(store, advertise, port)
    except BaseException:
        sock.close()
        await ctx.stop()
        await store.close()
        raise

    security = None
    ssl_context = None
    kubeconfig = None
    admin_token = None
    if not config.insecure:
        from pykube_control.apiserver.auth import bootstrap, certs

        credentials = await asyncio.to_thread(bootstrap.ensure_credentials, config.data_dir, url, config.extra_sans)
        ssl_context = certs.ssl_context(credentials.pki)
        from pykube_control.apiserver.auth.bootstrap_tokens import BootstrapTokens
        from pykube_control.apiserver.auth.token_chain import TokenChain
        from pykube_control.apiserver.cluster_info import ensure_cluster_info
        from pykube_control.apiserver.security import CacheSecrets

        await ensure_cluster_info(store, url, credentials.ca.certificate_pem)
        security = Security(ctx, TokenChain([credentials.tokens, BootstrapTokens(CacheSecrets(ctx))]))
        kubeconfig = credentials.kubeconfig
        admin_token = credentials.admin_token
        from pykube_control.apiserver.auth.kubelet_client import kubelet_client_context

        ctx.kubelet_client_ssl = await asyncio.to_thread(kubelet_client_context, credentials.pki, credentials.ca)

    server = APIServer(ctx, security, f"{advertise}:{port}")
    runner = web.AppRunner(server.application(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=ssl_context)
    await site.start()
    server.ready = True
    # Everything allocated so far (schemas, caches, modules) lives as long as
    # the server, so move it out of the collector's generations: full
    # collections set off by per-request garbage then stay short.
    gc.collect()
    gc.freeze()
    log.info("apiserver started url=%s store=%s", url, store_url.split("://")[0])
    return RunningAPIServer(config, store, ctx, runner, port, url, kubeconfig, admin_token)
