"""Write a decision to a workload the way its kind needs (see ``core.strategies``).

Recording without rolling is the same merge patch of reloader's record for every kind (a
Job's metadata is mutable even though its template is not). Rolling differs: the template
hash for most kinds, a delete and create for a Job, ``spec.restartAt`` for a restarted
Rollout. The reconciler decides; this module only carries the decision out, and says what it
did in words an Event can use.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from reloader.core.strategies import Strategy
from reloader.kube.patching import patch_workload
from reloader.kube.recreating import Recreator
from reloader.kube.rest import JSONDict, Rest


@dataclass(frozen=True)
class Target:
    """The workload as the decision saw it."""

    kind: str
    namespace: str
    name: str
    uid: str | None
    strategy: Strategy
    template_hash: str | None
    record: str | None


def done(kind: str, strategy: Strategy) -> str:
    """What a roll does to a workload, for its Event and log line."""
    if strategy is Strategy.RECREATE:
        return f"recreated {kind}"
    if strategy is Strategy.RESTART:
        return f"restarted {kind}"
    return "rolled"


def restart_time(now: float) -> str:
    """``spec.restartAt`` for a restart written at ``now``: the next whole second.

    Argo restarts the pods created before that time, and creation times have one-second
    resolution; rounding up covers every pod that started before the write (and so before
    the change it restarts for). Two changes within one second get the same value, which
    is right: pods Argo starts at or after it read the content of both.
    """
    return datetime.fromtimestamp(math.floor(now) + 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Writer:
    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self.recreator = Recreator(rest)

    async def write(self, target: Target, *, record: str, roll_to: str | None) -> JSONDict:
        """Write ``record``, and roll to the hash ``roll_to`` when given; return the workload.

        Raises ``recreating.Stale`` when a Job changed since the decision (decide again once
        the watch brings it) and ``recreating.Refused`` when a deleted Job cannot be created.
        """
        if roll_to is None or target.strategy is not Strategy.RECREATE:
            restart = roll_to is not None and target.strategy is Strategy.RESTART
            return await patch_workload(
                self.rest,
                kind=target.kind,
                namespace=target.namespace,
                name=target.name,
                record=record,
                template_hash=None if restart else roll_to,
                restart_at=restart_time(time.time()) if restart else None,
            )
        return await self.recreator.recreate(
            namespace=target.namespace,
            name=target.name,
            uid=target.uid,
            seen_hash=target.template_hash,
            seen_record=target.record,
            template_hash=roll_to,
            record=record,
        )

    async def drain(self, within: float) -> None:
        await self.recreator.drain(within)
