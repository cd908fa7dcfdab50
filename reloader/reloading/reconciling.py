"""Reconcile one workload: compute the content it should run with, write it at most once.

The order of checks is the contract: (1) only opted-in workloads whose required objects all
exist (rolling onto a deleted ConfigMap would only create pods that cannot start); (2) wait
until the workload's objects have been quiet for the debounce window, so a burst of edits
rolls once for the settled content; (3) ``decide`` from current state; (4) one merge patch;
(5) the patched object goes straight back into the index, so a second trigger racing the
watch cannot see the old annotations and roll again."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from reloader.core import names
from reloader.core.deciding import (
    Action,
    ObjectKey,
    ObjectState,
    Record,
    changed_objects,
    decide,
    desired_record,
    select,
)
from reloader.core.hashing import ABSENT, Hasher
from reloader.kube.events import Recorder
from reloader.kube.patching import patch_workload
from reloader.kube.rest import ApiError, Rest
from reloader.reloading.index import Index, Tracked, WorkloadKey
from reloader.telemetry.logging import get_logger
from reloader.telemetry.metrics import REACTION, RELOADS

log = get_logger("reconciling")

CLOCK_SKEW_ALLOWANCE = 5.0
"""A server write time further than this in the future is not waited for (clock skew)."""


class _States(Mapping[ObjectKey, ObjectState]):
    """The namespace's object states as a view: no copy of 10,000 entries per reconcile."""

    def __init__(self, tracked: Mapping[ObjectKey, Tracked]) -> None:
        self._tracked = tracked

    def __getitem__(self, key: ObjectKey) -> ObjectState:
        return self._tracked[key].state

    def __iter__(self) -> Iterator[ObjectKey]:
        return iter(self._tracked)

    def __len__(self) -> int:
        return len(self._tracked)


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did; ``retry_at`` asks the caller to come back at that time."""

    action: Action | None
    retry_at: float | None = None


class Reconciler:
    def __init__(
        self, *, rest: Rest, index: Index, hasher: Hasher, recorder: Recorder, debounce: float
    ) -> None:
        self.rest, self.index, self.hasher, self.recorder = rest, index, hasher, recorder
        self.debounce = debounce

    async def reconcile(self, key: WorkloadKey) -> Outcome:
        workload = self.index.workloads.get(key)
        if workload is None or not workload.policy.active:
            return Outcome(None)
        kind, namespace, name = key
        tracked = self.index.namespace_objects(namespace)
        chosen = select(workload.policy, workload.refs, _States(tracked))
        missing = sorted(
            f"{r.kind.value}/{r.name}"
            for r in workload.refs
            if not r.optional and chosen.get(r.key) == ABSENT
        )
        if missing:
            # New pods could not start without it: rolling now would only take capacity away.
            # Decide again when it is back (its creation enqueues this workload).
            log.info("waiting for missing objects", workload=f"{kind}/{name}", missing=missing)
            return Outcome(None)
        recorded = Record.parse(workload.record)
        desired = desired_record(self.hasher, chosen)
        action = decide(workload.template_hash, recorded, desired)
        last_change = max((tracked[k].changed_at for k in chosen if k in tracked), default=0.0)
        now = time.time()
        quiet_at = last_change + self.debounce
        if action is Action.ROLL and now < quiet_at < now + self.debounce + CLOCK_SKEW_ALLOWANCE:
            # Only a roll waits for quiet: recording at once narrows the window in which a
            # change right after the first sight would be taken for the baseline.
            return Outcome(None, retry_at=quiet_at)
        if action is Action.NOTHING:
            log.debug(
                "up to date",
                namespace=namespace,
                workload=f"{kind}/{name}",
                decision=action.value,
                hash=desired.hash,
            )
            return Outcome(action)

        roll = action is Action.ROLL
        changed = changed_objects(recorded, desired)
        what = ", ".join(changed) or "changed content"
        fields = {
            "namespace": namespace,
            "workload": f"{kind}/{name}",
            "decision": action.value,
            "changed": changed,
            "old_hash": workload.template_hash or (recorded.hash if recorded else None),
            "new_hash": desired.hash,
        }
        try:
            updated = await patch_workload(
                self.rest,
                kind=kind,
                namespace=namespace,
                name=name,
                record=desired.render(),
                template_hash=desired.hash if roll else None,
            )
        except (ApiError, OSError, TimeoutError) as exc:
            if isinstance(exc, ApiError) and exc.not_found:
                return Outcome(None)  # deleted meanwhile; the watch will drop it
            RELOADS.labels(kind, "failed").inc()
            log.error("reload failed", **fields, error=str(exc))
            await self.recorder.record(
                workload.reference,
                type="Warning",
                reason=names.REASON_RELOAD_FAILED,
                message=f"could not patch {kind}/{name} for {what}: {exc}",
            )
            return Outcome(action, retry_at=time.time() + 5.0)

        self.index.put_workload(updated)
        latency = time.time() - last_change if last_change else None
        if roll:
            RELOADS.labels(kind, "rolled").inc()
            if latency is not None and 0 <= latency < 3600:
                REACTION.observe(latency)
            log.info("reloaded", **fields, latency_s=round(latency, 3) if latency else None)
            await self.recorder.record(
                workload.reference,
                type="Normal",
                reason=names.REASON_RELOADED,
                message=(
                    f"rolled for changed {', '.join(changed) or 'content'}: config hash "
                    f"{fields['old_hash'] or 'none'} -> {desired.hash}"
                ),
            )
        elif action is Action.REKEY:
            RELOADS.labels(kind, "rekeyed").inc()
            log.warning("hash key changed; re-recorded without rolling", **fields)
            await self.recorder.record(
                workload.reference,
                type="Warning",
                reason=names.REASON_KEY_CHANGED,
                message=(
                    "the hash key changed (was its Secret deleted?); recorded the current "
                    "content without rolling. Changes made while the key was lost were not seen."
                ),
            )
        else:
            RELOADS.labels(kind, "recorded").inc()
            log.info("recorded current content", **fields)
        return Outcome(action)
