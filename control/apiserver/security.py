"""Authentication and authorization of each request, wired to the server's caches.

The auth package decides; this module gathers what it needs from a request
(headers, the TLS peer certificate, the parsed path) and answers the node
authorizer's questions about pods from the watch caches.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from pykube_core.fields import FieldSelector, parse_field_selector

from pykube_control.apiserver import resources, storage
from pykube_control.apiserver.auth.attributes import RequestAttributes
from pykube_control.apiserver.auth.authorizer import AuthorizerChain, default_chain, forbidden_message
from pykube_control.apiserver.auth.identity import (
    ANONYMOUS,
    AuthenticationError,
    TokenAuthenticator,
    UserInfo,
    authenticate,
    request_peer_certificate,
)
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.request_info import RequestInfo
from pykube_control.apiserver.status import APIError, forbidden, unauthorized

log = logging.getLogger("pykube.apiserver")

PODS = resources.by_plural("", "v1", "pods")
assert PODS is not None
SECRETS = resources.by_plural("", "v1", "secrets")

VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


class CacheNodeGraph:
    """Pod-to-node relations for the node authorizer, read from the watch caches."""

    def __init__(self, ctx: APIContext) -> None:
        self._ctx = ctx

    def pod_is_bound(self, namespace: str, name: str, node: str) -> bool:
        assert PODS is not None
        cached = self._ctx.cache(PODS).objects.get(storage.object_key(PODS, namespace, name))
        return cached is not None and (cached[0].get("spec") or {}).get("nodeName") == node

    def is_referenced(self, resource: str, namespace: str, name: str, node: str) -> bool:
        for pod in self._pods_on(node):
            if resource != "persistentvolumes" and pod["metadata"].get("namespace") != namespace:
                continue
            if name in _references(pod, resource):
                return True
        return False

    def _pods_on(self, node: str) -> list[dict[str, Any]]:
        assert PODS is not None
        return [obj for obj, _ in self._ctx.cache(PODS).objects.values() if (obj.get("spec") or {}).get("nodeName") == node]


class CacheSecrets:
    """kube-system Secrets by name from the watch cache, for bootstrap token authentication."""

    def __init__(self, ctx: APIContext, namespace: str = "kube-system") -> None:
        self._ctx = ctx
        self._namespace = namespace

    def __call__(self, name: str) -> tuple[dict[str, Any], str] | None:
        assert SECRETS is not None
        cached = self._ctx.cache(SECRETS).objects.get(storage.object_key(SECRETS, self._namespace, name))
        if cached is None:
            return None
        obj = cached[0]
        return obj, str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _references(pod: dict[str, Any], resource: str) -> set[str]:
    spec = pod.get("spec") or {}
    names: set[str] = set()
    if resource == "serviceaccounts":
        names.add(spec.get("serviceAccountName") or "default")
    for volume in spec.get("volumes") or []:
        if resource == "secrets" and "secret" in volume:
            names.add(volume["secret"].get("secretName", ""))
        if resource == "configmaps" and "configMap" in volume:
            names.add(volume["configMap"].get("name", ""))
        if resource == "persistentvolumeclaims" and "persistentVolumeClaim" in volume:
            names.add(volume["persistentVolumeClaim"].get("claimName", ""))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if resource == "secrets" and "secret" in source:
                names.add(source["secret"].get("name", ""))
            if resource == "configmaps" and "configMap" in source:
                names.add(source["configMap"].get("name", ""))
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {})
            if resource == "secrets" and "secretKeyRef" in ref:
                names.add(ref["secretKeyRef"].get("name", ""))
            if resource == "configmaps" and "configMapKeyRef" in ref:
                names.add(ref["configMapKeyRef"].get("name", ""))
        for source in container.get("envFrom") or []:
            if resource == "secrets" and "secretRef" in source:
                names.add(source["secretRef"].get("name", ""))
            if resource == "configmaps" and "configMapRef" in source:
                names.add(source["configMapRef"].get("name", ""))
    if resource == "secrets":
        names.update(s.get("name", "") for s in spec.get("imagePullSecrets") or [])
    return names


class Security:
    """Authenticates and authorizes requests; see the module docstring."""

    def __init__(self, ctx: APIContext, tokens: TokenAuthenticator, chain: AuthorizerChain | None = None) -> None:
        self._tokens = tokens
        self._chain = chain or default_chain(CacheNodeGraph(ctx))

    def user_of(self, request: web.Request) -> UserInfo:
        try:
            user = authenticate(request.headers, request_peer_certificate(request), tokens=self._tokens)
        except AuthenticationError as exc:
            log.info("authentication failed remote=%s error=%s", request.remote, exc)
            raise unauthorized() from None
        return user or ANONYMOUS

    def check(self, request: web.Request, user: UserInfo, info: RequestInfo | None, verb: str) -> None:
        """Raise 401 or 403 unless ``user`` may make this request."""
        attributes = attributes_of(request, user, info, verb)
        decision = self._chain.decide(attributes)
        if decision.allowed:
            return
        if user is ANONYMOUS:
            raise unauthorized()
        raise forbidden(forbidden_message(attributes, decision), info.resource if info else None, attributes.name)


def request_verb(request: web.Request, info: RequestInfo | None) -> str:
    """Return the Kubernetes verb of a request: get, list, watch, create, update, patch, delete, deletecollection."""
    if info is None:
        return request.method.lower()
    if request.method == "GET":
        if info.legacy_watch or request.query.get("watch") in ("1", "true", "True"):
            return "watch"
        return "get" if info.name is not None else "list"
    if request.method == "DELETE" and info.name is None:
        return "deletecollection"
    return VERBS.get(request.method, request.method.lower())


def attributes_of(request: web.Request, user: UserInfo, info: RequestInfo | None, verb: str) -> RequestAttributes:
    if info is None:
        return RequestAttributes(user=user, verb=verb, path=request.path)
    selector: FieldSelector | None = None
    name = info.name or ""
    text = request.query.get("fieldSelector", "")
    if text:
        try:
            selector = parse_field_selector(text, _any_fields(text))
        except ValueError:
            selector = None
        if selector is not None and not name:
            name = selector.requires_exact_match("metadata.name") or ""
    return RequestAttributes(
        user=user,
        verb=verb,
        api_group=info.group,
        resource=info.resource.plural,
        subresource=info.subresource or "",
        namespace=info.namespace or "",
        name=name,
        field_selector=selector,
    )


def _any_fields(text: str) -> list[str]:
    """Return the field names used in a selector, so parsing never rejects a name here."""
    names = []
    for term in text.split(","):
        for operator in ("!=", "==", "="):
            if operator in term:
                names.append(term.split(operator, 1)[0].strip())
                break
    return names


__all__ = ["APIError", "Security", "request_verb"]
