"""``deployment.reloader.stakater.com/pause-period``: changes inside the window after a reload
roll once, at its end, and a restart keeps the window (nothing is paused on the server)."""

from __future__ import annotations

import json
import time

from reloader.core import names
from reloader.core.references import Kind
from reloader.kube.rest import Rest
from tests.integration.cluster import (
    configmap,
    container,
    create,
    eventually,
    merge_patch,
    path_of,
    revisions,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.rollouts import config_hash, expect_revisions, expected_hash, wait_recorded

PERIOD = 8
SPEC = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}


async def setup(rest: Rest, namespace: str) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    annotations = {names.AUTO: "true", names.PAUSE_PERIOD: f"{PERIOD}s"}
    await create(rest, namespace, workload("Deployment", "web", SPEC, annotations=annotations))


async def change(rest: Rest, namespace: str, value: str) -> None:
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": value}})


async def rolled_at(rest: Rest, namespace: str) -> int:
    obj = await rest.get(path_of("Deployment", namespace, "web"))
    record = json.loads(obj["metadata"]["annotations"][names.OBSERVED])
    stamp = record.get("rolled")
    assert isinstance(stamp, int), record
    return stamp


async def third_revision_after_the_window(rest: Rest, namespace: str, window_end: int) -> None:
    async def third() -> float | None:
        return time.time() if await revisions(rest, namespace, "Deployment", "web") >= 3 else None

    seen_at = await eventually(third, within=PERIOD + 30, what="the roll at the window's end")
    assert seen_at >= window_end - 1, "rolled inside the pause period"
    await expect_revisions(rest, namespace, "Deployment", "web", 3, hold=2.0)
    assert await config_hash(rest, namespace, "Deployment", "web") == await expected_hash(
        rest, namespace, [(Kind.CONFIGMAP, "cfg")]
    )


async def test_changes_inside_the_window_roll_once_at_its_end(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await setup(rest, namespace)
    await start_reloader()
    await wait_recorded(rest, namespace)

    await change(rest, namespace, "2")  # the first reload is not delayed
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=0.2)
    window_end = await rolled_at(rest, namespace) + PERIOD

    await change(rest, namespace, "3")
    await change(rest, namespace, "4")
    await third_revision_after_the_window(rest, namespace, window_end)


async def test_a_restart_inside_the_window_keeps_it(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await setup(rest, namespace)
    controller = await start_reloader()
    await wait_recorded(rest, namespace)
    await change(rest, namespace, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=0.2)
    window_end = await rolled_at(rest, namespace) + PERIOD

    await controller.stop()
    await change(rest, namespace, "3")
    await start_reloader()
    await third_revision_after_the_window(rest, namespace, window_end)
    deployment = await rest.get(path_of("Deployment", namespace, "web"))
    assert not deployment["spec"].get("paused"), "reloader never pauses a Deployment"
