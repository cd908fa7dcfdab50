"""Leader election on a coordination.k8s.io Lease, so two replicas never patch at once.

Written here rather than taken from kubernetes_asyncio's helper because that one returns
after losing the lease without retrying, never releases it on shutdown, and has no timeouts.
The rules, as in client-go:

* A standby takes the lease only when its record has not changed for a whole lease duration
  *by the standby's own clock* (no trust in other machines' clocks), or when it was released.
* A leader renews every retry period and stops acting when it has not renewed for the renew
  deadline, which is shorter than the lease duration: it steps down before anyone else may
  step up, so there is never a moment with two leaders acting.
* On a clean shutdown the leader releases the lease, and a standby takes over at its next try.
Writes use the Lease's resourceVersion, so two candidates racing for it cannot both win.

A holder may publish facts about itself on the Lease (``annotations``; the GitOps loop names its
webhook receiver there, so standbys know where to forward deliveries). They ride in the writes
that acquire and renew it, so they cost no request of their own, are never older than the
holder's last renewal, and come off with the release; a new holder overwrites or removes them
(a ``None`` value), so what is on the Lease always speaks for its current holder. An elector
given none leaves the Lease's metadata alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reloader.kube.rest import ApiError, JSONDict, Rest
from reloader.telemetry.logging import get_logger

log = get_logger("leasing")


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("leader election needs retry period < renew deadline < lease duration")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        rest: Rest,
        config: LeaseConfig,
        *,
        annotations: Mapping[str, str | None] | None = None,
    ) -> None:
        """``annotations``: kept on the Lease while this process holds it (``None``: removed)."""
        self.rest, self.config = rest, config
        self.annotations = dict(annotations or {})
        self.path = (
            f"/apis/coordination.k8s.io/v1/namespaces/{config.namespace}/leases/{config.name}"
        )
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._lease: JSONDict | None = None
        self.leading = False

    def _spec(self, *, transitions: int, acquire: str | None) -> JSONDict:
        now = _stamp()
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": max(1, round(self.config.lease_duration)),
            "acquireTime": acquire or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def _annotate(self, lease: JSONDict, *, holding: bool) -> None:
        """Set our annotations on ``lease`` (in place), or remove them all when not ``holding``."""
        if not self.annotations:
            return
        metadata = lease.setdefault("metadata", {})
        current = dict(metadata.get("annotations") or {})
        for key, value in self.annotations.items():
            if holding and value is not None:
                current[key] = value
            else:
                current.pop(key, None)
        metadata["annotations"] = current

    async def read(self) -> JSONDict | None:
        """The Lease as the API server has it now (None when there is none yet); a caller in
        a hurry bounds it with ``asyncio.timeout`` (the client's own limit is 30 s)."""
        try:
            return await self.rest.get(self.path)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def _try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the lease afterwards."""
        try:
            lease = await self.rest.get(self.path)
        except ApiError as exc:
            if not exc.not_found:
                raise
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": self._spec(transitions=0, acquire=None),
            }
            self._annotate(body, holding=True)
            self._lease = await self.rest.request("POST", self.path.rsplit("/", 1)[0], body=body)
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, str(spec.get("renewTime")))
        now = time.monotonic()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        mine = holder == self.config.identity
        expired = now - self._observed_at >= float(
            spec.get("leaseDurationSeconds") or self.config.lease_duration
        )
        if not (mine or not holder or expired):
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        lease["spec"] = self._spec(
            transitions=transitions, acquire=spec.get("acquireTime") if mine else None
        )
        self._annotate(lease, holding=True)
        self._lease = await self.rest.request("PUT", self.path, body=lease)
        return True

    async def _attempt(self) -> bool:
        try:
            return await asyncio.wait_for(self._try_acquire_or_renew(), self.config.retry_period)
        except (ApiError, OSError, TimeoutError) as exc:
            if not (isinstance(exc, ApiError) and exc.conflict):
                log.warning("lease attempt failed", lease=self.config.name, error=str(exc))
            return False

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Wait for the lease, run ``lead`` while holding it; return when leadership ends.

        Returns normally if ``lead`` finishes; raises ``LeadershipLost`` if renewal failed.
        Cancellation (shutdown) stops ``lead`` and releases the lease.
        """
        while True:
            if await self._attempt():
                break
            await asyncio.sleep(self.config.retry_period)
        self.leading = True
        log.info(
            "became leader",
            lease=f"{self.config.namespace}/{self.config.name}",
            identity=self.config.identity,
        )
        work: asyncio.Task[None] = asyncio.create_task(lead())
        try:
            last_renew = time.monotonic()
            while not work.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(work), self.config.retry_period)
                if work.done():
                    break
                if await self._attempt():
                    last_renew = time.monotonic()
                elif time.monotonic() - last_renew >= self.config.renew_deadline:
                    raise LeadershipLost(
                        f"could not renew lease {self.config.name} "
                        f"for {self.config.renew_deadline}s"
                    )
            await work
        finally:
            self.leading = False
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
            await self.release()

    async def release(self) -> None:
        """Give the lease up so a standby can take it at once (best effort)."""
        if self._lease is None:
            return
        lease, self._lease = self._lease, None
        if (lease.get("spec") or {}).get("holderIdentity") != self.config.identity:
            return
        lease["spec"]["holderIdentity"] = ""
        lease["spec"]["leaseDurationSeconds"] = 1
        lease["spec"]["renewTime"] = _stamp()
        self._annotate(lease, holding=False)
        try:
            await asyncio.wait_for(self.rest.request("PUT", self.path, body=lease), 5.0)
            log.info("released leader lease", lease=self.config.name)
        except (ApiError, OSError, TimeoutError) as exc:
            log.warning(
                "could not release the lease; the standby waits for it to expire", error=str(exc)
            )


class LeadershipLost(Exception):
    """The lease could not be renewed in time; this process stopped acting."""
