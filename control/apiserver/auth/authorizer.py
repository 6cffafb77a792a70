"""Authorization: the chain of authorizers and the 403 message Kubernetes clients expect.

Authorizers run in order and the first ALLOW or DENY decides; when all have
no opinion the request is denied. The default chain is system:masters, the
public and discovery paths, the node authorizer, then the bootstrap grants
(bootstrap_policy.py); RBAC will be appended as one more Authorizer.

A denial's reason is Kubernetes' sentence naming the user, verb and
resource (``User "system:node:n1" cannot delete resource "pods" in API
group "" in the namespace "default"``), followed by ": " and the
authorizers' own reasons joined by newlines when there are any.
``forbidden_message`` prefixes the object, giving the full message of the
403 Status.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from pykube_control.apiserver.auth.attributes import Authorizer, Outcome, RequestAttributes
from pykube_control.apiserver.auth.bootstrap_policy import BootstrapperAuthorizer, ClusterInfoAuthorizer
from pykube_control.apiserver.auth.node_authorizer import NodeAuthorizer, NodeGraph
from pykube_control.apiserver.auth.static_policy import MastersAuthorizer, PathAuthorizer

logger = logging.getLogger("pykube.apiserver")


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """The chain's decision; ``reason`` is the denial text after "is forbidden: ", "" when allowed."""

    allowed: bool
    reason: str = ""


class AuthorizerChain:
    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self._authorizers = tuple(authorizers)

    def decide(self, attributes: RequestAttributes) -> Decision:
        reasons: list[str] = []
        for authorizer in self._authorizers:
            opinion = authorizer.authorize(attributes)
            if opinion.outcome is Outcome.ALLOW:
                return Decision(True)
            if opinion.reason:
                reasons.append(opinion.reason)
            if opinion.outcome is Outcome.DENY:
                return self._deny(attributes, [opinion.reason] if opinion.reason else [])
        return self._deny(attributes, reasons)

    @staticmethod
    def _deny(attributes: RequestAttributes, reasons: list[str]) -> Decision:
        reason = denial_sentence(attributes)
        if reasons:
            reason += ": " + "\n".join(reasons)
        logger.debug(
            "denied user=%s verb=%s resource=%s namespace=%s name=%s path=%s",
            attributes.user.name,
            attributes.verb,
            _resource_with_subresource(attributes),
            attributes.namespace,
            attributes.name,
            attributes.path,
        )
        return Decision(False, reason)


def default_chain(graph: NodeGraph) -> AuthorizerChain:
    return AuthorizerChain(
        [
            MastersAuthorizer(),
            PathAuthorizer(),
            NodeAuthorizer(graph),
            BootstrapperAuthorizer(),
            ClusterInfoAuthorizer(),
        ]
    )


def authorize(attributes: RequestAttributes, graph: NodeGraph) -> Decision:
    """Decide a request with the default chain; ``graph`` returns the node authorizer's pod relations."""
    return default_chain(graph).decide(attributes)


def _resource_with_subresource(attributes: RequestAttributes) -> str:
    if attributes.subresource:
        return f"{attributes.resource}/{attributes.subresource}"
    return attributes.resource


def denial_sentence(attributes: RequestAttributes) -> str:
    """Return Kubernetes' sentence for a denied request, without the authorizers' reasons."""
    user = attributes.user.name
    if not attributes.is_resource_request:
        return f'User "{user}" cannot {attributes.verb} path "{attributes.path}"'
    resource = _resource_with_subresource(attributes)
    where = f'in the namespace "{attributes.namespace}"' if attributes.namespace else "at the cluster scope"
    return f'User "{user}" cannot {attributes.verb} resource "{resource}" in API group "{attributes.api_group}" {where}'


def forbidden_message(attributes: RequestAttributes, decision: Decision) -> str:
    """Return the message of the 403 Status for a denied request, as Kubernetes words it.

    ``pods "web-1" is forbidden: <reason>`` for a named object,
    ``deployments.apps is forbidden: <reason>`` without a name, and
    ``forbidden: <reason>`` for a non-resource path.
    """
    if not attributes.is_resource_request:
        return f"forbidden: {decision.reason}"
    qualified = attributes.resource
    if attributes.api_group:
        qualified += "." + attributes.api_group
    if attributes.name:
        return f'{qualified} "{attributes.name}" is forbidden: {decision.reason}'
    return f"{qualified} is forbidden: {decision.reason}"
