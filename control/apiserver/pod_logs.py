"""The pods/log subresource: validate the request, find the pod's node, and stream the agent's response.

``GET /api/v1/namespaces/{ns}/pods/{name}/log`` takes container, follow,
previous, timestamps, tailLines, sinceSeconds, sinceTime and limitBytes, as
kube-apiserver does. The container may be left out only when the pod has
one. The node's address is its InternalIP, else its Hostname, and the port
is ``status.daemonEndpoints.kubeletEndpoint.Port``. The request goes to the
agent's ``/containerLogs`` over HTTPS with the API server's own client
certificate (``auth/kubelet_client.py``), and the body is copied to the
client as it arrives, so ``kubectl logs -f`` streams. When the pod status
already shows that there is no log (a container waiting for its first
start, or no terminated run for ``previous``), the request fails here with
the kubelet's message and never reaches the agent.

Differences from Kubernetes: a pod without a node is a 400 error, where
kube-apiserver returns an empty log, and the node address types tried are
fixed (kube-apiserver's --kubelet-preferred-address-types).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import urllib.parse
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from pykube_control.apiserver import resources
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.request_info import RequestInfo
from pykube_control.apiserver.status import APIError, bad_request

log = logging.getLogger("pykube.apiserver")

Object = dict[str, Any]

CONNECT_TIMEOUT = 10.0
"""Seconds to reach a node agent before the request fails with 503."""

DISCONNECT_CHECK_INTERVAL = 1.0
"""Seconds between checks that a following client is still connected while the agent sends nothing."""

PASSED_PARAMETERS = ("follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes")

ADDRESS_TYPES = ("InternalIP", "Hostname")


async def get_log(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    """Stream the log of one container of a pod from its node's agent."""
    assert info.name is not None and info.namespace is not None
    query = request.query
    _validate(info.name, query)
    pod, _ = await ctx.read(info.resource, info.namespace, info.name)
    container = choose_container(pod, query.get("container", ""))
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise bad_request(f"pod {info.name} does not have a host assigned; wait until it is scheduled to a node")
    _check_container_state(pod, container, query.get("previous", "") in ("true", "1"))
    url = await _agent_url(ctx, node_name, info.namespace, info.name, container, query)
    client_context = ctx.kubelet_client_ssl
    if client_context is None:
        raise APIError(503, "ServiceUnavailable", "this API server has no CA (it runs with --insecure), so it cannot authenticate to node agents")
    return await _proxy(request, url, client_context, info.name)


def choose_container(pod: Object, requested: str) -> str:
    """Return the requested container, or the only one; raise 400 as kube-apiserver does otherwise."""
    spec = pod.get("spec") or {}
    name = (pod.get("metadata") or {}).get("name")
    containers = [str(c.get("name")) for c in spec.get("containers") or []]
    init_containers = [str(c.get("name")) for c in spec.get("initContainers") or []]
    ephemeral = [str(c.get("name")) for c in spec.get("ephemeralContainers") or []]
    if not requested:
        if len(containers) == 1:
            return containers[0]
        message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        if init_containers:
            message += f" or one of the init containers: [{' '.join(init_containers)}]"
        raise bad_request(message)
    if requested not in (*containers, *init_containers, *ephemeral):
        raise bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def _check_container_state(pod: Object, container: str, previous: bool) -> None:
    """Raise 400 with the kubelet's message when the pod status shows no log to read yet.

    A container without a status entry (an agent that has not reported) is
    passed on to the agent, which then decides.
    """
    status = pod.get("status") or {}
    name = (pod.get("metadata") or {}).get("name")
    entries = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    entry = next((e for e in entries if e.get("name") == container), None)
    if entry is None:
        return
    if previous:
        if not (entry.get("lastState") or {}).get("terminated"):
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        return
    waiting = (entry.get("state") or {}).get("waiting")
    if waiting and not (entry.get("lastState") or {}).get("terminated"):
        reason = waiting.get("reason") or "ContainerCreating"
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def _validate(name: str, query: Mapping[str, str]) -> None:
    minimums = {"tailLines": 0, "sinceSeconds": 1, "limitBytes": 1}
    for field, minimum in minimums.items():
        text = query.get(field)
        if text is None:
            continue
        try:
            value = int(text)
        except ValueError:
            raise bad_request(f"invalid {field} {text!r}: expected an integer") from None
        if value < minimum:
            bound = "greater than or equal to 0" if minimum == 0 else "greater than 0"
            raise APIError(422, "Invalid", f'PodLogOptions "{name}" is invalid: {field}: Invalid value: {value}: must be {bound}')
    if query.get("sinceSeconds") and query.get("sinceTime"):
        raise APIError(422, "Invalid", f'PodLogOptions "{name}" is invalid: sinceSeconds: Forbidden: at most one of sinceTime or sinceSeconds may be specified')


async def _agent_url(
    ctx: APIContext, node_name: str, namespace: str, pod: str, container: str, query: Mapping[str, str]
) -> str:
    nodes = resources.by_plural("", "v1", "nodes")
    assert nodes is not None
    node, _ = await ctx.read(nodes, None, node_name)
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = next((addresses[kind] for kind in ADDRESS_TYPES if addresses.get(kind)), None)
    if not port or not host:
        raise APIError(
            503, "ServiceUnavailable",
            f'node "{node_name}" reports no agent endpoint (status.addresses and daemonEndpoints.kubeletEndpoint.Port); '
            "is its node agent running?",
        )
    if ":" in host:
        host = f"[{host}]"
    path = "/".join(urllib.parse.quote(part, safe="") for part in ("containerLogs", namespace, pod, container))
    parameters = {key: query[key] for key in PASSED_PARAMETERS if key in query}
    encoded = urllib.parse.urlencode(parameters)
    return f"https://{host}:{port}/{path}" + (f"?{encoded}" if encoded else "")


async def _proxy(request: web.Request, url: str, client_context: ssl.SSLContext, pod: str) -> web.StreamResponse:
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_connect=CONNECT_TIMEOUT)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url, ssl=client_context) as upstream:
            if upstream.status != 200:
                raise _agent_error(upstream.status, await upstream.text(), pod)
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            await _copy(request, upstream, response)
            return response
    except aiohttp.ClientConnectionError as error:
        log.warning("node agent unreachable url=%s error=%s", url.split("?")[0], error)
        raise APIError(503, "ServiceUnavailable", f"cannot reach the node agent for pod {pod}: {error}") from None


async def _copy(request: web.Request, upstream: aiohttp.ClientResponse, response: web.StreamResponse) -> None:
    while True:
        try:
            chunk = await asyncio.wait_for(upstream.content.readany(), DISCONNECT_CHECK_INTERVAL)
        except TimeoutError:
            if request.transport is None or request.transport.is_closing():
                return
            continue
        if not chunk:
            await response.write_eof()
            return
        try:
            await response.write(chunk)
        except ConnectionResetError:
            return


def _agent_error(status: int, text: str, pod: str) -> APIError:
    message = text.strip() or f"node agent responded with status {status}"
    if status == 400:
        return bad_request(message)
    if status == 404:
        return APIError(404, "NotFound", message)
    if status in (401, 403):
        return APIError(500, "InternalError", f"node agent rejected the API server's client certificate: {message}")
    return APIError(status if status >= 500 else 500, "InternalError", f"node agent failed for pod {pod}: {message}")
