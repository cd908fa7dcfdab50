"""Alerts reach a real HTTP receiver on loopback, with deadlines, retries and a bounded queue
(reloader.alerting.retrying, posting, sending, calling)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate

import pytest

from reloader.alerting.calling import CallFailed, ReloadWebhook
from reloader.alerting.messages import Reload, Sink
from reloader.alerting.posting import deliver, post_json, session
from reloader.alerting.retrying import RetryPolicy, delay, retriable, retry_after
from reloader.alerting.sending import AlertSender, AlertTarget
from reloader.telemetry.metrics import ALERTS_DROPPED, ALERTS_FAILED, ALERTS_SENT
from tests.receivers import Receiver, Reply, free_port, receiving

FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05, timeout=2.0)


def _reload(name: str = "web") -> Reload:
    return Reload("Deployment", "shop", name, ("ConfigMap/cfg",), "aaaa", "bbbb", time.time())


def _value(counter: object, sink: str) -> float:
    return float(counter.labels(sink)._value.get())  # type: ignore[attr-defined]


async def _eventually(probe: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not probe():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


# --- the policy, pure ---


@pytest.mark.parametrize(
    ("status", "again"),
    [
        *[(None, True), (500, True), (503, True), (429, True), (408, True)],
        *[(200, False), (400, False), (403, False), (404, False), (410, False)],
    ],
)
def test_network_errors_5xx_408_and_429_are_retried_other_answers_are_not(
    status: int | None, again: bool
) -> None:
    assert retriable(status) is again


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_000_000.0
    assert retry_after("7", now=now) == 7.0
    assert retry_after(formatdate(now + 12, usegmt=True), now=now) == pytest.approx(12.0)
    assert retry_after(formatdate(now - 60, usegmt=True), now=now) == 0.0
    for useless in (None, "", "soon", "-3", "1.5"):
        assert retry_after(useless, now=now) is None


def test_backoff_doubles_with_jitter_within_the_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0)
    assert [delay(policy, retry=n, asked=None, jitter=0.0) for n in range(5)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        4.0,
    ]
    assert [delay(policy, retry=n, asked=None, jitter=0.999) for n in range(5)] == pytest.approx(
        [1.0, 2.0, 4.0, 8.0, 8.0], abs=0.01
    )
    assert delay(policy, retry=0, asked=3.0, jitter=0.5) == 3.0
    assert delay(policy, retry=0, asked=3600.0, jitter=0.5) == 8.0  # capped


def test_a_policy_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="unusable retry policy"):
        RetryPolicy(attempts=0)


# --- one POST, and retries, against a real receiver ---


async def test_a_post_sends_json_and_reports_the_status() -> None:
    async with receiving(Receiver()) as receiver, session() as http:
        answer = await post_json(http, receiver.url(), {"text": "hi"}, within=2.0)
    assert answer.accepted
    assert answer.status == 200
    [got] = receiver.received
    assert got.body == {"text": "hi"}
    assert got.headers["Content-Type"] == "application/json"


async def test_refused_twice_with_500_then_accepted_is_delivered_on_the_third_attempt() -> None:
    script = [Reply(500), Reply(503)]
    async with receiving(Receiver(script)) as receiver, session() as http:
        result = await deliver(http, receiver.url(), {"n": 1}, policy=FAST)
    assert result.accepted
    assert result.attempts == 3
    assert [r.body for r in receiver.received] == [{"n": 1}] * 3


async def test_429_waits_as_long_as_retry_after_asks() -> None:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    policy = RetryPolicy(attempts=3, base=0.01, cap=30.0, timeout=2.0)
    script = [Reply(429, {"Retry-After": "17"})]
    async with receiving(Receiver(script)) as receiver, session() as http:
        result = await deliver(http, receiver.url(), {}, policy=policy, sleep=sleep)
    assert result.accepted
    assert result.attempts == 2
    assert waited == [17.0]


async def test_a_refusal_that_will_not_change_is_not_retried() -> None:
    async with receiving(Receiver(then=Reply(404))) as receiver, session() as http:
        result = await deliver(http, receiver.url(), {}, policy=FAST)
    assert not result.accepted
    assert result.attempts == 1
    assert result.last.status == 404
    assert len(receiver.received) == 1


async def test_attempts_are_bounded_when_the_service_keeps_failing() -> None:
    async with receiving(Receiver(then=Reply(502))) as receiver, session() as http:
        result = await deliver(http, receiver.url(), {}, policy=FAST)
    assert not result.accepted
    assert result.attempts == FAST.attempts
    assert len(receiver.received) == FAST.attempts


async def test_a_receiver_that_never_answers_is_given_up_on_at_the_deadline() -> None:
    policy = RetryPolicy(attempts=2, base=0.01, cap=0.01, timeout=0.3)
    async with receiving(Receiver(then=Reply(hang=True))) as receiver, session() as http:
        started = time.monotonic()
        result = await deliver(http, receiver.url(), {}, policy=policy)
        took = time.monotonic() - started
    assert not result.accepted
    assert result.last.status is None
    assert result.last.detail == "no answer within 0.3s"
    assert len(receiver.received) == 2
    assert 0.6 <= took < 3.0


async def test_an_unreachable_url_is_retried_and_its_path_never_shown() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/s3cr3t-t0ken"
    async with session() as http:
        result = await deliver(http, url, {}, policy=FAST)
    assert not result.accepted
    assert result.attempts == FAST.attempts
    assert result.last.status is None
    assert result.last.detail
    assert "s3cr3t-t0ken" not in result.last.detail


async def test_the_proxy_given_carries_the_request() -> None:
    # The target host does not resolve: only the proxy can have delivered it.
    target = "http://hooks.chat.invalid/services/T0/B0/s3cr3t-t0ken"
    async with receiving(Receiver()) as proxy, session() as http:
        answer = await post_json(http, target, {"text": "hi"}, within=2.0, proxy=proxy.url("/"))
    assert answer.accepted
    [got] = proxy.received
    assert got.headers["Host"] == "hooks.chat.invalid"
    assert got.path == "/services/T0/B0/s3cr3t-t0ken"
    assert got.body == {"text": "hi"}


# --- the queue ---


async def _running(sender: AlertSender) -> asyncio.Task[None]:
    return asyncio.create_task(sender.run())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_alerts_go_out_in_order_each_in_the_sinks_format() -> None:
    async with receiving(Receiver()) as receiver:
        target = AlertTarget(url=receiver.url(), sink=Sink.SLACK, additional_info="prod")
        sender = AlertSender(target, policy=FAST)
        sent = _value(ALERTS_SENT, "slack")
        task = await _running(sender)
        for name in ("a", "b", "c"):
            sender.submit(_reload(name))
        await receiver.wait_for(3, within=5)
        await _eventually(lambda: _value(ALERTS_SENT, "slack") == sent + 3)
        await _stop(task)
    texts = [r.body["text"] for r in receiver.received]
    assert [t.split("*")[1] for t in texts] == ["Deployment/a", "Deployment/b", "Deployment/c"]
    assert all(t.startswith("prod : reloader rolled") for t in texts)


async def test_submit_never_waits_and_a_full_queue_drops_the_oldest() -> None:
    async with receiving(Receiver(then=Reply(hang=True))) as receiver:
        target = AlertTarget(url=receiver.url(), sink=Sink.GCHAT)
        sender = AlertSender(target, capacity=2, policy=FAST)
        dropped = _value(ALERTS_DROPPED, "gchat")
        task = await _running(sender)
        sender.submit(_reload("first"))
        await receiver.wait_for(1, within=5)  # "first" is in flight, hanging
        started = time.monotonic()
        for name in ("x", "y", "z"):
            sender.submit(_reload(name))
        assert time.monotonic() - started < 0.05
        assert sender.pending == 2
        assert _value(ALERTS_DROPPED, "gchat") == dropped + 1  # "x" went
        assert [r.name for r in sender._queue] == ["y", "z"]
        await _stop(task)
    assert _value(ALERTS_DROPPED, "gchat") == dropped + 3  # and "y", "z" at shutdown


async def test_an_alert_given_up_on_is_counted_and_the_next_one_still_goes() -> None:
    script = [Reply(400)]
    async with receiving(Receiver(script)) as receiver:
        sender = AlertSender(AlertTarget(url=receiver.url(), sink=Sink.TEAMS), policy=FAST)
        failed, sent = _value(ALERTS_FAILED, "teams"), _value(ALERTS_SENT, "teams")
        task = await _running(sender)
        sender.submit(_reload("refused"))
        sender.submit(_reload("fine"))
        await receiver.wait_for(2, within=5)
        await _eventually(lambda: _value(ALERTS_SENT, "teams") == sent + 1)
        assert _value(ALERTS_FAILED, "teams") == failed + 1
        await _stop(task)
    assert receiver.received[1].body["@type"] == "MessageCard"


# --- --webhook-url ---


async def test_the_reload_webhook_succeeds_only_on_2xx_and_says_why_without_the_url() -> None:
    async with receiving(Receiver([Reply(500)])) as receiver:
        hook = ReloadWebhook(receiver.url("/reload/s3cr3t-t0ken"), timeout=2.0)
        with pytest.raises(CallFailed) as caught:
            await hook.call(_reload())
        assert "HTTP 500" in str(caught.value)
        assert "s3cr3t-t0ken" not in str(caught.value)
        await hook.call(_reload())
    body = receiver.received[-1].body
    assert body["webhook"] == "update successful"
    assert (body["kind"], body["namespace"], body["name"]) == ("Deployment", "shop", "web")


async def test_the_reload_webhook_has_a_deadline() -> None:
    async with receiving(Receiver(then=Reply(hang=True))) as receiver:
        hook = ReloadWebhook(receiver.url(), timeout=0.3)
        call: Awaitable[None] = hook.call(_reload())
        async with asyncio.timeout(3):
            with pytest.raises(CallFailed, match=r"no answer within 0\.3s"):
                await call
