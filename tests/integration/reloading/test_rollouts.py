"""Argo Rollouts, on the CRD Argo Rollouts ships (v1.10.2, from its Go module).

No Argo controller runs here, so nothing acts on a Rollout: what is asserted is what reloader
writes. A write to ``spec`` bumps ``metadata.generation`` and a record alone does not, so
"exactly once per change" is the generation going up by one and staying there.

The CRD is cluster-wide and shared: tests that use it hold a shared file lock, and the test
that removes it (to prove reloader runs without it) holds it exclusively and puts it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
import yaml

from reloader.core import names
from reloader.core.references import Kind
from reloader.kube.discovery import served
from reloader.kube.resources import ROLLOUTS
from reloader.kube.rest import ApiError, JSONDict, Rest
from tests.integration.cluster import (
    REPO,
    configmap,
    container,
    create,
    eventually,
    merge_patch,
    stays,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.controller import ReloaderProcess
from tests.integration.rollouts import config_hash, expect_revisions, expected_hash, wait_recorded

CRD_NAME = "rollouts.argoproj.io"
CRD_PATH = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"
LOCK = Path(tempfile.gettempdir()) / "reloader-test-rollouts-crd.lock"
AUTO = {"reloader.stakater.com/auto": "true"}
RESTART = {**AUTO, names.ROLLOUT_STRATEGY: "restart"}


def crd_file() -> Path:
    """The CRD file, fetched from the Go module (cached) by hack/rollouts-crd."""
    done = subprocess.run(
        [str(REPO / "hack" / "rollouts-crd")], check=True, capture_output=True, text=True
    )
    return Path(done.stdout.strip())


async def install_crd(rest: Rest) -> None:
    body = yaml.safe_load(await asyncio.to_thread(crd_file().read_text))
    try:
        await rest.request("POST", CRD_PATH.rpartition("/")[0], body=body)
    except ApiError as exc:
        if not exc.conflict:
            raise

    async def ready() -> bool:
        crd = await rest.get(CRD_PATH)
        conditions = (crd.get("status") or {}).get("conditions") or ()
        established = any(c["type"] == "Established" and c["status"] == "True" for c in conditions)
        return established and await served(rest, ROLLOUTS)

    await eventually(ready, within=30, what="the Rollout CRD to be served")


async def remove_crd(rest: Rest) -> None:
    with contextlib.suppress(ApiError):
        await rest.request("DELETE", CRD_PATH)

    async def gone() -> bool:
        return await rest.get_or_none(CRD_PATH) is None and not await served(rest, ROLLOUTS)

    await eventually(gone, within=60, what="the Rollout CRD to be gone")


@contextlib.asynccontextmanager
async def crd_lock(mode: int) -> AsyncIterator[None]:
    fd = await asyncio.to_thread(os.open, LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        await asyncio.to_thread(fcntl.flock, fd, mode)
        yield
    finally:
        os.close(fd)  # releases the lock


@pytest.fixture
async def crd(rest: Rest) -> AsyncIterator[None]:
    """The Rollout CRD is installed, and stays so for the test."""
    async with crd_lock(fcntl.LOCK_SH):
        await install_crd(rest)
        yield


def rollout(name: str, annotations: dict[str, str]) -> JSONDict:
    labels = {"app": name}
    pod = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}
    return {
        "apiVersion": ROLLOUTS.api_version,
        "kind": "Rollout",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
        },
    }


async def read(rest: Rest, namespace: str, name: str = "web") -> JSONDict:
    return await rest.get(ROLLOUTS.item(namespace, name))


async def recorded(rest: Rest, namespace: str, name: str) -> None:
    """Wait for reloader's first-sight record on Rollout ``name``."""

    async def done() -> bool:
        body = await read(rest, namespace, name)
        return names.OBSERVED in (body["metadata"].get("annotations") or {})

    await eventually(done, within=20, what=f"reloader to record Rollout/{name}")


