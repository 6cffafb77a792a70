"""The CSR signing controller: issue certificates for approved kubelet client requests with the cluster CA.

The controller handles each CertificateSigningRequest of signer
kubernetes.io/kube-apiserver-client-kubelet that is Approved, not Denied
or Failed, and has no certificate yet. It checks the request against the
signer's rules again, because an administrator may have approved a
request that does not fit. Then it writes ``status.certificate``: a
certificate with the request's subject and public key, the usages of
``spec.usages``, valid for ``spec.expirationSeconds`` or the signing
duration, whichever is shorter. A request that does not fit gets the
condition Failed with reason SignerValidationFailure.

The CA comes from the files given to the controller manager with
``--cluster-signing-cert-file`` and ``--cluster-signing-key-file`` (the
data directory's pki/ca.crt and pki/ca.key under `pykube up`). Without
them the controller logs a warning and signs nothing, as
kube-controller-manager skips its signer then.

Differences from Kubernetes 1.32: only this one signer is served; the CA
files are read once at start, not reloaded when they change.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import logging
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pykube_control.client.api import APIClient
from pykube_control.client.indexer import Object
from pykube_control.client.informer import Informer
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.csrapproving import CERTIFICATE_SIGNING_REQUESTS, condition_types, decoded_request
from pykube_control.pki.csr import KUBELET_CLIENT_SIGNER, InvalidRequestError, kubelet_client_problems, load_request
from pykube_control.pki.issue import sign_request

log = logging.getLogger("pykube.controllers.csrsigning")

SIGNING_DURATION = datetime.timedelta(days=365)
"""Maximum lifetime of an issued certificate, kube-controller-manager's --cluster-signing-duration default."""

FAILED_REASON = "SignerValidationFailure"


@dataclasses.dataclass(frozen=True, slots=True)
class SigningCA:
    """The CA certificate and key that sign approved requests."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def load_signing_ca(certificate_file: Path, key_file: Path) -> SigningCA:
    """Read the CA files; raise ValueError naming the file that is unreadable or not the expected PEM."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    except (OSError, ValueError) as error:
        raise ValueError(f"--cluster-signing-cert-file {certificate_file}: not a readable PEM certificate ({error})") from error
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(f"--cluster-signing-key-file {key_file}: not a readable unencrypted PEM key ({error})") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"--cluster-signing-key-file {key_file}: is a {type(key).__name__}; pass the ECDSA CA key pykube writes")
    if key.public_key() != certificate.public_key():
        raise ValueError(f"--cluster-signing-key-file {key_file}: does not match the certificate {certificate_file}")
    return SigningCA(certificate, key)


class CSRSigningController:
    """Signs approved kubelet client CSRs with the cluster CA."""

    name = "csrsigning"

    def __init__(self, context: ControllerContext, *, duration: datetime.timedelta = SIGNING_DURATION) -> None:
        self._client: APIClient = context.client
        self._requests: Informer = context.informers.get(CERTIFICATE_SIGNING_REQUESTS)
        self._queue: WorkQueue[str] = WorkQueue("csrsigning")
        self._duration = duration
        self._ca: SigningCA | None = None
        files = context.cluster_signing_files
        if files is not None:
            self._ca = load_signing_ca(*files)
        self._requests.add_handlers(on_add=self._on_add, on_update=self._on_update)

    async def run(self, workers: int) -> None:
        if self._ca is None:
            log.warning(
                "csrsigning signs nothing: no CA given; pass --cluster-signing-cert-file and --cluster-signing-key-file"
            )
            self._queue.shutdown()
            # Stay running like the other controllers, so the manager does not read an early return as a stop.
            await asyncio.Event().wait()
            return
        try:
            await run_workers(self._queue, workers, self.sync)
        finally:
            self._queue.shutdown()

    async def _on_add(self, csr: Object) -> None:
        self._queue.add(str(csr["metadata"]["name"]))

    async def _on_update(self, old: Object, new: Object) -> None:
        await self._on_add(new)

    async def sync(self, name: str) -> None:
        """Sign CSR ``name`` when it is approved, unsigned and for the kubelet client signer."""
        csr = self._requests.store.get(name)
        if csr is None or self._ca is None:
            return
        spec = csr.get("spec") or {}
        states = condition_types(csr)
        if spec.get("signerName") != KUBELET_CLIENT_SIGNER or (csr.get("status") or {}).get("certificate"):
            return
        if "Approved" not in states or states & {"Denied", "Failed"}:
            return
        usages = [str(usage) for usage in spec.get("usages") or []]
        pem = decoded_request(csr)
        try:
            request = load_request(pem or b"")
        except InvalidRequestError as error:
            await self._fail(csr, str(error))
            return
        problems = kubelet_client_problems(request, usages)
        if problems:
            await self._fail(csr, "; ".join(problems))
            return
        certificate = sign_request(request, usages, self._ca.certificate, self._ca.key, self._lifetime(spec))
        encoded = base64.b64encode(certificate.public_bytes(serialization.Encoding.PEM)).decode("ascii")
        await self._client.patch(CERTIFICATE_SIGNING_REQUESTS, name, {"status": {"certificate": encoded}}, subresource="status")
        log.info("signed certificate signing request name=%s subject=%s not_after=%s",
                 name, request.subject.rfc4514_string(), certificate.not_valid_after_utc.isoformat())  # fmt: skip

    def _lifetime(self, spec: Object) -> datetime.timedelta:
        seconds = spec.get("expirationSeconds")
        if isinstance(seconds, int) and not isinstance(seconds, bool):
            return min(self._duration, datetime.timedelta(seconds=seconds))
        return self._duration

    async def _fail(self, csr: Object, message: str) -> None:
        name = csr["metadata"]["name"]
        conditions = list((csr.get("status") or {}).get("conditions") or [])
        conditions.append({"type": "Failed", "status": "True", "reason": FAILED_REASON, "message": message})
        await self._client.patch(
            CERTIFICATE_SIGNING_REQUESTS, name, {"status": {"conditions": conditions}}, subresource="status"
        )
        log.warning("failed certificate signing request name=%s reason=%s", name, message)


def new_csrsigning_controller(context: ControllerContext) -> CSRSigningController:
    return CSRSigningController(context)
