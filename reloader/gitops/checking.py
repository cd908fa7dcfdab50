"""Health after apply: "Synced" means the revision runs, not only that the server stored it.

After a fresh revision is applied, its objects are read back every second until each is
Current or Failed (:func:`reloader.core.health.verdict`, kstatus's rules), or until the
deadline: ``--health-timeout``, cut short so that the whole cycle still ends within
``--sync-timeout``. The wait sits inside the cycle on purpose: the verdict belongs to the
revision just applied, and the next cycle (drift, the next commit) starts at most one
health timeout later. Kinds that have no status (ConfigMaps, RBAC, ...) cost no request,
and an object found Current is not read again, so a large revision of settled objects costs
one round of GETs. A failed read is not a verdict: the object stays in progress.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from reloader.core.health import Health, needs_status, verdict
from reloader.core.manifests import Manifest
from reloader.gitops.applying import Applier, UnknownKind
from reloader.kube.rest import ApiError
from reloader.telemetry.logging import get_logger
from reloader.telemetry.metrics import GITOPS_REVISION_HEALTHY

log = get_logger("gitops")


@dataclass
class Outcome:
    unhealthy: list[str] = field(default_factory=list)
    """``Kind/namespace/name: reason`` of each object that is not Current."""
    checked: int = 0
    seconds: float = 0.0

    @property
    def health(self) -> str:
        return "Unhealthy" if self.unhealthy else "Healthy"

    def message(self, revision: str) -> str:
        if not self.unhealthy:
            return f"revision {revision}: {self.checked} object(s) healthy in {self.seconds:.1f}s"
        return (
            f"revision {revision}: {len(self.unhealthy)} of {self.checked} object(s) not healthy "
            f"after {self.seconds:.1f}s: " + "; ".join(self.unhealthy[:20])
        )


def _name(manifest: Manifest, namespace: str) -> str:
    return f"{manifest.kind}/{namespace + '/' if namespace else ''}{manifest.name}"


async def wait_healthy(
    applier: Applier,
    manifests: Sequence[Manifest],
    *,
    within: float,
    interval: float = 1.0,
    concurrency: int = 32,
) -> Outcome:
    """Read the applied objects until all are settled or ``within`` seconds passed."""
    started = time.monotonic()
    deadline = started + max(0.0, within)
    todo: dict[str, str] = {}  # path -> name
    for manifest in manifests:
        if not needs_status(manifest.kind, manifest.group):
            continue
        try:
            target = await applier.target(manifest)
        except UnknownKind:
            continue  # waits for its CRD: not applied, so nothing to judge
        todo[target.path] = _name(manifest, target.key.namespace)
    gate = asyncio.Semaphore(concurrency)
    verdicts: dict[str, Health] = {}

    async def read(path: str) -> None:
        async with gate:
            try:
                found = await applier.rest.get_or_none(path)
            except (ApiError, OSError, TimeoutError) as exc:
                verdicts[path] = Health("InProgress", f"could not be read: {exc}")
                return
        verdicts[path] = (
            Health("Failed", "not found after it was applied") if found is None else verdict(found)
        )

    pending = list(todo)
    while True:
        await asyncio.gather(*(read(path) for path in pending))
        pending = [path for path in pending if not verdicts[path].settled]
        if not pending or time.monotonic() + interval > deadline:
            break
        await asyncio.sleep(interval)
    outcome = Outcome(checked=len(todo), seconds=time.monotonic() - started)
    for path, name in todo.items():
        health = verdicts[path]
        if health.status != "Current":
            late = "" if health.settled else f" (still in progress after {within:g}s)"
            outcome.unhealthy.append(f"{name}: {health.reason}{late}")
    GITOPS_REVISION_HEALTHY.set(0 if outcome.unhealthy else 1)
    if outcome.unhealthy:
        log.warning("revision unhealthy", unhealthy=outcome.unhealthy[:100])
    else:
        log.info("revision healthy", objects=outcome.checked, seconds=round(outcome.seconds, 3))
    return outcome
