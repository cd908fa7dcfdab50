"""A force-push is applied (git is the truth) and recorded: an Event and a status line."""

from __future__ import annotations

from functools import partial

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, eventually
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    GitRepo,
    data_of,
    events,
    is_applied,
    reloader_status,
)


async def test_a_rewritten_history_is_applied_and_recorded(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("cm.yaml", configmap("cm", {"v": "1"}))
    repo.commit("one")
    repo.put("cm.yaml", configmap("cm", {"v": "2"}))
    second = repo.commit("two")
    await start_loop()
    await eventually(partial(is_applied, rest, namespace, second), within=15, what="applied")

    repo.put("cm.yaml", configmap("cm", {"v": "3"}))
    third = repo.commit("three, a fast-forward")
    await eventually(partial(is_applied, rest, namespace, third), within=15, what="applied")
    assert await events(rest, namespace, "HistoryRewritten") == []

    repo.git("reset", "--quiet", "--hard", "HEAD~2")
    repo.put("cm.yaml", configmap("cm", {"v": "rewritten"}))
    rewritten = repo.commit("history rewritten")
    await eventually(partial(is_applied, rest, namespace, rewritten), within=15, what="applied")
    assert await data_of(rest, namespace, "cm") == {"v": "rewritten"}
    found = await events(rest, namespace, "HistoryRewritten")
    assert len(found) == 1, found
    assert rewritten[:12] in found[0]["message"]
    assert third[:12] in found[0]["message"]
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 0, out
    assert f"history:         revision {rewritten[:12]} does not descend from" in out, out
