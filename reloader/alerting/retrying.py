"""When to try a webhook POST again, and how long to wait: pure, so tested without a clock.

Network errors, timeouts, 408, 429 and 5xx can succeed later; any other answer will not
(404 is a deleted webhook, 400 a body it refuses, 403 a revoked token). A ``Retry-After`` from
the service is honoured (Slack sends one with 429), within a cap so that one answer cannot
stall the queue for an hour; otherwise exponential backoff with jitter, so that replicas or
many alerts do not retry in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    """POSTs per message, the first included."""
    base: float = 0.5
    """Seconds before the first retry (before jitter)."""
    cap: float = 30.0
    """Longest wait between two attempts, ``Retry-After`` included."""
    timeout: float = 10.0
    """Deadline of each POST, connecting and reading the answer included."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base <= 0 or self.cap < self.base or self.timeout <= 0:
            raise ValueError(f"unusable retry policy {self!r}")


def retriable(status: int | None) -> bool:
    """Whether an answer (None: no answer at all) is worth another attempt."""
    return status is None or status in (408, 429) or status >= 500


def retry_after(header: str | None, *, now: float) -> float | None:
    """Seconds that a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    if not header:
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when: datetime = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def delay(policy: RetryPolicy, *, retry: int, asked: float | None, jitter: float) -> float:
    """Seconds before retry number ``retry`` (0 for the first); ``jitter`` in [0, 1).

    Without ``asked`` (a Retry-After), "equal jitter": half of the exponential step for sure,
    the other half at random, so a retry never comes at once yet replicas spread out."""
    if asked is not None:
        return min(max(asked, 0.0), policy.cap)
    step = min(policy.cap, policy.base * 2.0**retry)
    return step / 2 + step / 2 * jitter
