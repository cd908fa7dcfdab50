"""A remote that never answers, or a cycle that cannot finish, ends at its deadline and is
reported where an operator looks; the loop goes on."""

from __future__ import annotations

import time
from functools import partial

from reloader.kube.rest import Rest
from tests.integration.cluster import eventually
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import event_with, reloader_status

CYCLE_METRIC = "reloader_gitops_last_cycle_timestamp_seconds"


async def test_a_silent_remote_is_reported_at_the_git_deadline_and_retried(
    rest: Rest, namespace: str, kubeconfig: str, start_loop: StartLoop, silent_remote: int
) -> None:
    url = f"http://127.0.0.1:{silent_remote}/team/deploy.git"
    started = time.monotonic()
    loop = await start_loop("--git-timeout", "2s", url=url)
    event = await eventually(
        partial(event_with, rest, namespace, "SourceUnavailable", "timed out"),
        within=15,
        what="a SourceUnavailable Event",
    )
    print(f"reported {time.monotonic() - started:.1f}s after start: {event['message']}")
    assert "git ls-remote timed out after 2s" in event["message"], event["message"]
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 1
    assert "timed out" in out

    first = await loop.metric(CYCLE_METRIC)
    assert first > 0

    async def another_cycle() -> bool:
        return await loop.metric(CYCLE_METRIC) > first

    await eventually(another_cycle, within=15, what="the loop retrying (a later cycle)")


async def test_a_cycle_past_the_sync_timeout_is_ended_and_reported(
    rest: Rest, namespace: str, kubeconfig: str, start_loop: StartLoop, silent_remote: int
) -> None:
    url = f"http://127.0.0.1:{silent_remote}/team/deploy.git"
    await start_loop("--git-timeout", "60s", "--sync-timeout", "1s", url=url)
    event = await eventually(
        partial(event_with, rest, namespace, "SyncTimeout", "--sync-timeout"),
        within=15,
        what="a SyncTimeout Event",
    )
    assert event["type"] == "Warning"
    _, out = await reloader_status(kubeconfig, namespace)
    assert "did not finish within --sync-timeout 1s" in out, out