def template_hash(obj: JSONDict) -> str | None:
    annotations = obj["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get(names.CONFIG_HASH)


async def change(rest: Rest, namespace: str, value: str) -> None:
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": value}})


async def start_recorded(
    rest: Rest, namespace: str, start_reloader: StartReloader, annotations: dict[str, str]
) -> tuple[ReloaderProcess, int]:
    """cfg and Rollout ``web``; reloader started and its first sight recorded."""
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await rest.request("POST", ROLLOUTS.collection(namespace), body=rollout("web", annotations))
    controller = await start_reloader()
    await recorded(rest, namespace, "web")
    body = await read(rest, namespace)
    assert template_hash(body) is None
    assert "restartAt" not in body["spec"]
    return controller, int(body["metadata"]["generation"])


async def generation_becomes(rest: Rest, namespace: str, generation: int) -> JSONDict:
    """The Rollout's spec is written exactly once more: its generation reaches and stays."""

    async def reached() -> JSONDict | None:
        body = await read(rest, namespace)
        return body if body["metadata"]["generation"] == generation else None

    await eventually(reached, within=20, what=f"Rollout/web at generation {generation}")

    async def held() -> bool:
        return await reached() is not None

    await stays(held, for_=2.0, what=f"Rollout/web staying at generation {generation}")
    return await read(rest, namespace)


async def test_strategy_rollout_changes_the_template_hash_once_per_change(
    rest: Rest, namespace: str, crd: None, start_reloader: StartReloader
) -> None:
    _, generation = await start_recorded(rest, namespace, start_reloader, AUTO)
    await change(rest, namespace, "2")
    body = await generation_becomes(rest, namespace, generation + 1)
    first = await expected_hash(rest, namespace, [(Kind.CONFIGMAP, "cfg")])
    assert template_hash(body) == first
    assert "restartAt" not in body["spec"]

    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"metadata": {"labels": {"x": "y"}}})
    await change(rest, namespace, "3")
    body = await generation_becomes(rest, namespace, generation + 2)
    assert template_hash(body) == await expected_hash(rest, namespace, [(Kind.CONFIGMAP, "cfg")])
    assert template_hash(body) != first


async def test_strategy_restart_sets_restart_at_once_per_change(
    rest: Rest, namespace: str, crd: None, start_reloader: StartReloader
) -> None:
    _, generation = await start_recorded(rest, namespace, start_reloader, RESTART)
    await change(rest, namespace, "2")
    body = await generation_becomes(rest, namespace, generation + 1)
    first = body["spec"]["restartAt"]
    assert template_hash(body) is None, "a restart makes no new revision"
    assert (
        f'"hash":"{await expected_hash(rest, namespace, [(Kind.CONFIGMAP, "cfg")])}"'
        in (body["metadata"]["annotations"][names.OBSERVED])
    )
    events = (await rest.get(f"/api/v1/namespaces/{namespace}/events"))["items"]
    assert [e["message"].split(" for ")[0] for e in events if e["reason"] == "Reloaded"] == [
        "restarted Rollout"
    ]

    # (generation_becomes held for 2 s: the next restart falls in a later second, a new value)
    await change(rest, namespace, "3")
    body = await generation_becomes(rest, namespace, generation + 2)
    assert body["spec"]["restartAt"] > first
    assert template_hash(body) is None


async def test_restarting_the_controller_rolls_no_rollout(
    rest: Rest, namespace: str, crd: None, start_reloader: StartReloader
) -> None:
    controller, generation = await start_recorded(rest, namespace, start_reloader, RESTART)
    await rest.request("POST", ROLLOUTS.collection(namespace), body=rollout("canary", AUTO))
    await recorded(rest, namespace, "canary")
    await change(rest, namespace, "2")
    await generation_becomes(rest, namespace, generation + 1)

    async def canary_generation() -> int:
        return int((await read(rest, namespace, "canary"))["metadata"]["generation"])

    await eventually(
        lambda: _equals(canary_generation(), 2), within=20, what="the canary's one roll"
    )
    assert await controller.stop() == 0
    await start_reloader()
    await generation_becomes(rest, namespace, generation + 1)
    assert await canary_generation() == 2


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_without_the_crd_reloader_is_healthy_and_picks_it_up_when_installed(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    async with crd_lock(fcntl.LOCK_EX):
        try:
            await remove_crd(rest)
            await create(rest, namespace, configmap("cfg", {"a": "1"}))
            spec = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}
            await create(rest, namespace, workload("Deployment", "web", spec, annotations=AUTO))
            controller = await start_reloader("--discovery-interval=1s")  # ready: asserted
            await wait_recorded(rest, namespace)
            await change(rest, namespace, "2")
            await expect_revisions(rest, namespace, "Deployment", "web", 2)
            assert await config_hash(rest, namespace, "Deployment", "web") == (
                await expected_hash(rest, namespace, [(Kind.CONFIGMAP, "cfg")])
            )

            await install_crd(rest)
            await rest.request("POST", ROLLOUTS.collection(namespace), body=rollout("late", AUTO))

            await recorded(rest, namespace, "late")  # picked up once served
            await change(rest, namespace, "3")

            async def rolled() -> bool:
                return template_hash(await read(rest, namespace, "late")) is not None

            await eventually(rolled, within=20, what="the late Rollout to roll")
            failures = [
                line
                for line in controller.logs()
                if line.get("level") in ("warning", "error") and "rollouts" in str(line)
            ]
            assert failures == [], "a missing CRD must not be reported as failures"
        finally:
            await install_crd(rest)  # others share it
