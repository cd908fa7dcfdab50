"""What the controller asks the API server to watch, counted against a fake server.

A namespace selector used to start a watch per resource per selected namespace (1 + 6N: 3,001
for 500 namespaces); it now costs one watch per resource plus one of Namespaces, whatever N.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import cast

import aiohttp
import pytest

from reloader.core.hashing import Hasher
from reloader.core.references import Kind
from reloader.core.settings import Settings
from reloader.kube.resources import CONFIGMAPS, SECRETS, WORKLOADS
from reloader.kube.rest import JSONDict, Query, Rest
from reloader.reloading.controller import Controller

RESOURCES = 2 + len(WORKLOADS)
PER_NAMESPACE = re.compile(r"/namespaces/[^/]+/")


class _FakeApi:
    """Lists ``namespaces`` selected namespaces and nothing else; records every watch."""

    def __init__(self, namespaces: int) -> None:
        self.namespaces = [f"team-{i}" for i in range(namespaces)]
        self.watches: list[tuple[str, Query]] = []

    async def get(self, path: str, query: Query | None = None) -> JSONDict:
        items = []
        if path == "/api/v1/namespaces":
            items = [{"metadata": {"name": n, "labels": {"team": "x"}}} for n in self.namespaces]
        return {"items": items, "metadata": {"resourceVersion": "1"}}

    async def stream(
        self, path: str, query: Query, *, limits: aiohttp.ClientTimeout
    ) -> AsyncIterator[JSONDict]:
        self.watches.append((path, dict(query)))
        await asyncio.Event().wait()  # a watch that stays open
        yield {}


async def _watches(settings: Settings, namespaces: int = 0) -> list[tuple[str, Query]]:
    api = _FakeApi(namespaces)
    controller = Controller(rest=cast(Rest, api), settings=settings, hasher=Hasher(b"k" * 32))
    task = asyncio.create_task(controller.run())
    try:
        for _ in range(1000):  # a list is answered at once: ready within a few loop turns
            if controller.ready:
                break
            await asyncio.sleep(0.01)
        assert controller.ready
        await asyncio.sleep(0.05)  # a watch opens right after its list: none is still to come
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return api.watches


@pytest.mark.parametrize("namespaces", [1, 500])
async def test_a_namespace_selector_costs_one_watch_per_resource_whatever_it_selects(
    namespaces: int,
) -> None:
    watches = await _watches(Settings(namespace_selector="team=x"), namespaces)
    paths = [path for path, _ in watches]
    assert len(watches) == RESOURCES + 1  # was 1 + 6 * namespaces
    assert len(set(paths)) == len(paths)
    assert not [p for p in paths if PER_NAMESPACE.search(p)]
    assert ("/api/v1/namespaces", "team=x") in [(p, q.get("labelSelector")) for p, q in watches]


async def test_namespaces_and_a_selector_watch_each_namespace_and_the_selector() -> None:
    watches = await _watches(Settings(namespaces=("a", "b"), namespace_selector="team=x"), 500)
    assert len(watches) == 2 * RESOURCES + 1


async def test_ignored_namespaces_are_left_out_by_the_server() -> None:
    watches = await _watches(
        Settings(namespace_selector="team=x", namespaces_to_ignore=("kube-system", "x")), 3
    )
    for path, query in watches:
        field = "metadata.name" if path == "/api/v1/namespaces" else "metadata.namespace"
        assert query["fieldSelector"] == f"{field}!=kube-system,{field}!=x"


async def test_with_a_namespace_list_the_ignored_ones_are_not_watched() -> None:
    watches = await _watches(Settings(namespaces=("a", "b"), namespaces_to_ignore=("b",)))
    assert len(watches) == RESOURCES
    assert all("/namespaces/a/" in path for path, _ in watches)
    assert all("fieldSelector" not in query for _, query in watches)


async def test_the_resource_label_selector_narrows_configmaps_and_secrets_only() -> None:
    watches = dict(await _watches(Settings(resource_label_selector="reload=yes")))
    for resource in (CONFIGMAPS, SECRETS):
        assert watches[resource.collection(None)]["labelSelector"] == "reload=yes"
    for workload in WORKLOADS:
        assert "labelSelector" not in watches[workload.collection(None)]


async def test_an_ignored_kind_is_not_watched() -> None:
    settings = Settings(ignored_resources=frozenset({Kind.SECRET}))
    paths = {path for path, _ in await _watches(settings)}
    assert SECRETS.collection(None) not in paths
    assert CONFIGMAPS.collection(None) in paths
    settings = Settings(ignored_workload_kinds=frozenset({"CronJob", "Deployment"}))
    paths = {path for path, _ in await _watches(settings)}
    assert len(paths) == RESOURCES - 2
    assert not {"/apis/batch/v1/cronjobs", "/apis/apps/v1/deployments"} & paths
