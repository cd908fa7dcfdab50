"""Exactly once: restarts, changes while down, opt-in, label edits, bursts."""

from __future__ import annotations

import asyncio
import signal

from reloader.core.references import Kind
from reloader.kube.rest import Rest
from tests.integration.cluster import (
    configmap,
    container,
    create,
    merge_patch,
    secret,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.rollouts import (
    config_hash,
    expect_revisions,
    expected_hash,
    wait_recorded,
)

AUTO = {"reloader.stakater.com/auto": "true"}


def env_from(*refs: tuple[str, str]) -> dict[str, object]:
    sources = [
        {"configMapRef" if kind == "ConfigMap" else "secretRef": {"name": name}}
        for kind, name in refs
    ]
    return {"containers": [container(envFrom=sources)]}


async def test_opting_in_a_running_workload_does_not_restart_it(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, workload("Deployment", "web", env_from(("ConfigMap", "cfg"))))
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=0)
    await start_reloader()
    await merge_patch(rest, namespace, "Deployment", "web", {"metadata": {"annotations": AUTO}})
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    # ...and it is really opted in: the next content change rolls it once.
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)


async def test_label_only_edit_rolls_nothing_and_content_edit_rolls_once(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    spec = env_from(("ConfigMap", "cfg"))
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=AUTO))
    await start_reloader()
    await merge_patch(
        rest, namespace, "ConfigMap", "cfg", {"metadata": {"labels": {"touched": "yes"}}}
    )
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    assert await config_hash(rest, namespace, "Deployment", "web") == await expected_hash(
        rest, namespace, [(Kind.CONFIGMAP, "cfg")]
    )


async def test_restart_rolls_nothing_and_change_while_down_rolls_once(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    spec = env_from(("ConfigMap", "cfg"))
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=AUTO))
    first = await start_reloader()
    await wait_recorded(rest, namespace)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)

    assert await first.stop() == 0
    await start_reloader()
    await expect_revisions(rest, namespace, "Deployment", "web", 2)

    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "3"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 3)


async def test_change_made_while_controller_is_down_rolls_exactly_once_on_start(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    spec = env_from(("ConfigMap", "cfg"))
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=AUTO))
    controller = await start_reloader()
    await wait_recorded(rest, namespace)
    await controller.stop(signal.SIGKILL)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "3"}})
    await start_reloader()
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    assert await config_hash(rest, namespace, "Deployment", "web") == await expected_hash(
        rest, namespace, [(Kind.CONFIGMAP, "cfg")]
    )


async def test_burst_of_edits_to_configmap_and_secret_rolls_once_for_settled_content(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "0"}))
    await create(rest, namespace, secret("creds", {"token": "0"}))
    spec = env_from(("ConfigMap", "cfg"), ("Secret", "creds"))
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=AUTO))
    await start_reloader()
    await wait_recorded(rest, namespace)

    async def edit(i: int) -> None:
        await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": str(i)}})

    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(1, 51):  # 50 edits, in about a second
        await edit(i)
        await asyncio.sleep(max(0.0, started + i * 0.02 - loop.time()))
    await merge_patch(rest, namespace, "Secret", "creds", {"stringData": {"token": "1"}})
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"b": "x"}})

    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=2.0)
    assert await config_hash(rest, namespace, "Deployment", "web") == await expected_hash(
        rest, namespace, [(Kind.CONFIGMAP, "cfg"), (Kind.SECRET, "creds")]
    )
