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

from reloader.alerting.calling import CallFailed, ReloadWebhook
from reloader.alerting.messages import Reload
from reloader.core import names
from reloader.core.deciding import (
    Action,
    ObjectKey,
    ObjectState,
    Record,
    Selection,
    changed_objects,
    decide,
    desired_record,
    paused_until,
    replay,
    select,
    to_write,
    unmet,
)
from reloader.core.filtering import visibility_changed_only
from reloader.core.hashing import Hasher
from reloader.core.references import Kind, Ref
from reloader.core.strategies import Strategy
from reloader.kube.events import Recorder
from reloader.kube.recreating import Refused, Stale
from reloader.kube.rest import ApiError, JSONDict, Rest
from reloader.kube.writing import Target, Writer, done
from reloader.reloading.announcing import Announcer
from reloader.reloading.index import Index, Tracked, Workload, WorkloadKey
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


def _paused(workload: Workload, recorded: Record | None) -> float | None:
    """When the workload's pause period (after its last roll) ends, if it still runs."""
    resume_at = paused_until(recorded, workload.policy.pause_period, time.time())
    if resume_at is not None:
        log.info("pause period runs", workload="/".join(workload.key), roll_at=round(resume_at))
    return resume_at


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did; ``retry_at`` asks the caller to come back at that time."""

    action: Action | None
    retry_at: float | None = None


class Reconciler:
    def __init__(
        self,
        *,
        rest: Rest,
        index: Index,
        hasher: Hasher,
        recorder: Recorder,
        debounce: float,
        announcer: Announcer | None = None,
        webhook: ReloadWebhook | None = None,
        partial_kinds: frozenset[Kind] = frozenset(),
    ) -> None:
        self.rest, self.index, self.hasher, self.recorder = rest, index, hasher, recorder
        self.debounce = debounce
        self.writer = Writer(rest)
        self.announcer = announcer or Announcer()
        self.webhook = webhook
        """``--webhook-url``: a roll becomes "call it; once accepted, write the record only"."""
        self.partial_kinds = partial_kinds
        """Kinds the index may lack existing objects of (filters, ``core.filtering``): an
        unseen one neither counts nor blocks, and coming into view rolls nothing."""

    def _select(
        self, workload: Workload, states: Mapping[ObjectKey, ObjectState]
    ) -> tuple[frozenset[Ref], Selection]:
        """The references in view, and what counts of them (``select``)."""
        refs = workload.refs
        if self.partial_kinds:
            refs = frozenset(r for r in refs if r.kind not in self.partial_kinds or r.key in states)
        return refs, select(workload.policy, refs, states)

    def _content_changed(self, action: Action, recorded: Record | None, desired: Record) -> Action:
        """ROLL becomes RECORD when objects only came into or out of view."""
        if (
            action is Action.ROLL
            and self.partial_kinds
            and recorded is not None
            and visibility_changed_only(recorded.objects, desired.objects, self.partial_kinds)
        ):
            return Action.RECORD
        return action

    async def reconcile(self, key: WorkloadKey) -> Outcome:
        workload = self.index.workloads.get(key)
        if workload is None or not workload.policy.active or workload.strategy is Strategy.OWNED:
            return Outcome(None)  # (a CronJob's Job: the CronJob is what gets reloaded)
        kind, namespace, name = key
        tracked = self.index.namespace_objects(namespace)
        states = _States(tracked)
        refs, chosen = self._select(workload, states)
        missing = unmet(refs, chosen, states)
        if missing:
            # New pods could not start without it: rolling now would only take capacity away.
            # Decide again when it is back (its creation enqueues this workload).
            log.info("waiting for missing objects", workload=f"{kind}/{name}", missing=missing)
            return Outcome(None)
        recorded = Record.parse(workload.record)
        desired = desired_record(self.hasher, chosen)
        action = self._content_changed(
            decide(
                _rolled_to(workload, recorded),
                recorded,
                desired,
                replayed=lambda record: replay(self.hasher, record, states),
            ),
            recorded,
            desired,
        )
        if action is Action.ROLL and (resume_at := _paused(workload, recorded)) is not None:
            return Outcome(None, retry_at=resume_at)  # roll once, at the end of the pause
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
        webhook = self.webhook if roll else None
        changed = changed_objects(recorded, desired)
        what = ", ".join(changed) or "changed content"
        old_hash = workload.template_hash or (recorded.hash if recorded else None)
        fields = {
            "namespace": namespace,
            "workload": f"{kind}/{name}",
            "decision": action.value,
            "changed": changed,
            "old_hash": old_hash,
            "new_hash": desired.hash,
        }
        change = Reload(kind, namespace, name, tuple(changed), old_hash, desired.hash, time.time())
        try:
            updated = await self._write(
                change,
                _target(workload),
                roll=roll,
                record=to_write(
                    action, recorded, desired, now=time.time(), period=workload.policy.pause_period
                ).render(),
            )
        except (ApiError, OSError, TimeoutError, CallFailed, Refused, Stale) as exc:
            if isinstance(exc, Stale) or (isinstance(exc, ApiError) and exc.not_found):
                return Outcome(None)  # deleted or changed meanwhile; the watch brings it
            RELOADS.labels(kind, "failed").inc()
            log.error("reload failed", **fields, webhook=webhook is not None, error=str(exc))
            await self.recorder.record(
                workload.reference,
                type="Warning",
                reason=names.REASON_RELOAD_FAILED,
                message=f"could not {'call --webhook-url' if webhook else 'patch'} {kind}/{name} "
                f"for {what}: {exc}",
            )
            return Outcome(action, retry_at=time.time() + 5.0)

        self.index.put_workload(updated)
        latency = time.time() - last_change if last_change else None
        if roll:
            RELOADS.labels(kind, "rolled" if webhook is None else "called").inc()
            if latency is not None and 0 <= latency < 3600:
                REACTION.observe(latency)
            log.info(
                "reloaded",
                **fields,
                done=_did(workload, webhook),
                webhook=webhook is not None,
                latency_s=round(latency, 3) if latency else None,
            )
            self.announcer.reloaded(change, rolled=webhook is None)
            await self.recorder.record(
                workload.reference,
                type="Normal",
                reason=names.REASON_RELOADED,
                message=(
                    f"{_did(workload, webhook)} for changed "
                    f"{', '.join(changed) or 'content'}: config hash "
                    f"{old_hash or 'none'} -> {desired.hash}"
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

    async def _write(self, change: Reload, target: Target, *, roll: bool, record: str) -> JSONDict:
        """Write the record, and to roll the template hash too; with ``--webhook-url`` a roll
        calls the URL instead and writes the record only once it was accepted. A reload that
        fails is counted here (Stakater's metric); a record-only write is no reload."""
        try:
            if roll and self.webhook is not None:
                await self.webhook.call(change)
                return await self.writer.write(target, record=record, roll_to=None)
            return await self.writer.write(
                target, record=record, roll_to=change.new_hash if roll else None
            )
        except (ApiError, OSError, TimeoutError, CallFailed, Refused) as exc:
            if roll and not (isinstance(exc, ApiError) and exc.not_found):
                self.announcer.failed(change.namespace)
            raise


def _did(workload: Workload, webhook: ReloadWebhook | None) -> str:
    """What a roll did, for its log line and Event."""
    return "called --webhook-url" if webhook else done(workload.key[0], workload.strategy)


def _target(workload: Workload) -> Target:
    kind, namespace, name = workload.key
    uid = workload.reference["metadata"].get("uid")
    return Target(
        kind, namespace, name, uid, workload.strategy, workload.template_hash, workload.record
    )


def _rolled_to(workload: Workload, recorded: Record | None) -> str | None:
    """The hash the workload's pods run with: a restarted Rollout keeps it in its record."""
    if workload.strategy is Strategy.RESTART:
        return recorded.hash if recorded else None
    return workload.template_hash
