"""Namespace selection, a debounce window that survives restarts, and a lost hash key."""

from __future__ import annotations

import contextlib
import signal

from reloader.core.references import Kind
from reloader.kube.rest import ApiError, Rest
from tests.integration.cluster import (
    create_opted_in_app,
    eventually,
    merge_patch,
)
from tests.integration.conftest import StartReloader
from tests.integration.rollouts import (
    config_hash,
    expect_revisions,
    expected_hash,
    wait_recorded,
)


async def _record(rest: Rest, namespace: str) -> str | None:
    obj = await rest.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
    value: str | None = (obj["metadata"].get("annotations") or {}).get("reloader.dev/observed")
    return value


async def _label_namespace(rest: Rest, namespace: str, value: str | None) -> None:
    await rest.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        body={"metadata": {"labels": {"reloader-test/selected": value}}},
        content_type="application/merge-patch+json",
    )


async def test_namespace_selector_follows_namespace_labels(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create_opted_in_app(rest, namespace)
    selector = f"reloader-test/selected={namespace[-6:]}"
    controller = await start_reloader("--namespace-selector", selector, scoped=False)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 1)  # not selected: untouched
    assert await _record(rest, namespace) is None

    await _label_namespace(rest, namespace, namespace[-6:])
    await eventually(lambda: _record(rest, namespace), within=15, what="the namespace adopted")
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "3"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)

    await _label_namespace(rest, namespace, None)  # deselected: acted on no more

    async def let_go() -> bool:  # its objects stay indexed (a cluster-wide watch holds them)
        return any(
            line.get("event") == "stopped watching" and line.get("namespace") == namespace
            for line in controller.logs()
        )

    await eventually(let_go, within=15, what="the deselected namespace to be let go")
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "4"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=2.0)


async def test_many_selected_namespaces_each_hold_watches_and_all_are_served(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    """25 selected namespaces are all served (they once needed 150 watches, more than the
    client library's pool of 100; a selector now costs one watch per resource)."""
    tag = namespace[-6:]
    others = [f"{namespace}-{i}" for i in range(24)]
    try:
        for other in others:
            await rest.request(
                "POST",
                "/api/v1/namespaces",
                body={"metadata": {"name": other, "labels": {"reloader-test/selected": tag}}},
            )
        await create_opted_in_app(rest, namespace)
        await _label_namespace(rest, namespace, tag)
        controller = await start_reloader(
            "--namespace-selector", f"reloader-test/selected={tag}", scoped=False
        )  # ready: every namespace's initial lists are in
        assert len([line for line in controller.logs() if line.get("event") == "watching"]) == 25
        await eventually(lambda: _record(rest, namespace), within=15, what="the first record")
        await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
        await expect_revisions(rest, namespace, "Deployment", "web", 2)
    finally:
        for other in others:
            with contextlib.suppress(ApiError):
                await rest.request("DELETE", f"/api/v1/namespaces/{other}")


async def test_debounce_window_survives_a_controller_restart(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create_opted_in_app(rest, namespace)
    first = await start_reloader("--debounce", "4s")
    await eventually(lambda: _record(rest, namespace), within=15, what="the first record")
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await first.stop(signal.SIGKILL)  # mid-window: the pending roll lived only in memory
    await start_reloader("--debounce", "4s")
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "3"}})
    # One rollout for the settled content, not one for a=2 on restart and one for a=3.
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=3.0)
    assert await config_hash(rest, namespace, "Deployment", "web") == await expected_hash(
        rest, namespace, [(Kind.CONFIGMAP, "cfg")]
    )


async def test_lost_hash_key_re_records_without_rolling_and_warns(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create_opted_in_app(rest, namespace)
    first = await start_reloader()
    await wait_recorded(rest, namespace)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    old_record = await _record(rest, namespace)
    await first.stop()

    await rest.request("DELETE", f"/api/v1/namespaces/{namespace}/secrets/reloader-hash-key")
    await start_reloader()

    async def re_recorded() -> bool:
        return await _record(rest, namespace) not in (None, old_record)

    await eventually(re_recorded, within=15, what="the workload re-recorded with the new key")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    events = await rest.get(f"/api/v1/namespaces/{namespace}/events")
    reasons = {(e["reason"], e["type"]) for e in events["items"]}
    assert ("HashKeyChanged", "Warning") in reasons

    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "3"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 3)  # and it keeps working
