"""The Deployment controller: roll a pod template out through ReplicaSets.

Each Deployment owns ReplicaSets named "<deployment>-<pod-template-hash>".
The one whose template equals the Deployment's (ignoring the hash label)
is the new ReplicaSet and every other one is old. One sync, from the
informers' caches:

1. Claim ReplicaSets (adopt matching orphans, release ones that stopped
   matching), find the new one and give it the next revision. This also
   covers a rollback, because ``kubectl rollout undo`` writes an old
   template back and the old ReplicaSet becomes the new one again.
2. A paused Deployment, or one whose replicas changed, only scales: a
   single active ReplicaSet takes the new size, otherwise the change is
   shared proportionally among the active ReplicaSets, as Kubernetes does.
3. Otherwise roll out. RollingUpdate scales the new ReplicaSet up within
   maxSurge and old ones down while at least replicas - maxUnavailable pods
   stay available. Recreate scales old ReplicaSets to 0, waits until their
   pods are gone, then creates or scales the new one.
4. Once complete, delete old ReplicaSets with 0 replicas beyond
   revisionHistoryLimit, and write status with the Available and
   Progressing conditions that ``kubectl rollout status`` reads.

Differences from Kubernetes: the pod-template-hash values differ (see
``deployment_util.template_hash``), no FoundNewReplicaSet condition and no
revision-history annotation are written, and the deprecated
spec.rollbackTo field is ignored because kubectl rolls back client-side.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.labels import Selector, selector_from_label_selector

from pykube_control.client.errors import AlreadyExists, NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.indexer import BY_NAMESPACE, BY_OWNER_UID, object_key, split_key
from pykube_control.client.informer import Informer
from pykube_control.client.resource import DEPLOYMENTS, PODS, REPLICA_SETS
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers import deployment_util as util
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.replicaset_util import (
    Object,
    controller_ref,
    is_being_deleted,
    labels_of,
    metadata,
    owner_reference,
)

log = logging.getLogger("pykube.controllers")


def _created_order(rs: Object) -> tuple[str, str]:
    return (str(metadata(rs).get("creationTimestamp") or ""), str(metadata(rs).get("name") or ""))


class DeploymentController:
    """Rolls Deployments out through ReplicaSets; see the module docstring."""

    name = "deployment"

    def __init__(self, context: ControllerContext) -> None:
        self.client = context.client
        self.recorder: EventRecorder = context.recorder("deployment-controller")
        self.queue: WorkQueue[str] = WorkQueue("deployment")
        self.deployments: Informer = context.informers.get(DEPLOYMENTS)
        self.replica_sets: Informer = context.informers.get(REPLICA_SETS)
        self.pods: Informer = context.informers.get(PODS)
        self.deployments.add_handlers(
            on_add=self._deployment_added, on_update=self._deployment_updated, on_delete=self._deployment_deleted
        )
        self.replica_sets.add_handlers(
            on_add=self._replica_set_added, on_update=self._replica_set_updated, on_delete=self._replica_set_deleted
        )
        self.pods.add_handlers(on_delete=self._pod_deleted)

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self.queue, workers, self.sync)
        finally:
            self.queue.shutdown()

    # --- event handlers -----------------------------------------------------------------------

    async def _deployment_added(self, deployment: Object) -> None:
        self.queue.add(object_key(deployment))

    async def _deployment_updated(self, old: Object, new: Object) -> None:
        self.queue.add(object_key(new))

    async def _deployment_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        self.queue.add(object_key(obj))

    def _deployment_key_of(self, replica_set: Object) -> str | None:
        reference = controller_ref(replica_set)
        if reference is None or reference.get("kind") != "Deployment":
            return None
        key = f"{metadata(replica_set).get('namespace')}/{reference.get('name')}"
        deployment = self.deployments.store.get(key)
        if deployment is None or metadata(deployment).get("uid") != reference.get("uid"):
            return None
        return key

    def _enqueue_matching(self, replica_set: Object) -> None:
        namespace = str(metadata(replica_set).get("namespace") or "")
        for deployment in self.deployments.store.by_index(BY_NAMESPACE, namespace):
            if _selector(deployment).matches(labels_of(replica_set)):
                self.queue.add(object_key(deployment))

    async def _replica_set_added(self, replica_set: Object) -> None:
        key = self._deployment_key_of(replica_set)
        if key is not None:
            self.queue.add(key)
        elif controller_ref(replica_set) is None:
            self._enqueue_matching(replica_set)

    async def _replica_set_updated(self, old: Object, new: Object) -> None:
        if metadata(old).get("resourceVersion") == metadata(new).get("resourceVersion"):
            return
        old_key = self._deployment_key_of(old)
        new_key = self._deployment_key_of(new)
        if old_key is not None and old_key != new_key:
            self.queue.add(old_key)
        if new_key is not None:
            self.queue.add(new_key)
        elif controller_ref(new) is None:
            self._enqueue_matching(new)

    async def _replica_set_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        key = self._deployment_key_of(obj)
        if key is not None:
            self.queue.add(key)

    async def _pod_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        # Recreate waits for old pods to disappear, and that wait ends with a pod deletion.
        reference = controller_ref(obj)
        if reference is None or reference.get("kind") != "ReplicaSet":
            return
        replica_set = self.replica_sets.store.get(f"{metadata(obj).get('namespace')}/{reference.get('name')}")
        if replica_set is None:
            return
        key = self._deployment_key_of(replica_set)
        if key is not None:
            self.queue.add(key)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Reconcile one Deployment from the caches; raise to retry with back-off."""
        cached = self.deployments.store.get(key)
        if cached is None:
            return
        deployment = copy.deepcopy(cached)
        selector = _selector(deployment)
        if selector.empty or selector.matches_nothing:
            await self.recorder.record(deployment, "Warning", "SelectingAll",
                                       "This deployment is selecting all pods. A non-empty selector is required.")  # fmt: skip
            return
        namespace, _ = split_key(key)
        candidates = self.replica_sets.store.by_index(BY_NAMESPACE, namespace or "")
        replica_sets = await self._claim_replica_sets(deployment, selector, candidates)

        if is_being_deleted(deployment):
            await self._sync_status(deployment, replica_sets)
            return
        deployment = await self._sync_paused_condition(deployment)
        if (deployment.get("spec") or {}).get("paused") or self._is_scaling_event(deployment, replica_sets):
            await self._sync_scale(deployment, replica_sets)
            return
        if ((deployment.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
            await self._rollout_recreate(deployment, replica_sets)
        else:
            await self._rollout_rolling(deployment, replica_sets)

    async def _claim_replica_sets(self, deployment: Object, selector: Selector, candidates: list[Object]) -> list[Object]:
        uid = metadata(deployment).get("uid")
        deleting = is_being_deleted(deployment)
        claimed: list[Object] = []
        for replica_set in candidates:
            reference = controller_ref(replica_set)
            matches = selector.matches(labels_of(replica_set))
            if reference is not None and reference.get("uid") == uid:
                if matches or deleting:
                    claimed.append(replica_set)
                else:
                    await self._set_owner(replica_set, None, uid)
            elif reference is None and matches and not deleting and not is_being_deleted(replica_set):
                adopted = await self._set_owner(replica_set, deployment, None)
                if adopted is not None:
                    claimed.append(adopted)
        return claimed

    async def _set_owner(self, replica_set: Object, owner: Object | None, release_uid: Any) -> Object | None:
        """Adopt ``replica_set`` into ``owner``, or release it from ``release_uid`` when owner is None."""
        updated = copy.deepcopy(replica_set)
        meta = metadata(updated)
        references = [ref for ref in meta.get("ownerReferences") or [] if ref.get("uid") != release_uid]
        if owner is not None:
            references.append(owner_reference(owner))
        meta["ownerReferences"] = references
        try:
            result = await self.client.update(REPLICA_SETS, updated)
        except NotFound:
            return None
        log.info("replica set %s replica_set=%s", "adopted" if owner else "released", object_key(replica_set))
        return result

    def _is_scaling_event(self, deployment: Object, replica_sets: list[Object]) -> bool:
        wanted = str(util.replicas_of(deployment))
        for replica_set in replica_sets:
            if util.replicas_of(replica_set) <= 0:
                continue
            desired = (metadata(replica_set).get("annotations") or {}).get(util.DESIRED_REPLICAS)
            if desired is not None and desired != wanted:
                return True
        return False

    # --- the new ReplicaSet and revisions -------------------------------------------------------

    async def _new_and_old(
        self, deployment: Object, replica_sets: list[Object], create: bool
    ) -> tuple[Object | None, list[Object], Object]:
        """Return (new ReplicaSet or None, old ReplicaSets, Deployment), creating the new one when ``create``.

        The new ReplicaSet gets revision max(old revisions) + 1 and the
        Deployment gets the same revision annotation. The returned Deployment
        is the one to write status to, since its resourceVersion may change.
        """
        template = (deployment.get("spec") or {}).get("template") or {}
        matching = sorted(
            (rs for rs in replica_sets if util.templates_equal((rs.get("spec") or {}).get("template") or {}, template)),
            key=_created_order,
        )
        existing = matching[0] if matching else None
        old = [rs for rs in replica_sets if rs is not existing]
        revision = util.max_revision(old) + 1

        if existing is not None:
            new_set = await self._update_new_replica_set(deployment, existing, revision)
        elif create:
            new_set = await self._create_new_replica_set(deployment, old, revision)
        else:
            return None, old, deployment
        deployment = await self._set_deployment_revision(deployment, util.revision_of(new_set))
        return new_set, old, deployment

    async def _update_new_replica_set(self, deployment: Object, replica_set: Object, revision: int) -> Object:
        updated = copy.deepcopy(replica_set)
        annotations = metadata(updated).setdefault("annotations", {})
        if util.revision_of(updated) < revision:
            annotations[util.REVISION] = str(revision)
        # Replica annotations change only with the replicas (in _scale): the proportional
        # share of a scale change reads the size the set was last scaled for.
        min_ready = (deployment.get("spec") or {}).get("minReadySeconds", 0)
        updated.setdefault("spec", {})["minReadySeconds"] = min_ready
        if _same_spec_and_annotations(updated, replica_set):
            return replica_set
        return await self.client.update(REPLICA_SETS, updated)

    async def _create_new_replica_set(self, deployment: Object, old: list[Object], revision: int) -> Object:
        spec = deployment.get("spec") or {}
        collision_count = (deployment.get("status") or {}).get("collisionCount")
        hash_value = util.template_hash(spec.get("template") or {}, collision_count)

        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[util.POD_TEMPLATE_HASH] = hash_value
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[util.POD_TEMPLATE_HASH] = hash_value
        name = f"{metadata(deployment)['name']}-{hash_value}"

        replica_set: Object = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": metadata(deployment).get("namespace"),
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {util.REVISION: str(revision)},
                "ownerReferences": [owner_reference(deployment)],
            },
            "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds", 0),
                     "selector": selector, "template": template},
        }  # fmt: skip
        replica_set["spec"]["replicas"] = util.new_replica_set_replicas(deployment, old, replica_set)
        _set_replica_annotations(replica_set, deployment)

        try:
            created = await self.client.create(REPLICA_SETS, replica_set)
        except AlreadyExists:
            return await self._resolve_collision(deployment, name)
        replicas = util.replicas_of(created)
        log.info("replica set created deployment=%s replica_set=%s replicas=%d", object_key(deployment), name, replicas)
        if replicas > 0:
            await self.recorder.record(deployment, "Normal", "ScalingReplicaSet",
                                       f"Scaled up replica set {name} to {replicas}")  # fmt: skip
        return created

    async def _resolve_collision(self, deployment: Object, name: str) -> Object:
        """Return the existing ReplicaSet ``name`` when it is ours with our template, else raise collisionCount and retry."""
        existing = await self.client.get(REPLICA_SETS, name, namespace=metadata(deployment).get("namespace"))
        reference = controller_ref(existing)
        template = (deployment.get("spec") or {}).get("template") or {}
        if (
            reference is not None
            and reference.get("uid") == metadata(deployment).get("uid")
            and util.templates_equal((existing.get("spec") or {}).get("template") or {}, template)
        ):
            return existing
        status = dict(deployment.get("status") or {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        updated = copy.deepcopy(deployment)
        updated["status"] = status
        await self.client.update_status(DEPLOYMENTS, updated)
        raise RuntimeError(
            f"replica set {name} exists and is not this deployment's; raised collisionCount to "
            f"{status['collisionCount']} and will retry with a new name"
        )

    async def _set_deployment_revision(self, deployment: Object, revision: int) -> Object:
        annotations = metadata(deployment).get("annotations") or {}
        if annotations.get(util.REVISION) == str(revision):
            return deployment
        updated = copy.deepcopy(deployment)
        metadata(updated).setdefault("annotations", {})[util.REVISION] = str(revision)
        return await self.client.update(DEPLOYMENTS, updated)

    # --- scaling ------------------------------------------------------------------------------

    async def _scale(self, deployment: Object, replica_set: Object, replicas: int) -> Object:
        """Set a ReplicaSet's replicas and replica annotations; record ScalingReplicaSet when the size changes."""
        current = util.replicas_of(replica_set)
        updated = copy.deepcopy(replica_set)
        updated.setdefault("spec", {})["replicas"] = replicas
        _set_replica_annotations(updated, deployment)
        if _same_spec_and_annotations(updated, replica_set):
            return replica_set
        result = await self.client.update(REPLICA_SETS, updated)
        if replicas != current:
            direction = "up" if replicas > current else "down"
            name = metadata(replica_set).get("name")
            log.info("replica set scaled deployment=%s replica_set=%s from=%d to=%d",
                     object_key(deployment), name, current, replicas)  # fmt: skip
            await self.recorder.record(deployment, "Normal", "ScalingReplicaSet",
                                       f"Scaled {direction} replica set {name} to {replicas} from {current}")  # fmt: skip
        return result

    async def _sync_scale(self, deployment: Object, replica_sets: list[Object]) -> None:
        """Apply a replicas change without rolling out (paused, or a scale during a rollout)."""
        new_set, old, deployment = await self._new_and_old(deployment, replica_sets, create=False)
        all_sets = ([new_set] if new_set else []) + old
        await self._scale_sets(deployment, new_set, old)
        if (deployment.get("spec") or {}).get("paused"):
            await self._cleanup(deployment, old)
        refreshed = [self.replica_sets.store.get(object_key(rs)) or rs for rs in all_sets]
        await self._sync_status(deployment, refreshed, new_set)

    async def _scale_sets(self, deployment: Object, new_set: Object | None, old: list[Object]) -> None:
        wanted = util.replicas_of(deployment)
        all_sets = ([new_set] if new_set else []) + old
        active = [rs for rs in all_sets if util.replicas_of(rs) > 0]
        if len(active) <= 1:
            target = active[0] if active else (new_set or max(old, key=util.revision_of, default=None))
            if target is not None:
                await self._scale(deployment, target, wanted)
            return
        if new_set is not None and _saturated(deployment, new_set):
            for replica_set in old:
                if util.replicas_of(replica_set) > 0:
                    await self._scale(deployment, replica_set, 0)
            return
        await self._scale_proportionally(deployment, active)

    async def _scale_proportionally(self, deployment: Object, active: list[Object]) -> None:
        surge, _ = util.surge_and_unavailable(deployment)
        wanted = util.replicas_of(deployment)
        allowed = wanted + surge if wanted > 0 else 0
        to_add = allowed - sum(util.replicas_of(rs) for rs in active)
        # Scale up the largest (newest on ties) first and scale down the largest (oldest on ties) first.
        newest_first = to_add > 0
        ordered = sorted(active, key=_created_order, reverse=newest_first)
        ordered.sort(key=util.replicas_of, reverse=True)
        sizes: dict[str, int] = {}
        added = 0
        for replica_set in ordered:
            share = util.proportion(replica_set, deployment, to_add, added)
            sizes[object_key(replica_set)] = util.replicas_of(replica_set) + share
            added += share
        if ordered and to_add != added:
            first = object_key(ordered[0])
            sizes[first] = max(0, sizes[first] + to_add - added)
        for replica_set in ordered:
            await self._scale(deployment, replica_set, sizes[object_key(replica_set)])

    # --- rollouts -----------------------------------------------------------------------------

    async def _rollout_rolling(self, deployment: Object, replica_sets: list[Object]) -> None:
        new_set, old, deployment = await self._new_and_old(deployment, replica_sets, create=True)
        assert new_set is not None
        created = metadata(new_set).get("uid") not in {metadata(rs).get("uid") for rs in replica_sets}

        all_sets = [new_set, *old]
        wanted_new = util.new_replica_set_replicas(deployment, all_sets, new_set)
        wanted = util.replicas_of(deployment)
        if util.replicas_of(new_set) > wanted:
            wanted_new = wanted
        if wanted_new != util.replicas_of(new_set):
            new_set = await self._scale(deployment, new_set, wanted_new)
            await self._sync_rollout_status(deployment, new_set, [new_set, *old], created)
            return

        old, scaled_down = await self._reconcile_old(deployment, new_set, old)
        if not scaled_down:
            status = _calculate_status(deployment, new_set, [new_set, *old])
            if util.is_complete(deployment, status):
                await self._cleanup(deployment, old)
        await self._sync_rollout_status(deployment, new_set, [new_set, *old], created)

    async def _reconcile_old(self, deployment: Object, new_set: Object, old: list[Object]) -> tuple[list[Object], bool]:
        """Scale old ReplicaSets down as far as maxUnavailable allows, and return them and whether any changed.

        First unhealthy old pods go, because removing them costs no
        availability, then available ones while at least replicas -
        maxUnavailable pods stay available.
        """
        if sum(util.replicas_of(rs) for rs in old) == 0:
            return old, False
        _, max_unavailable = util.surge_and_unavailable(deployment)
        min_available = util.replicas_of(deployment) - max_unavailable
        all_pods = util.replicas_of(new_set) + sum(util.replicas_of(rs) for rs in old)
        new_unavailable = util.replicas_of(new_set) - util.status_count(new_set, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return old, False

        ordered = sorted(old, key=_created_order)
        result: dict[str, Object] = {}
        cleaned = 0
        for replica_set in ordered:
            replicas = util.replicas_of(replica_set)
            unhealthy = replicas - util.status_count(replica_set, "availableReplicas")
            if cleaned >= max_scaled_down or replicas == 0 or unhealthy <= 0:
                continue
            down = min(max_scaled_down - cleaned, unhealthy)
            result[object_key(replica_set)] = await self._scale(deployment, replica_set, replicas - down)
            cleaned += down
        ordered = [result.get(object_key(rs), rs) for rs in ordered]

        available = util.status_count(new_set, "availableReplicas") + sum(
            util.status_count(rs, "availableReplicas") for rs in ordered
        )
        budget = available - min_available
        scaled = 0
        for index, replica_set in enumerate(ordered):
            replicas = util.replicas_of(replica_set)
            if scaled >= budget or replicas == 0:
                continue
            down = min(replicas, budget - scaled)
            ordered[index] = await self._scale(deployment, replica_set, replicas - down)
            scaled += down
        return ordered, cleaned + max(0, scaled) > 0

    async def _rollout_recreate(self, deployment: Object, replica_sets: list[Object]) -> None:
        new_set, old, deployment = await self._new_and_old(deployment, replica_sets, create=False)
        scaled_down = False
        for index, replica_set in enumerate(old):
            if util.replicas_of(replica_set) > 0:
                old[index] = await self._scale(deployment, replica_set, 0)
                scaled_down = True
        all_sets = ([new_set] if new_set else []) + old
        if scaled_down or self._old_pods_running(old):
            await self._sync_rollout_status(deployment, new_set, all_sets, False)
            return

        created = new_set is None
        if new_set is None:
            new_set, old, deployment = await self._new_and_old(deployment, replica_sets, create=True)
            assert new_set is not None
        elif util.replicas_of(new_set) != util.replicas_of(deployment):
            new_set = await self._scale(deployment, new_set, util.replicas_of(deployment))
        status = _calculate_status(deployment, new_set, [new_set, *old])
        if util.is_complete(deployment, status):
            await self._cleanup(deployment, old)
        await self._sync_rollout_status(deployment, new_set, [new_set, *old], created)

    def _old_pods_running(self, old: list[Object]) -> bool:
        """Tell whether any pod of an old ReplicaSet still exists in a phase other than Succeeded or Failed."""
        for replica_set in old:
            if util.status_count(replica_set, "replicas") > 0:
                return True
            for pod in self.pods.store.by_index(BY_OWNER_UID, str(metadata(replica_set).get("uid"))):
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    return True
        return False

    async def _cleanup(self, deployment: Object, old: list[Object]) -> None:
        """Delete the oldest revisions of fully scaled-down old ReplicaSets beyond revisionHistoryLimit."""
        limit = (deployment.get("spec") or {}).get("revisionHistoryLimit", util.DEFAULT_REVISION_HISTORY_LIMIT)
        if limit is None:
            return
        idle = [
            rs for rs in old
            if util.replicas_of(rs) == 0 and util.status_count(rs, "replicas") == 0 and not is_being_deleted(rs)
        ]  # fmt: skip
        idle.sort(key=util.revision_of)
        for replica_set in idle[: max(0, len(idle) - int(limit))]:
            meta = metadata(replica_set)
            try:
                await self.client.delete(REPLICA_SETS, meta["name"], namespace=meta.get("namespace"))
            except NotFound:
                continue
            log.info("old replica set deleted deployment=%s replica_set=%s revision=%d",
                     object_key(deployment), meta["name"], util.revision_of(replica_set))  # fmt: skip

    # --- status -------------------------------------------------------------------------------

    async def _sync_paused_condition(self, deployment: Object) -> Object:
        """Mark Progressing Unknown with DeploymentPaused or DeploymentResumed when pausing changes."""
        spec = deployment.get("spec") or {}
        if spec.get("progressDeadlineSeconds") is None:
            return deployment
        status = copy.deepcopy(deployment.get("status") or {})
        current = util.condition(status, "Progressing")
        paused_set = current is not None and current.get("reason") == "DeploymentPaused"
        if spec.get("paused") and not paused_set:
            util.set_condition(status, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif not spec.get("paused") and paused_set:
            util.set_condition(status, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed")
        else:
            return deployment
        updated = copy.deepcopy(deployment)
        updated["status"] = status
        return await self.client.update_status(DEPLOYMENTS, updated)

    async def _sync_status(self, deployment: Object, replica_sets: list[Object], new_set: Object | None = None) -> None:
        status = _calculate_status(deployment, new_set, replica_sets)
        await self._write_status(deployment, status)

    async def _sync_rollout_status(
        self, deployment: Object, new_set: Object | None, all_sets: list[Object], created: bool
    ) -> None:
        """Write status with the Progressing condition; sync again when the progress deadline would pass."""
        old_status = deployment.get("status") or {}
        status = _calculate_status(deployment, new_set, all_sets)
        complete = util.is_complete(deployment, status)
        deadline = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
        name = metadata(new_set).get("name") if new_set else ""
        if deadline is None:
            util.remove_condition(status, "Progressing")
        elif new_set is not None and complete:
            util.set_condition(status, "Progressing", "True", "NewReplicaSetAvailable",
                               f'ReplicaSet "{name}" has successfully progressed.')  # fmt: skip
        elif new_set is not None and created:
            util.set_condition(status, "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{name}"')
        elif new_set is not None and util.made_progress(old_status, status):
            util.set_condition(status, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.')
        elif new_set is not None and _timed_out(deployment, status):
            util.set_condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                               f'ReplicaSet "{name}" has timed out progressing.')  # fmt: skip
        await self._write_status(deployment, status)

        remaining = util.seconds_until_deadline(deployment, status)
        if not complete and remaining is not None and remaining > 0:
            self.queue.add_after(object_key(deployment), remaining + 1)

    async def _write_status(self, deployment: Object, status: dict[str, Any]) -> None:
        if status == (deployment.get("status") or {}):
            return
        updated = copy.deepcopy(deployment)
        updated["status"] = status
        await self.client.update_status(DEPLOYMENTS, updated)


def _selector(deployment: Object) -> Selector:
    try:
        return selector_from_label_selector((deployment.get("spec") or {}).get("selector"))
    except (FieldError, ValueError):
        return Selector.nothing()


def _set_replica_annotations(replica_set: Object, deployment: Object) -> None:
    surge, _ = util.surge_and_unavailable(deployment)
    annotations = metadata(replica_set).setdefault("annotations", {})
    annotations[util.DESIRED_REPLICAS] = str(util.replicas_of(deployment))
    annotations[util.MAX_REPLICAS] = str(util.replicas_of(deployment) + surge)


def _same_spec_and_annotations(a: Object, b: Object) -> bool:
    return a.get("spec") == b.get("spec") and metadata(a).get("annotations") == metadata(b).get("annotations")


def _saturated(deployment: Object, new_set: Object) -> bool:
    wanted = util.replicas_of(deployment)
    desired = (metadata(new_set).get("annotations") or {}).get(util.DESIRED_REPLICAS)
    return (
        util.replicas_of(new_set) == wanted
        and desired == str(wanted)
        and util.status_count(new_set, "availableReplicas") == wanted
    )


def _timed_out(deployment: Object, status: dict[str, Any]) -> bool:
    progressing = util.condition(status, "Progressing")
    if progressing is None:
        return False
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return True
    remaining = util.seconds_until_deadline(deployment, status)
    return remaining is not None and remaining <= 0


def _calculate_status(deployment: Object, new_set: Object | None, all_sets: list[Object]) -> dict[str, Any]:
    """Compute status from the ReplicaSets, with the Available condition; Progressing is left as it was."""
    status = copy.deepcopy(deployment.get("status") or {})
    available = sum(util.status_count(rs, "availableReplicas") for rs in all_sets)
    total_spec = sum(util.replicas_of(rs) for rs in all_sets)
    status.update(
        observedGeneration=metadata(deployment).get("generation", 0),
        replicas=sum(util.status_count(rs, "replicas") for rs in all_sets),
        updatedReplicas=util.status_count(new_set, "replicas") if new_set else 0,
        readyReplicas=sum(util.status_count(rs, "readyReplicas") for rs in all_sets),
        availableReplicas=available,
        unavailableReplicas=max(0, total_spec - available),
    )
    _, max_unavailable = util.surge_and_unavailable(deployment)
    if available >= util.replicas_of(deployment) - max_unavailable:
        util.set_condition(status, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    else:
        util.set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                           "Deployment does not have minimum availability.")  # fmt: skip
    return status


def new_deployment_controller(context: ControllerContext) -> DeploymentController:
    return DeploymentController(context)
