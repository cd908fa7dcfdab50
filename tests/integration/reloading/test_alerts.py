"""Alerts on reload, ``--webhook-url`` and Stakater Reloader's metrics, end to end: the
controller as a process, the real cluster, and a real HTTP receiver on loopback standing in
for Slack, Teams or a webhook."""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path

import pytest

from reloader.core import names
from reloader.core.deciding import Record
from reloader.core.references import Kind
from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import (
    configmap,
    container,
    create,
    eventually,
    merge_patch,
    path_of,
    secret,
    stays,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.rollouts import (
    config_hash,
    expect_revisions,
    expected_hash,
    wait_recorded,
)
from tests.receivers import Receiver, Reply, free_port, receiving

AUTO = {"reloader.stakater.com/auto": "true"}
CFG_VALUE = "cfg-value-7f3a9c"
SECRET_VALUE = "secret-value-91bd2e"


async def _app(rest: Rest, namespace: str) -> None:
    """ConfigMap ``cfg`` and Secret ``creds`` with recognisable values; Deployment ``web``
    reads both and is opted in."""
    await create(rest, namespace, configmap("cfg", {"greeting": CFG_VALUE}))
    await create(rest, namespace, secret("creds", {"password": SECRET_VALUE}))
    sources = [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds"}}]
    spec = {"containers": [container(envFrom=sources)]}
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=AUTO))


async def _change_cfg(rest: Rest, namespace: str, value: str) -> None:
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"greeting": value}})


async def _events(rest: Rest, namespace: str, reason: str) -> list[JSONDict]:
    listing = await rest.get(f"/api/v1/namespaces/{namespace}/events")
    return [e for e in listing["items"] if e.get("reason") == reason]


async def _record(rest: Rest, namespace: str) -> Record | None:
    obj = await rest.get(path_of("Deployment", namespace, "web"))
    return Record.parse((obj["metadata"].get("annotations") or {}).get(names.OBSERVED))


