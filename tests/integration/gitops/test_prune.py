"""Pruning: what leaves git leaves the cluster, with --prune, within the set limits."""

from __future__ import annotations

from functools import partial

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, eventually, stays
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    PRUNE_DISABLED,
    GitRepo,
    event_with,
    exists,
    is_applied,
    reloader_status,
)


async def _first(
    repo: GitRepo, start_loop: StartLoop, rest: Rest, namespace: str, names: list[str], *args: str
) -> None:
    """One file per ConfigMap in ``names``, applied by a loop started with ``args``."""
    repo.write("README.md", "The manifests of the team.\n")
    for name in names:
        annotations = PRUNE_DISABLED if name.startswith("keep") else None
        repo.put(f"{name}.yaml", configmap(name, {"x": "1"}, annotations))
    sha = repo.commit("first")
    await start_loop(*args)
    await eventually(partial(is_applied, rest, namespace, sha), within=10, what="first applied")


async def _all_exist(rest: Rest, namespace: str, names: list[str]) -> bool:
    return all([await exists(rest, namespace, "ConfigMap", name) for name in names])


async def test_prune_deletes_an_object_removed_from_git(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    await _first(repo, start_loop, rest, namespace, ["a", "b", "c"], "--prune", "true")
    repo.remove("c.yaml")
    sha = repo.commit("remove c")

    async def gone() -> bool:
        return not await exists(rest, namespace, "ConfigMap", "c")

    await eventually(gone, within=10, what="ConfigMap c pruned")
    await eventually(partial(is_applied, rest, namespace, sha), within=10, what="state updated")
    assert await _all_exist(rest, namespace, ["a", "b"])
    event = await event_with(rest, namespace, "Synced", sha[:12])
    assert event is not None
    assert "1 pruned" in event["message"], event["message"]


async def test_prune_spares_an_object_that_opts_out(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    await _first(repo, start_loop, rest, namespace, ["a", "b", "keep"], "--prune", "true")
    repo.remove("keep.yaml")
    sha = repo.commit("stop managing keep")
    await eventually(partial(is_applied, rest, namespace, sha), within=10, what="removal applied")
    await stays(
        partial(_all_exist, rest, namespace, ["a", "b", "keep"]),
        for_=2.0,
        what="the opted-out ConfigMap staying",
    )


async def test_without_prune_removed_objects_stay(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    await _first(repo, start_loop, rest, namespace, ["a", "b", "c"])
    repo.remove("b.yaml")
    repo.remove("c.yaml")
    sha = repo.commit("remove b and c")
    await eventually(partial(is_applied, rest, namespace, sha), within=10, what="removal applied")
    await stays(
        partial(_all_exist, rest, namespace, ["a", "b", "c"]),
        for_=2.0,
        what="removed objects staying without --prune",
    )


async def test_revision_rendering_nothing_is_refused(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    await _first(repo, start_loop, rest, namespace, ["a", "b"], "--prune", "true")
    repo.remove("a.yaml")
    repo.remove("b.yaml")
    sha = repo.commit("remove every manifest")

    event = await eventually(
        partial(event_with, rest, namespace, "PruneRefused", sha[:12]),
        within=10,
        what="a PruneRefused Event",
    )
    assert event["type"] == "Warning"
    assert "renders no objects" in event["message"], event["message"]
    await stays(partial(_all_exist, rest, namespace, ["a", "b"]), for_=2.0, what="nothing pruned")
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 1, out
    assert "renders no objects" in out


async def test_force_prune_applies_a_revision_rendering_nothing(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    args = ("--prune", "true", "--force-prune", "true")
    await _first(repo, start_loop, rest, namespace, ["a", "b"], *args)
    repo.remove("a.yaml")
    repo.remove("b.yaml")
    sha = repo.commit("remove every manifest")

    async def none_left() -> bool:
        return not any([await exists(rest, namespace, "ConfigMap", name) for name in "ab"])

    await eventually(none_left, within=10, what="every object pruned")
    await eventually(partial(is_applied, rest, namespace, sha), within=10, what="state updated")
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 0, out
    assert sha[:12] in out
    assert "objects managed: 0" in out


async def test_removing_more_than_the_max_share_is_refused(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    names = ["a", "b", "c", "d"]
    await _first(
        repo, start_loop, rest, namespace, names, "--prune", "true", "--prune-max-share", "0.5"
    )
    for name in names[1:]:
        repo.remove(f"{name}.yaml")
    sha = repo.commit("remove three of four")

    event = await eventually(
        partial(event_with, rest, namespace, "PruneRefused", sha[:12]),
        within=10,
        what="a PruneRefused Event",
    )
    assert "3 of 4" in event["message"], event["message"]
    await stays(partial(_all_exist, rest, namespace, names), for_=2.0, what="nothing pruned")
