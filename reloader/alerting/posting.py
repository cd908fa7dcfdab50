"""POST a JSON body to a webhook: one attempt with a deadline, or several with backoff.

Every POST has a total deadline (``aiohttp.ClientTimeout``: connecting, sending and reading
the answer together), follows no redirect (a redirected webhook is a misconfiguration, and
following it would send the body somewhere else), reads at most a few bytes of the answer,
and goes through ``proxy`` only when one is given: the environment's proxy variables are not
read, as nothing else in reloader reads the environment on its own.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from reloader.alerting.retrying import RetryPolicy, delay, retriable, retry_after
from reloader.alerting.urls import redact, scrub

ANSWER_LIMIT = 256
"""Bytes of a refusal's body kept for the log (a chat service explains in one line)."""


@dataclass(frozen=True)
class Answer:
    """The outcome of one POST: a status, or ``status`` None and what went wrong."""

    status: int | None
    detail: str
    retry_after: float | None = None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def session() -> aiohttp.ClientSession:
    """A session for webhook POSTs (create it inside the running loop, close it after)."""
    return aiohttp.ClientSession(trust_env=False, headers={"User-Agent": "reloader"})


async def post_json(
    http: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    *,
    within: float,
    proxy: str | None = None,
) -> Answer:
    """One POST of ``body``; never raises for network trouble, never shows the URL whole."""
    try:
        async with http.post(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=within),
            allow_redirects=False,
            proxy=proxy or None,
        ) as resp:
            said = (await resp.content.read(ANSWER_LIMIT)).decode(errors="replace")
            return Answer(
                resp.status,
                scrub(" ".join(said.split()), url),
                retry_after(resp.headers.get("Retry-After"), now=time.time()),
            )
    except TimeoutError:
        return Answer(None, f"no answer within {within:g}s")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        detail = scrub(f"{type(exc).__name__}: {exc}", url)
        return Answer(None, scrub(detail, proxy) if proxy else detail)


@dataclass(frozen=True)
class Delivery:
    accepted: bool
    attempts: int
    last: Answer


async def deliver(
    http: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    *,
    policy: RetryPolicy,
    proxy: str | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    jitter: Callable[[], float] = random.random,
) -> Delivery:
    """POST until accepted, refused for good, or out of attempts."""
    for attempt in range(policy.attempts):
        answer = await post_json(http, url, body, within=policy.timeout, proxy=proxy)
        if answer.accepted or not retriable(answer.status) or attempt == policy.attempts - 1:
            return Delivery(answer.accepted, attempt + 1, answer)
        await sleep(delay(policy, retry=attempt, asked=answer.retry_after, jitter=jitter()))
    raise AssertionError("unreachable")


def describe(answer: Answer, url: str) -> str:
    """One line for a log: where (redacted) and what came back."""
    got = f"HTTP {answer.status}" if answer.status is not None else "no answer"
    return f"{redact(url)}: {got}" + (f": {answer.detail}" if answer.detail else "")
