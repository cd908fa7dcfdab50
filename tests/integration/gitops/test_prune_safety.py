"""Prune deletes only what the loop created, proven on the live object, whatever the
inventory says; adopted objects and namespaces holding others' objects are kept."""

from __future__ import annotations

from functools import partial

from reloader.core import names
from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import configmap, create, eventually, merge_patch, stays
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    GitRepo,
    event_with,
    exists,
    is_applied,
    reloader_status,
    seed_state,
    state,
)


def namespace_object(name: str) -> JSONDict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


async def test_a_tampered_inventory_deletes_nothing_it_names(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    """Whoever can patch the state ConfigMap names objects the loop never applied, a whole
    namespace, a collection and malformed entries: nothing of it is deleted, all is reported."""
    await create(rest, namespace, configmap("precious", {"x": "1"}))
    victim = f"{namespace}-victim"
    await rest.request("POST", "/api/v1/namespaces", body=namespace_object(victim))
    try:
        entries: list[object] = [
            {"kind": "ConfigMap", "namespace": namespace, "name": "precious", "version": "v1"},
            {"kind": "Namespace", "name": victim, "version": "v1"},
            {"kind": "ConfigMap", "namespace": namespace, "name": "", "version": "v1"},
            {"kind": "ConfigMap", "namespace": namespace, "name": "../..", "version": "v1"},
            f"/api/v1/namespaces/{namespace}/configmaps",
            42,
        ]
        await seed_state(rest, namespace, entries)
        repo.put("mine.yaml", configmap("mine", {"x": "1"}))
        sha = repo.commit("one ConfigMap")
        await start_loop("--prune", "true", "--force-prune", "true")
        await eventually(partial(is_applied, rest, namespace, sha), within=15, what="applied")

        async def untouched() -> bool:
            ns = await rest.get_or_none(f"/api/v1/namespaces/{victim}")
            return await exists(rest, namespace, "ConfigMap", "precious") and bool(
                ns and not ns["metadata"].get("deletionTimestamp")
            )

        await stays(untouched, for_=3.0, what="the objects the tampered inventory names")
        saved = await state(rest, namespace)
        assert len(saved["warnings"]) == 4, saved["warnings"]
        not_pruned = "\n".join(saved["not_pruned"])
        assert f"ConfigMap/{namespace}/precious: it has no owner label" in not_pruned
        assert f"Namespace/{victim}: it has no owner label" in not_pruned
        refused = await event_with(rest, namespace, "InventoryRefused", "inventory entry")
        assert refused is not None
        _, out = await reloader_status(kubeconfig, namespace)
        assert "warning: inventory entry" in out, out
    finally:
        await rest.request("DELETE", f"/api/v1/namespaces/{victim}")


async def test_an_adopted_object_is_kept_until_it_opts_in(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    await create(rest, namespace, configmap("existing", {"x": "by hand"}))
    repo.put("existing.yaml", configmap("existing", {"x": "from git"}))
    repo.put("other.yaml", configmap("other", {"x": "1"}))
    repo.put("third.yaml", configmap("third", {"x": "1"}))
    first = repo.commit("take over existing")
    await start_loop("--prune", "true")
    await eventually(partial(is_applied, rest, namespace, first), within=15, what="applied")
    adopted = await rest.get(f"/api/v1/namespaces/{namespace}/configmaps/existing")
    assert adopted["data"] == {"x": "from git"}
    assert adopted["metadata"]["annotations"][names.GITOPS_ADOPTED] == "true"

    repo.remove("existing.yaml")
    second = repo.commit("git lets go of existing")
    await eventually(partial(is_applied, rest, namespace, second), within=15, what="applied")
    await stays(
        partial(exists, rest, namespace, "ConfigMap", "existing"),
        for_=2.0,
        what="the adopted ConfigMap staying",
    )
    saved = await state(rest, namespace)
    assert any("existing" in line and "adopted" in line for line in saved["not_pruned"])

    await merge_patch(
        rest,
        namespace,
        "ConfigMap",
        "existing",
        {"metadata": {"annotations": {names.PRUNE: "enabled"}}},
    )

    async def gone() -> bool:
        return not await exists(rest, namespace, "ConfigMap", "existing")

    await eventually(gone, within=15, what="the adopted ConfigMap pruned once it opts in")


async def test_a_namespace_holding_objects_git_does_not_manage_is_not_pruned(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    team = f"{namespace}-team"
    repo.put("team.yaml", namespace_object(team))
    managed = configmap("managed", {"x": "1"})
    managed["metadata"]["namespace"] = team
    repo.put("team-config.yaml", managed)
    repo.put("keep.yaml", configmap("keep", {"x": "1"}))
    first = repo.commit("a team namespace")
    try:
        await start_loop("--prune", "true", "--prune-max-share", "1")
        await eventually(partial(is_applied, rest, namespace, first), within=15, what="applied")
        await create(rest, team, configmap("by-hand", {"x": "1"}))

        repo.remove("team.yaml")
        repo.remove("team-config.yaml")
        second = repo.commit("the team leaves git")
        await eventually(partial(is_applied, rest, namespace, second), within=15, what="applied")
        assert not await exists(rest, team, "ConfigMap", "managed")
        live = await rest.get(f"/api/v1/namespaces/{team}")
        assert not live["metadata"].get("deletionTimestamp")
        assert await exists(rest, team, "ConfigMap", "by-hand")
        _, out = await reloader_status(kubeconfig, namespace)
        assert f"not pruned: Namespace/{team}: deleting it would also delete 1 object" in out, out
        assert f"ConfigMap/{team}/by-hand" in out
    finally:
        await rest.request("DELETE", f"/api/v1/namespaces/{team}")


async def test_force_prune_deletes_a_namespace_holding_other_objects(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    team = f"{namespace}-forced"
    repo.put("team.yaml", namespace_object(team))
    repo.put("keep.yaml", configmap("keep", {"x": "1"}))
    first = repo.commit("a team namespace")
    await start_loop("--prune", "true", "--force-prune", "true")
    await eventually(partial(is_applied, rest, namespace, first), within=15, what="applied")
    await create(rest, team, configmap("by-hand", {"x": "1"}))
    repo.remove("team.yaml")
    repo.commit("the team leaves git")

    async def deleting() -> bool:
        live = await rest.get_or_none(f"/api/v1/namespaces/{team}")
        return live is None or bool(live["metadata"].get("deletionTimestamp"))

    await eventually(deleting, within=15, what="the namespace deleted under --force-prune")
