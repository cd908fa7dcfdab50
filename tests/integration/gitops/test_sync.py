"""The loop applies each new revision of git: everything it holds, once, and nothing more."""

from __future__ import annotations

import json
from functools import partial

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, deployment, eventually, path_of, secret, stays
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    GitRepo,
    data_of,
    event_with,
    is_applied,
    opted_in_deployment,
    reloader_status,
    state,
)
from tests.integration.rollouts import expect_revisions


async def test_first_sync_creates_every_object_and_status_shows_the_revision(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("apps/web.yaml", configmap("web-config", {"greeting": "hello"}), deployment("web"))
    repo.put("apps/secrets/creds.yml", secret("web-creds", {"token": "s3cret"}))
    bot = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"}}
    repo.write("accounts/bot.json", json.dumps(bot))
    repo.write("README.md", "Not a manifest: the loop reads .yaml, .yml and .json only.\n")
    sha = repo.commit("first revision")

    await start_loop()

    paths = [
        path_of("ConfigMap", namespace, "web-config"),
        path_of("Deployment", namespace, "web"),
        path_of("Secret", namespace, "web-creds"),
        f"/api/v1/namespaces/{namespace}/serviceaccounts/bot",
    ]
    for path in paths:
        await eventually(partial(rest.get_or_none, path), within=10, what=f"{path} created")
    recorded = {
        (e.get("group"), e["kind"], e["name"]) for e in (await state(rest, namespace))["inventory"]
    }
    assert recorded == {
        ("", "ConfigMap", "web-config"),
        ("apps", "Deployment", "web"),
        ("", "Secret", "web-creds"),
        ("", "ServiceAccount", "bot"),
    }

    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 0, out
    assert sha[:12] in out
    assert "first revision" in out
    code, out = await reloader_status(kubeconfig, namespace, "--output", "json")
    assert code == 0, out
    status = json.loads(out)
    assert status["last_applied"]["sha"] == sha
    assert status["healthy"] is True
    assert status["errors"] == []


async def test_new_commit_updates_the_changed_object_and_no_other(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("app.yaml", configmap("settings", {"mode": "a"}))
    repo.put("other.yaml", configmap("other", {"x": "1"}))
    repo.commit("first")
    await start_loop()
    other = await eventually(
        lambda: rest.get_or_none(path_of("ConfigMap", namespace, "other")),
        within=10,
        what="the first revision applied",
    )

    repo.put("app.yaml", configmap("settings", {"mode": "b"}))
    sha = repo.commit("switch to mode b")

    async def updated() -> bool:
        return await data_of(rest, namespace, "settings") == {"mode": "b"}

    await eventually(updated, within=10, what="the ConfigMap updated from the new commit")
    await eventually(
        lambda: is_applied(rest, namespace, sha), within=10, what="state naming the commit"
    )
    synced = await eventually(
        lambda: event_with(rest, namespace, "Synced", sha[:12]),
        within=10,
        what="a Synced Event for the commit",
    )
    assert "0 created, 1 changed, 0 pruned" in synced["message"], synced["message"]
    now = await rest.get_or_none(path_of("ConfigMap", namespace, "other"))
    assert now is not None
    assert now["metadata"]["resourceVersion"] == other["metadata"]["resourceVersion"]


async def test_commit_changing_a_configmap_and_its_deployment_rolls_it_once(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("cfg.yaml", configmap("cfg", {"a": "1"}))
    repo.put("web.yaml", opted_in_deployment("web", ("ConfigMap", "cfg")))
    repo.commit("first")
    await start_loop()
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=1.0)

    repo.put("cfg.yaml", configmap("cfg", {"a": "2"}))
    repo.put("web.yaml", opted_in_deployment("web", ("ConfigMap", "cfg"), image="app:2"))
    repo.commit("new config and new image together")

    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=2.0)
    assert await data_of(rest, namespace, "cfg") == {"a": "2"}


async def test_commit_changing_only_the_configmap_rolls_its_deployment_once(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("cfg.yaml", configmap("cfg", {"a": "1"}))
    repo.put("web.yaml", opted_in_deployment("web", ("ConfigMap", "cfg")))
    repo.commit("first")
    await start_loop()
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=1.0)

    repo.put("cfg.yaml", configmap("cfg", {"a": "2"}))
    repo.commit("new config only")
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=2.0)

    repo.put("cfg.yaml", configmap("cfg", {"a": "3"}))
    repo.commit("newer config only")
    await expect_revisions(rest, namespace, "Deployment", "web", 3, hold=2.0)


async def test_idle_cycles_write_nothing(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("cfg.yaml", configmap("cfg", {"a": "1"}))
    repo.put("creds.yaml", secret("creds", {"token": "1"}))
    repo.put("web.yaml", opted_in_deployment("web", ("ConfigMap", "cfg"), ("Secret", "creds")))
    repo.commit("first")
    loop = await start_loop()
    assert await loop.metric("reloader_gitops_objects_total", action="created") == 3

    async def idle_cycles() -> bool:
        return await loop.metric("reloader_gitops_syncs_total", result="unchanged") >= 3

    await eventually(idle_cycles, within=15, what="three idle sync cycles")
    for action in ("changed", "corrected", "pruned"):
        assert await loop.metric("reloader_gitops_objects_total", action=action) == 0, action
    assert await loop.metric("reloader_gitops_objects_total", action="created") == 3

    async def one_revision() -> bool:
        return await loop.metric("reloader_gitops_syncs_total", result="applied") == 1

    await stays(one_revision, for_=1.0, what="only the first cycle applying anything")
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=0)