def _alert_env(monkeypatch: pytest.MonkeyPatch, url: str, sink: str) -> None:
    """Stakater Reloader's variables, exactly as its users set them."""
    monkeypatch.setenv("ALERT_ON_RELOAD", "true")
    monkeypatch.setenv("ALERT_SINK", sink)
    monkeypatch.setenv("ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("ALERT_ADDITIONAL_INFO", "cluster kind-test")


async def test_a_change_rolls_once_and_sends_exactly_one_alert_without_values(
    rest: Rest, namespace: str, start_reloader: StartReloader, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _app(rest, namespace)
    async with receiving(Receiver()) as slack:
        _alert_env(monkeypatch, slack.url(), "slack")
        monkeypatch.setenv("METRICS_COUNT_BY_NAMESPACE", "enabled")
        proc = await start_reloader()
        await wait_recorded(rest, namespace)
        await _change_cfg(rest, namespace, "cfg-value-changed-5e1d")
        await expect_revisions(rest, namespace, "Deployment", "web", 2)
        await slack.wait_for(1, within=10)
        await stays(lambda: _count_is(slack, 1), for_=2.0, what="exactly one alert")

    [alert] = slack.received
    assert alert.path == "/hooks/T000/B000/s3cr3t-t0ken"
    message = alert.body["text"]
    assert message.startswith("cluster kind-test : reloader rolled *Deployment/web*")
    assert f"namespace *{namespace}*" in message
    assert "*ConfigMap/cfg*" in message
    assert "Secret/creds" not in message
    for value in (CFG_VALUE, "cfg-value-changed-5e1d", SECRET_VALUE):
        assert value not in json.dumps(alert.body)
    assert await proc.metric("reloader_reload_executed_total", success="true") == 1
    assert await proc.metric("reloader_reload_executed_total", success="false") == 0
    assert (
        await proc.metric(
            "reloader_reload_executed_total_by_namespace", success="true", namespace=namespace
        )
        == 1
    )
    assert await proc.metric("reloader_alerts_sent_total", sink="slack") == 1
    # The URL is a credential: it is never logged.
    assert "s3cr3t-t0ken" not in proc.log_path.read_text()


async def _count_is(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) == count


async def test_raw_alerts_from_reloader_flags_describe_the_change_as_data(
    rest: Rest, namespace: str, start_reloader: StartReloader, tmp_path: Path
) -> None:
    await _app(rest, namespace)
    async with receiving(Receiver()) as hook:
        url_file = tmp_path / "alert-url"
        url_file.write_text(hook.url() + "\n")
        proc = await start_reloader(
            "--alert-on-reload=true",
            "--alert-sink=raw",
            f"--alert-webhook-url-file={url_file}",
        )
        await wait_recorded(rest, namespace)
        await merge_patch(rest, namespace, "Secret", "creds", {"stringData": {"password": "n3w"}})
        await expect_revisions(rest, namespace, "Deployment", "web", 2)
        [alert] = await hook.wait_for(1, within=10)
    body = alert.body
    assert (body["kind"], body["namespace"], body["name"]) == ("Deployment", namespace, "web")
    assert body["changed"] == ["Secret/creds"]
    assert body["newHash"] == await config_hash(rest, namespace, "Deployment", "web")
    sent_at = calendar.timegm(time.strptime(body["time"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(time.time() - sent_at) < 120
    assert SECRET_VALUE not in json.dumps(body)
    assert "n3w" not in json.dumps(body)
    # Without --metrics-count-by-namespace, no series per namespace.
    by_namespace = await proc.metric(
        "reloader_reload_executed_total_by_namespace", success="true", namespace=namespace
    )
    assert by_namespace == 0


async def test_an_alert_refused_twice_is_delivered_on_retry(
    rest: Rest, namespace: str, start_reloader: StartReloader, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _app(rest, namespace)
    async with receiving(Receiver([Reply(500), Reply(500)])) as teams:
        _alert_env(monkeypatch, teams.url(), "teams")
        proc = await start_reloader()
        await wait_recorded(rest, namespace)
        await _change_cfg(rest, namespace, "v2")
        await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=0)
        received = await teams.wait_for(3, within=20)
        await eventually(
            lambda: proc.metric("reloader_alerts_sent_total", sink="teams"),
            within=10,
            what="the alert counted as sent",
        )
    assert [r.body for r in received] == [received[0].body] * 3  # the same message each time
    assert received[0].body["@type"] == "MessageCard"
    assert await proc.metric("reloader_alerts_failed_total", sink="teams") == 0


async def test_a_sink_that_never_answers_does_not_delay_reloads(
    rest: Rest, namespace: str, start_reloader: StartReloader, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _app(rest, namespace)
    async with receiving(Receiver(then=Reply(hang=True))) as dead:
        _alert_env(monkeypatch, dead.url(), "slack")
        await start_reloader()
        await wait_recorded(rest, namespace)
        for count, value in ((2, "v2"), (3, "v3")):
            # Each alert POST may hang for 10 s, five times over; each reload must not wait.
            started = time.monotonic()
            await _change_cfg(rest, namespace, value)
            await eventually(
                lambda: _hash_matches(rest, namespace),
                within=5.0,
                what=f"Deployment/web re-hashed for {value}",
            )
            assert time.monotonic() - started < 5.0
            await expect_revisions(rest, namespace, "Deployment", "web", count, hold=0)
        assert len(dead.received) >= 1  # the first alert is still hanging in there


async def _hash_matches(rest: Rest, namespace: str) -> bool:
    want = await expected_hash(rest, namespace, [(Kind.CONFIGMAP, "cfg"), (Kind.SECRET, "creds")])
    return await config_hash(rest, namespace, "Deployment", "web") == want


async def test_webhook_url_is_called_instead_of_rolling_and_not_again_after_a_restart(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await _app(rest, namespace)
    async with receiving(Receiver()) as hook:
        first = await start_reloader("--webhook-url", hook.url("/reload"))
        await wait_recorded(rest, namespace)
        template_before = await config_hash(rest, namespace, "Deployment", "web")
        await _change_cfg(rest, namespace, "v2")
        [call] = await hook.wait_for(1, within=10)
        want = await expected_hash(
            rest, namespace, [(Kind.CONFIGMAP, "cfg"), (Kind.SECRET, "creds")]
        )

        async def recorded() -> bool:
            record = await _record(rest, namespace)
            return record is not None and record.hash == want

        await eventually(recorded, within=10, what="the record of the change written")
        await expect_revisions(rest, namespace, "Deployment", "web", 1)  # not rolled
        assert await config_hash(rest, namespace, "Deployment", "web") == template_before
        assert call.path == "/reload"
        assert call.body["webhook"] == "update successful"
        assert (call.body["kind"], call.body["name"]) == ("Deployment", "web")
        assert call.body["namespace"] == namespace
        assert call.body["changed"] == ["ConfigMap/cfg"]
        assert call.body["newHash"] == want
        assert await first.metric("reloader_reload_executed_total", success="true") == 1
        assert await first.metric("reloader_reloads_total", kind="Deployment", result="called") == 1
        assert await _events(rest, namespace, "Reloaded")

        assert await first.stop() == 0
        await start_reloader("--webhook-url", hook.url("/reload"))
        await stays(lambda: _count_is(hook, 1), for_=3.0, what="no second call after a restart")
        await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=0)


async def test_webhook_url_down_is_retried_until_it_accepts(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await _app(rest, namespace)
    port = free_port()
    url = f"http://127.0.0.1:{port}/reload/s3cr3t-t0ken"
    proc = await start_reloader("--webhook-url", url)
    await wait_recorded(rest, namespace)
    baseline = await _record(rest, namespace)
    await _change_cfg(rest, namespace, "v2")
    await eventually(
        lambda: proc.metric("reloader_reload_executed_total", success="false"),
        within=10,
        what="a failed reload counted",
    )
    failed = await eventually(
        lambda: _events(rest, namespace, names.REASON_RELOAD_FAILED),
        within=10,
        what="a ReloadFail Event",
    )
    assert failed[0]["type"] == "Warning"
    assert failed[0]["reason"] == "ReloadFail"
    assert "s3cr3t-t0ken" not in failed[0]["message"]
    assert await _record(rest, namespace) == baseline  # nothing recorded while it is down

    async with receiving(Receiver(), port=port) as hook:
        [call] = await hook.wait_for(1, within=20)
        assert call.body["changed"] == ["ConfigMap/cfg"]

        async def recorded() -> bool:
            return await _record(rest, namespace) != baseline

        await eventually(recorded, within=10, what="the record written once the URL accepted")
        await stays(lambda: _count_is(hook, 1), for_=2.0, what="exactly one accepted call")
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=0)
    assert await proc.metric("reloader_reload_executed_total", success="true") == 1
    assert "s3cr3t-t0ken" not in proc.log_path.read_text()
