"""Nothing lost, nothing extra: an API server restart, an expired watch, a frozen controller."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import pytest

from reloader.core.references import Kind
from reloader.kube.rest import Rest
from tests.integration.cluster import (
    REPO,
    configmap,
    create,
    create_opted_in_app,
    eventually,
    merge_patch,
)
from tests.integration.conftest import StartReloader
from tests.integration.controller import ReloaderProcess
from tests.integration.rollouts import (
    config_hash,
    expect_revisions,
    expected_hash,
    wait_recorded,
)

needs_local_cluster = pytest.mark.skipif(
    bool(os.environ.get("RELOADER_TEST_KUBECONFIG")),
    reason="restarts kube-apiserver, which only the local cluster (hack/local-cluster) allows",
)


async def restart_apiserver() -> None:
    proc = await asyncio.create_subprocess_exec(
        str(REPO / "hack" / "local-cluster"), "restart-apiserver", stderr=subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


async def _watch_restarts(proc: ReloaderProcess, reason: str) -> float:
    total = 0.0
    for resource in ("configmaps", "secrets", "deployments"):
        total += await proc.metric(
            "reloader_watch_restarts_total", resource=resource, reason=reason
        )
    return total


@needs_local_cluster
async def test_api_server_restart_with_a_change_meanwhile_rolls_exactly_once(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create_opted_in_app(rest, namespace)
    controller = await start_reloader()
    await wait_recorded(rest, namespace)

    # Freeze the controller so it cannot follow, change content, restart the API server,
    # then let the controller resume from the resourceVersion it had.
    controller.signal(signal.SIGSTOP)
    try:
        await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
        await restart_apiserver()
    finally:
        controller.signal(signal.SIGCONT)

    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=2.0, within=120)
    assert await config_hash(rest, namespace, "Deployment", "web") == await expected_hash(
        rest, namespace, [(Kind.CONFIGMAP, "cfg")]
    )
    restarts = [await _watch_restarts(controller, r) for r in ("closed", "error", "expired")]
    assert sum(restarts) >= 1, "the controller's watches should have seen the API server go away"

    # Still alive and following: the next change rolls once more.
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "3"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 3, within=120)


@needs_local_cluster
async def test_expired_resource_version_relists_and_loses_no_change(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create_opted_in_app(rest, namespace)
    controller = await start_reloader()
    await wait_recorded(rest, namespace)

    controller.signal(signal.SIGSTOP)
    try:
        # The restarted API server's watch cache starts at the current revision, so the
        # frozen controller's resourceVersion is too old for it: its resumed watch gets 410
        # and must relist, and find the change made after the restart.
        await restart_apiserver()
        for i in range(20):
            await create(rest, namespace, configmap(f"noise-{i}", {"i": str(i)}))
        await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    finally:
        controller.signal(signal.SIGCONT)

    await eventually(
        lambda: _watch_restarts(controller, "expired"),
        within=30,
        what="a watch to report 410 Gone and relist",
    )
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=2.0, within=120)
    assert await config_hash(rest, namespace, "Deployment", "web") == await expected_hash(
        rest, namespace, [(Kind.CONFIGMAP, "cfg")]
    )


async def test_deleted_required_object_holds_until_it_returns_with_new_content(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create_opted_in_app(rest, namespace)
    controller = await start_reloader()
    await wait_recorded(rest, namespace)
    controller.signal(signal.SIGSTOP)
    try:
        await rest.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/cfg")
    finally:
        controller.signal(signal.SIGCONT)
    await expect_revisions(rest, namespace, "Deployment", "web", 1)  # no pods that can't start
    await create(rest, namespace, configmap("cfg", {"a": "1"}))  # back as it was: nothing to do
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
