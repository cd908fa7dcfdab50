"""Kubernetes Events on the objects reloader acts on: where ``kubectl get events`` users look.

Recording an Event is best effort: a failure is logged and never blocks or fails a reload.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime
from typing import Literal

from reloader.core import names
from reloader.kube.resources import EVENTS
from reloader.kube.rest import ApiError, JSONDict, Rest
from reloader.telemetry.logging import get_logger

log = get_logger("events")
EventType = Literal["Normal", "Warning"]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Recorder:
    """Creates core/v1 Events as component ``reloader``."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self.instance = os.environ.get("HOSTNAME") or socket.gethostname()

    async def record(
        self, involved: JSONDict, *, type: EventType, reason: str, message: str
    ) -> None:
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        now = _now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta["name"],
                "namespace": namespace,
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": names.COMPONENT},
            "reportingComponent": names.COMPONENT,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.rest.request("POST", EVENTS.collection(namespace), body=event)
        except (ApiError, OSError, TimeoutError) as exc:
            log.warning(
                "could not record event", reason=reason, object=meta["name"], error=str(exc)
            )
