"""Suspension: the loop keeps looking at git but leaves the cluster alone.

During an incident someone fixes the cluster by hand; a loop that reverts the fix at its next
drift check, or applies the next commit on top of it, makes the incident worse. ``reloader
suspend`` writes who, when and why on the loop's state ConfigMap; the loop reads it at the
start of every cycle (one GET), so a suspension takes effect within one interval on every
replica, survives restarts, and needs exactly the rights that writing the loop's state does.
While suspended the loop still asks git for the newest revision and records it as held, so
`reloader status` tells what resuming will apply. Each change of state is logged and recorded
once (an Event ``Suspended`` or ``Resumed``), not once per cycle.
"""

from __future__ import annotations

from reloader.gitops import state as states
from reloader.kube.events import Recorder
from reloader.kube.rest import JSONDict, Rest
from reloader.telemetry.logging import get_logger
from reloader.telemetry.metrics import GITOPS_SUSPENDED

log = get_logger("gitops")


class Pause:
    """Reads the suspension each cycle and reports when it starts and ends."""

    def __init__(self, *, rest: Rest, recorder: Recorder, namespace: str) -> None:
        self.rest, self.recorder, self.namespace = rest, recorder, namespace
        self.current: states.Suspension | None = None
        self._known = False
        GITOPS_SUSPENDED.set(0)

    async def holds(self, sha: str, state: states.State) -> bool:
        """Whether this cycle must leave the cluster alone; while it must, ``sha`` (git's
        newest revision) is recorded in ``state`` as held when it is not the applied one."""
        obj = await states.read(self.rest, self.namespace)
        suspension = states.Suspension.of(obj)
        if suspension != self.current or not self._known:
            await self._changed(suspension, obj)
        if suspension is None:
            state.held = None  # saved with the next cycle's state
            return False
        last = state.last_applied
        held = None if last is not None and last.sha == sha else states.Revision(sha=sha)
        if (held and held.sha) != (state.held and state.held.sha):
            state.held = held
            if held is not None:
                log.info("suspended: a new revision waits", revision=sha[:12])
            await states.save(self.rest, self.namespace, state)
        return True

    async def _changed(self, suspension: states.Suspension | None, obj: JSONDict | None) -> None:
        was, self.current = self.current, suspension
        first, self._known = not self._known, True
        GITOPS_SUSPENDED.set(0 if suspension is None else 1)
        if suspension is None and (first or was is None):
            return  # running, as it was: nothing to tell
        if suspension is not None:
            message = f"suspended by {suspension.by} at {suspension.at}: {suspension.reason}"
            log.warning(
                "GitOps loop suspended: nothing is applied, pruned or corrected until "
                "`reloader resume`",
                by=suspension.by,
                at=suspension.at,
                reason=suspension.reason,
            )
            reason = "Suspended"
        else:
            message = f"resumed (was suspended by {was.by if was else '?'})"
            log.info("GitOps loop resumed", was_suspended_by=was.by if was else None)
            reason = "Resumed"
        if obj is not None:
            await self.recorder.record(obj, type="Normal", reason=reason, message=message)
