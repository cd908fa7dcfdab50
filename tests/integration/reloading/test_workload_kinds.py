"""StatefulSets, DaemonSets and CronJobs reload exactly like Deployments: once per change."""

from __future__ import annotations

import pytest

from reloader.core.references import Kind
from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import (
    configmap,
    container,
    create,
    eventually,
    merge_patch,
    path_of,
    stays,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.controller import ReloaderProcess
from tests.integration.rollouts import config_hash, expect_revisions, expected_hash

AUTO = {"reloader.stakater.com/auto": "true"}
CFG = (Kind.CONFIGMAP, "cfg")
SPEC: JSONDict = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}
ROLLING_KINDS = pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])


async def change(rest: Rest, namespace: str, value: str) -> None:
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": value}})


async def start_observed(
    rest: Rest, namespace: str, kind: str, start_reloader: StartReloader
) -> ReloaderProcess:
    """Create cfg and an auto ``kind`` named web, start reloader, wait for its first record."""
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, workload(kind, "web", SPEC, annotations=AUTO))
    controller = await start_reloader()

    async def recorded() -> bool:
        obj = await rest.get(path_of(kind, namespace, "web"))
        return "reloader.dev/observed" in (obj["metadata"].get("annotations") or {})

    await eventually(recorded, within=10, what=f"reloader to record {kind}/web")
    return controller


async def assert_hash_is_expected(rest: Rest, namespace: str, kind: str) -> None:
    assert await config_hash(rest, namespace, kind, "web") == await expected_hash(
        rest, namespace, [CFG]
    )


@ROLLING_KINDS
async def test_rolls_exactly_once_per_content_change(
    rest: Rest, namespace: str, start_reloader: StartReloader, kind: str
) -> None:
    await start_observed(rest, namespace, kind, start_reloader)
    await expect_revisions(rest, namespace, kind, "web", 1)

    await change(rest, namespace, "2")
    await expect_revisions(rest, namespace, kind, "web", 2)
    await change(rest, namespace, "3")
    await expect_revisions(rest, namespace, kind, "web", 3)
    await assert_hash_is_expected(rest, namespace, kind)


@ROLLING_KINDS
async def test_restarting_the_controller_rolls_nothing(
    rest: Rest, namespace: str, start_reloader: StartReloader, kind: str
) -> None:
    first = await start_observed(rest, namespace, kind, start_reloader)
    await change(rest, namespace, "2")
    await expect_revisions(rest, namespace, kind, "web", 2)

    assert await first.stop() == 0
    await start_reloader()
    await expect_revisions(rest, namespace, kind, "web", 2)
    await assert_hash_is_expected(rest, namespace, kind)
    # ...and the restarted controller is live: the next change rolls once.
    await change(rest, namespace, "3")
    await expect_revisions(rest, namespace, kind, "web", 3)


async def test_cronjob_job_template_hash_changes_exactly_when_content_changes(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await start_observed(rest, namespace, "CronJob", start_reloader)

    async def hash_is(value: str | None) -> bool:
        return await config_hash(rest, namespace, "CronJob", "web") == value

    await stays(lambda: hash_is(None), for_=1.5, what="no hash before any change")

    await change(rest, namespace, "2")
    first = await expected_hash(rest, namespace, [CFG])
    await eventually(lambda: hash_is(first), within=10, what="the hash of the changed content")
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"metadata": {"labels": {"x": "y"}}})
    await stays(lambda: hash_is(first), for_=1.5, what="the hash through a label-only edit")

    await change(rest, namespace, "3")
    second = await expected_hash(rest, namespace, [CFG])
    assert second != first
    await eventually(lambda: hash_is(second), within=10, what="the hash of the new content")
    await stays(lambda: hash_is(second), for_=1.5, what="the hash after one change")
