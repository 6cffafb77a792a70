"""The API server's HTTP application: routing, errors, authentication and metrics.

One catch-all route parses each path (request_info) and dispatches by verb
to read.py, write.py or subresources.py; non-resource paths are health,
version, metrics, discovery and OpenAPI. Errors raised anywhere become
Kubernetes Status responses here, and unexpected exceptions a 500 Status
that names the request, so a client never sees an HTML error page.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import prometheus_client
from aiohttp import web

from pykube_core import KUBERNETES_VERSION, component_version

from pykube_control.apiserver import csr_strategy, discovery, openapi, read, subresources, write
from pykube_control.apiserver import pod_logs
from pykube_control.apiserver.admission.chain import Plugin
from pykube_control.apiserver.admission.lifecycle import admit_namespace_lifecycle
from pykube_control.apiserver.admission.limitranger import admit_limit_ranger
from pykube_control.apiserver.admission.priority import admit_priority
from pykube_control.apiserver.admission.quota import admit_resource_quota
from pykube_control.apiserver.admission.service_ips import admit_service_ips
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.request_info import RequestInfo, not_found_path, parse_resource_path
from pykube_control.apiserver.responses import json_response
from pykube_control.apiserver.security import Security, request_verb
from pykube_control.apiserver.status import APIError, method_not_allowed, status_body
from pykube_control.store.errors import StoreUnavailableError

log = logging.getLogger("pykube.apiserver")



ANONYMOUS_PATHS = ("/healthz", "/livez", "/readyz", "/version")

REGISTRY = prometheus_client.CollectorRegistry()
REQUESTS = prometheus_client.Counter(
    "apiserver_request_total", "API requests by verb, resource and response code.",
    ["verb", "resource", "code"], registry=REGISTRY,
)
LATENCY = prometheus_client.Histogram(
    "apiserver_request_duration_seconds", "Time to answer an API request (for watches: to start streaming).",
    ["verb", "resource"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
WATCHERS = prometheus_client.Gauge(
    "apiserver_registered_watchers", "Open watch requests by resource.", ["resource"], registry=REGISTRY
)

Handler = Callable[[APIContext, RequestInfo, web.Request], Awaitable[web.StreamResponse]]


def version_info() -> dict[str, str]:
    major, minor = KUBERNETES_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": component_version(),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": f"python{platform.python_version()}",
        "compiler": platform.python_implementation().lower(),
        "platform": f"{platform.system().lower()}/{platform.machine()}",
    }


class APIServer:
    def __init__(self, ctx: APIContext, security: Security | None, server_address: str) -> None:
        self.ctx = ctx
        self.security = security
        self.server_address = server_address
        self.ready = False

    def application(self) -> web.Application:
        app = web.Application(client_max_size=0, middlewares=[self._errors])
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            return await handler(request)
        except APIError as exc:
            response = json_response(exc.status(), status=exc.code)
            response.headers.update(exc.headers)
            return response
        except StoreUnavailableError as exc:
            log.warning("store unavailable method=%s path=%s error=%s", request.method, request.path, exc)
            return json_response(status_body(503, "ServiceUnavailable", f"the store is unavailable: {exc}"), status=503)
        except web.HTTPException:
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("request failed method=%s path=%s", request.method, request.path)
            message = f"an internal error occurred while serving {request.method} {request.path}; see the API server log"
            return json_response(status_body(500, "InternalError", message), status=500)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        path = request.path
        info = parse_resource_path(path)
        verb = request_verb(request, info)
        label = info.resource.qualified if info else "-"
        code = 500
        try:
            user = self.security.user_of(request) if self.security else None
            if user is not None:
                request[csr_strategy.USER_KEY] = user
            if self.security is not None and user is not None:
                if not (info is None and path.rstrip("/") in ANONYMOUS_PATHS):
                    self.security.check(request, user, info, verb)
            if info is None:
                response = await self._non_resource(request, path)
            else:
                response = await self._resource(info, verb, request)
            code = response.status
            return response
        except APIError as exc:
            code = exc.code
            raise
        finally:
            REQUESTS.labels(verb, label, str(code)).inc()
            if verb != "watch":
                LATENCY.labels(verb, label).observe(time.perf_counter() - started)

    async def _resource(self, info: RequestInfo, verb: str, request: web.Request) -> web.StreamResponse:
        await self.ctx.cache(info.resource).ready.wait()
        handler = self._resource_handler(info, verb)
        if verb == "watch":
            gauge = WATCHERS.labels(info.resource.qualified)
            gauge.inc()
            try:
                return await handler(self.ctx, info, request)
            finally:
                gauge.dec()
        return await handler(self.ctx, info, request)

    def _resource_handler(self, info: RequestInfo, verb: str) -> Handler:
        sub = info.subresource
        if verb == "watch":
            return read.watch
        if sub == "binding" and verb == "create":
            return subresources.create_binding
        if sub == "eviction" and verb == "create":
            return subresources.create_eviction
        if sub == "finalize" and verb == "update":
            return subresources.update_finalize
        if sub == "log" and verb == "get":
            return pod_logs.get_log
        if sub in ("binding", "eviction", "finalize") or (sub == "log" and verb != "get"):
            raise method_not_allowed(verb, f"{info.resource.plural}/{sub}")
        handlers: dict[str, Handler] = {
            "get": read.get,
            "list": read.list_objects,
            "create": write.create,
            "update": write.update,
            "patch": write.patch,
            "delete": write.delete,
            "deletecollection": write.delete,
        }
        handler = handlers.get(verb)
        if handler is None:
            raise method_not_allowed(verb, info.resource.plural)
        return handler

    async def _non_resource(self, request: web.Request, path: str) -> web.StreamResponse:
        path = path.rstrip("/") or "/"
        if path in ("/healthz", "/livez") or path.startswith(("/healthz/", "/livez/")):
            return web.Response(text="ok")
        if path == "/readyz" or path.startswith("/readyz/"):
            if not self.ready:
                return web.Response(text="not ready: the watch caches are loading", status=503)
            return web.Response(text="ok")
        if request.method != "GET":
            raise not_found_path(path)
        if path == "/version":
            return json_response(version_info())
        if path == "/metrics":
            return web.Response(body=prometheus_client.generate_latest(REGISTRY), content_type="text/plain")
        if path in ("/api", "/apis"):
            aggregated = discovery.aggregated_version_requested(request.headers.get("Accept", ""))
            if aggregated is not None:
                body = discovery.aggregated_discovery(path == "/api", aggregated)
                return web.Response(body=orjson.dumps(body), headers={"Content-Type": aggregated})
            if path == "/api":
                return json_response(discovery.api_versions(self.server_address))
            return json_response(discovery.api_group_list())
        if path.startswith("/openapi/"):
            return openapi_response(request, path)
        parts = path.strip("/").split("/")
        document: Any = None
        if parts[0] == "api" and len(parts) == 2:
            document = discovery.api_resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            document = discovery.api_group(parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            document = discovery.api_resource_list(parts[1], parts[2])
        if document is None:
            raise not_found_path(path)
        return json_response(document)


def openapi_response(request: web.Request, path: str) -> web.StreamResponse:
    """Serve the OpenAPI documents from their cached encodings."""
    accept = request.headers.get("Accept", "")
    if path == "/openapi/v2":
        if any(kind in accept for kind in openapi.V2_PROTOBUF_ACCEPT_TYPES):
            return web.Response(
                body=openapi.openapi_v2_protobuf(), headers={"Content-Type": openapi.V2_PROTOBUF_CONTENT_TYPE}
            )
        return web.Response(body=openapi.openapi_v2_json(), content_type="application/json")
    if path == "/openapi/v3":
        return json_response(openapi.openapi_v3_index())
    prefix = "/openapi/v3/"
    if path.startswith(prefix):
        parts = path[len(prefix):].split("/")
        group_version: tuple[str, str] | None = None
        if parts[0] == "api" and len(parts) == 2:
            group_version = ("", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            group_version = (parts[1], parts[2])
        if group_version is not None:
            try:
                body = openapi.openapi_v3_json(*group_version)
            except LookupError:
                raise not_found_path(path) from None
            return web.Response(body=body, content_type="application/json")
    raise not_found_path(path)


def default_admission() -> list[Plugin]:
    """Return the admission chain in Kubernetes' order.

    The quota plugin stays last because it charges usage that only a
    successful write may keep.
    """
    return [admit_namespace_lifecycle, admit_limit_ranger, admit_priority, admit_service_ips, admit_resource_quota]

