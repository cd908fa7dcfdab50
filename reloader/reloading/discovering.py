"""Follow whether the kinds a CRD brings (Argo Rollouts) are served, and say when it changes.

Rollouts are watched only while their API is served: a watch of a kind that does not exist
fails on every retry, and would keep a scope from ever being ready if it counted. So the
controller watches Rollouts beside the core kinds, not among those a scope waits for, and
this loop asks discovery every interval (one cheap request, no rights needed), starting the
watches when the CRD appears and stopping them, and forgetting those workloads, when it goes.
Discovery failures (an API server restarting) change nothing: the last answer stands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import aiohttp

from reloader.kube.discovery import served
from reloader.kube.resources import Resource
from reloader.kube.rest import ApiError, Rest
from reloader.telemetry.logging import get_logger

log = get_logger("discovering")


async def follow(
    rest: Rest,
    resources: Sequence[Resource],
    *,
    interval: float,
    changed: Callable[[Resource, bool], None],
) -> None:
    """Call ``changed(resource, served)`` at first and whenever that answer changes; forever."""
    known: dict[Resource, bool] = {}
    while True:
        for resource in resources:
            try:
                now = await served(rest, resource)
            except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.debug("discovery failed; trying again", api=resource.api, error=str(exc))
                continue
            if known.get(resource) != now:
                known[resource] = now
                log.info(
                    "served; watching" if now else "not served; looking again periodically",
                    kind=resource.kind,
                    api=resource.api_version,
                    interval_s=interval,
                )
                changed(resource, now)
        await asyncio.sleep(interval)
