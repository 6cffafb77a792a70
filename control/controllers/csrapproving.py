"""The CSR approving controller: approve node agents' first client certificate requests.

A joining machine authenticates with a bootstrap token and creates a
CertificateSigningRequest for signer kubernetes.io/kube-apiserver-client-kubelet.
This controller adds the condition Approved (reason AutoApproved) to such a
request when both conditions are met. First, the requester is in
system:bootstrappers, which ``spec.groups`` shows because the API server
fills it in from the authenticated user. Second, the request fits the
signer: CN ``system:node:<name>``, O exactly ``system:nodes``, no
subject alternative names, usages "digital signature" and "client auth"
with "key encipherment" optional. Any other request is left pending for an
administrator (`kubectl certificate approve`).

Differences from Kubernetes 1.32: the decision reads the requester's
groups instead of sending a SubjectAccessReview for
``certificatesigningrequests/nodeclient``, and renewals by a node itself
(``selfnodeclient``) are not approved.
"""

from __future__ import annotations

import base64
import binascii
import logging

from pykube_control.client.api import APIClient
from pykube_control.client.indexer import Object
from pykube_control.client.informer import Informer
from pykube_control.client.resource import resource_for
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.pki.csr import KUBELET_CLIENT_SIGNER, InvalidRequestError, kubelet_client_problems, load_request

log = logging.getLogger("pykube.controllers.csrapproving")

CERTIFICATE_SIGNING_REQUESTS = resource_for("certificates.k8s.io", "v1", "certificatesigningrequests")
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
APPROVED_REASON = "AutoApproved"
APPROVED_MESSAGE = "Auto approving node client certificate requested with a bootstrap token."


def condition_types(csr: Object) -> set[str]:
    """Return the types of the request's conditions whose status is True."""
    conditions = (csr.get("status") or {}).get("conditions") or []
    return {str(c.get("type")) for c in conditions if isinstance(c, dict) and c.get("status") == "True"}


def decoded_request(csr: Object) -> bytes | None:
    """Return the PEM of spec.request, or None when it is not valid base64."""
    try:
        return base64.b64decode(str((csr.get("spec") or {}).get("request") or ""), validate=True)
    except (binascii.Error, ValueError):
        return None


def approval_refusal(csr: Object) -> str | None:
    """Return why the request is not auto-approved, or None when it should be."""
    spec = csr.get("spec") or {}
    if spec.get("signerName") != KUBELET_CLIENT_SIGNER:
        return f"signer {spec.get('signerName')!r} is not {KUBELET_CLIENT_SIGNER}"
    if BOOTSTRAPPERS_GROUP not in (spec.get("groups") or []):
        return f"requester {spec.get('username')!r} is not in group {BOOTSTRAPPERS_GROUP}"
    pem = decoded_request(csr)
    if pem is None:
        return "spec.request is not valid base64"
    try:
        request = load_request(pem)
    except InvalidRequestError as error:
        return str(error)
    problems = kubelet_client_problems(request, list(spec.get("usages") or []))
    return "; ".join(problems) if problems else None


class CSRApprovingController:
    """Approves kubelet client CSRs from bootstrap token users."""

    name = "csrapproving"

    def __init__(self, context: ControllerContext) -> None:
        self._client: APIClient = context.client
        self._requests: Informer = context.informers.get(CERTIFICATE_SIGNING_REQUESTS)
        self._queue: WorkQueue[str] = WorkQueue("csrapproving")
        self._requests.add_handlers(on_add=self._on_add, on_update=self._on_update)

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self._queue, workers, self.sync)
        finally:
            self._queue.shutdown()

    async def _on_add(self, csr: Object) -> None:
        self._queue.add(str(csr["metadata"]["name"]))

    async def _on_update(self, old: Object, new: Object) -> None:
        await self._on_add(new)

    async def sync(self, name: str) -> None:
        """Approve CSR ``name`` when it is pending and fits the rules in the module docstring."""
        csr = self._requests.store.get(name)
        if csr is None or condition_types(csr) & {"Approved", "Denied", "Failed"}:
            return
        if (csr.get("status") or {}).get("certificate"):
            return
        refusal = approval_refusal(csr)
        if refusal is not None:
            log.info("left certificate signing request pending name=%s reason=%s", name, refusal)
            return
        conditions = list((csr.get("status") or {}).get("conditions") or [])
        conditions.append({"type": "Approved", "status": "True", "reason": APPROVED_REASON, "message": APPROVED_MESSAGE})
        patch = {"metadata": {"resourceVersion": csr["metadata"]["resourceVersion"]}, "status": {"conditions": conditions}}
        await self._client.patch(CERTIFICATE_SIGNING_REQUESTS, name, patch, subresource="approval")
        log.info("approved certificate signing request name=%s requester=%s", name, (csr.get("spec") or {}).get("username"))


def new_csrapproving_controller(context: ControllerContext) -> CSRApprovingController:
    return CSRApprovingController(context)
