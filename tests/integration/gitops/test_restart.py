"""A loop killed in the middle of applying a revision converges when it starts again."""

from __future__ import annotations

import json
import signal
from functools import partial

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, eventually, path_of
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    GitRepo,
    is_applied,
    reloader_status,
    state,
)

MANY = 150


async def _created(rest: Rest, namespace: str) -> int:
    answer = await rest.get(path_of("ConfigMap", namespace), {"labelSelector": "batch=many"})
    return len(answer["items"])


async def test_sigkill_during_an_apply_then_restart_converges(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("seed.yaml", configmap("seed", {"x": "1"}))
    first = repo.commit("seed")
    args = ("--prune", "true")
    loop = await start_loop(*args)
    await eventually(partial(is_applied, rest, namespace, first), within=10, what="seed applied")

    many = []
    for i in range(MANY):
        obj = configmap(f"many-{i:03d}", {"index": str(i)})
        obj["metadata"]["labels"] = {"batch": "many"}
        many.append(obj)
    repo.put("many.yaml", *many)
    sha = repo.commit(f"{MANY} ConfigMaps")

    async def applying() -> int:
        return await _created(rest, namespace)

    await eventually(applying, within=15, what="the apply of the big revision to start", interval=0)
    await loop.stop(signal.SIGKILL)
    at_kill = await _created(rest, namespace)
    print(f"{at_kill} of {MANY} ConfigMaps existed when the loop was killed")
    assert not await is_applied(rest, namespace, sha), "killed too late: nothing was interrupted"

    await start_loop(*args)

    async def all_there() -> bool:
        return await _created(rest, namespace) == MANY

    await eventually(all_there, within=30, what=f"all {MANY} ConfigMaps")
    await eventually(partial(is_applied, rest, namespace, sha), within=30, what="state naming it")
    inventory = (await state(rest, namespace))["inventory"]
    assert len(inventory) == MANY + 1
    code, out = await reloader_status(kubeconfig, namespace, "--output", "json")
    assert code == 0, out
    assert json.loads(out)["last_applied"]["sha"] == sha
