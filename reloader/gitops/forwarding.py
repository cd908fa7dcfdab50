"""Any replica takes webhook deliveries: a standby forwards what it authenticated to the leader.

With ``--leader-elect`` every replica serves the receiver (one Service selects them all) but
only the leader syncs, so a delivery that landed on a standby used to set a trigger nobody
read. The ways out, and why this one:

* *Route deliveries to the leader only* (a label on the leader's pod, or readiness): a
  standby must stay ready or rolling updates of reloader stall; a label needs rights to patch
  pods, and kube-proxy follows either change seconds later, so hand-overs drop deliveries.
* *Leave a note in the cluster* (a standby writes a ConfigMap the leader watches): a write and
  a watch per delivery, and the sender never learns whether anything will sync.
* *Forward to the leader* (this): one GET of a Lease the loop already reads and one request
  inside the cluster; no new rights, no new object, and the sender gets the leader's answer.

How. The leader advertises the URL of its own receiver in ``names.WEBHOOK_URL`` on its Lease,
in the very writes that acquire and renew it (``kube.leasing``), and takes it off on release.
A standby authenticates a delivery exactly as the leader would (``webhook``), reads the Lease
once (fresh: a hand-over a second ago is seen), and posts the same body and credential there
with ``names.WEBHOOK_FORWARDED`` set. The leader authenticates it again: the Lease says where
to send, never whom to trust, and nothing is taken on the standby's word. The sender gets 202
when the leader accepted it, 503 when no leader could be found and 502 when it could not be
reached or refused (the next poll, or the sync every new leader runs on taking over, catches
up). A forwarded delivery is never forwarded again: a receiver that does not lead answers it
503, so a stale URL (a leader that just stepped down) costs one hop, never a loop.

Bounds. Only authenticated deliveries are forwarded, so a stranger cannot make a standby read
the Lease or call anyone; the read has ``lease_timeout``, the forward a total ``timeout``, no
redirect is followed and no proxy from the environment is used, and the receiver forwards
within its limit of bodies held at once.

Secrets. An HMAC signature is forwarded as it came: it proves this body only, and a replay
costs at most one sync. A GitLab token *is* the shared secret, and whoever may write the Lease
is not thereby trusted with it: the standby forwards the HMAC of the body under that secret
instead (``webhook``), which the leader checks the same way.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

import aiohttp

from reloader.core import names
from reloader.kube.leasing import LeaderElector
from reloader.kube.rest import ApiError, JSONDict
from reloader.telemetry.logging import get_logger

log = get_logger("forwarding")
ANSWER_LIMIT = 256
"""Bytes of the leader's answer passed back to the sender (it is one short line)."""


class Route(enum.Enum):
    """What a receiver does with an authenticated delivery."""

    TRIGGER = "trigger"
    """Sync here: this replica leads, or there is no election."""
    FORWARD = "forward"
    """A standby passes it to the leader."""
    REFUSE = "refuse"
    """Forwarded already, to a replica that does not lead: never forwarded twice."""


def route(*, leading: bool, forwarded: bool) -> Route:
    """The one decision of a receiver (``leading`` is True without leader election)."""
    if leading:
        return Route.TRIGGER
    return Route.REFUSE if forwarded else Route.FORWARD


def leader_url(lease: JSONDict | None) -> str | None:
    """The receiver URL the Lease's holder advertises, or None: no Lease, no holder (released),
    no URL (a holder that knows no address of its own), or one that is not plain http(s)."""
    if not lease or not (lease.get("spec") or {}).get("holderIdentity"):
        return None
    url = ((lease.get("metadata") or {}).get("annotations") or {}).get(names.WEBHOOK_URL)
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return url


class Answer(NamedTuple):
    """The status and one-line text the standby gives the sender."""

    status: int
    text: str


def verdict(status: int, text: str) -> Answer:
    """The sender's answer once the leader answered ``status`` with ``text``."""
    said = " ".join(text.split())[:ANSWER_LIMIT]
    if 200 <= status < 300:
        return Answer(202, f"forwarded to the leader: {said}")
    return Answer(502, f"the leader did not accept the forwarded delivery ({status}: {said})")


class Forwarder:
    """A standby's way to the leader's receiver, found on the Lease ``elector`` competes for."""

    def __init__(
        self, elector: LeaderElector, *, timeout: float = 2.0, lease_timeout: float = 1.0
    ) -> None:
        self.elector = elector
        self.timeout, self.lease_timeout = timeout, lease_timeout
        config = elector.config
        self.lease = f"{config.namespace}/{config.name}"

    @property
    def leading(self) -> bool:
        return self.elector.leading

    async def forward(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """Post ``body`` with ``headers`` (plus the forwarded mark) to the leader's receiver."""
        try:
            async with asyncio.timeout(self.lease_timeout):
                lease = await self.elector.read()
        except (ApiError, OSError, TimeoutError) as exc:
            return self._unreachable(
                503, "its Lease could not be read", lease=self.lease, error=repr(exc)
            )
        url = leader_url(lease)
        if url is None:
            return self._unreachable(
                503, "no leader advertises a webhook receiver", lease=self.lease
            )
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout), auto_decompress=False
                ) as http,
                http.post(
                    url,
                    data=body,
                    headers={**headers, names.WEBHOOK_FORWARDED: "1"},
                    allow_redirects=False,
                ) as resp,
            ):
                status = resp.status
                text = (await resp.content.read(ANSWER_LIMIT)).decode(errors="replace")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return self._unreachable(502, "no answer from it", url=url, error=repr(exc))
        log.info("webhook forwarded to the leader", url=url, leader_status=status)
        return verdict(status, text)

    def _unreachable(self, status: int, why: str, **detail: str) -> Answer:
        """The sender learns what happened; addresses and errors go to the log only."""
        log.warning("webhook not forwarded: the leader could not be reached", why=why, **detail)
        return Answer(status, f"the leader could not be reached ({why}); the next poll syncs")
