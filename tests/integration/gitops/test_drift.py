"""Drift: changes made outside git are corrected (or only reported, with --drift detect), and
the reloader's own pod-template hash is not drift."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from reloader.core import names
from reloader.core.references import Kind
from reloader.kube.rest import Rest
from tests.integration.cluster import (
    configmap,
    create,
    deployment,
    eventually,
    merge_patch,
    path_of,
    secret,
    stays,
)
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    GitRepo,
    data_of,
    event_with,
    is_applied,
    opted_in_deployment,
    reloader_status,
)
from tests.integration.rollouts import config_hash, expect_revisions, expected_hash


async def _replicas(rest: Rest, namespace: str, name: str) -> int | None:
    obj = await rest.get_or_none(path_of("Deployment", namespace, name))
    return None if obj is None else int(obj["spec"]["replicas"])


async def _applied(
    repo: GitRepo, start_loop: StartLoop, rest: Rest, namespace: str, *args: str
) -> None:
    repo.put("web.yaml", deployment("web", replicas=1))
    repo.put("cfg.yaml", configmap("cfg", {"a": "1"}))
    sha = repo.commit("first")
    await start_loop(*args)
    await eventually(partial(is_applied, rest, namespace, sha), within=10, what="first applied")


async def test_scaled_deployment_is_scaled_back(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    await _applied(repo, start_loop, rest, namespace)
    await merge_patch(rest, namespace, "Deployment", "web", {"spec": {"replicas": 3}})

    async def restored() -> bool:
        return await _replicas(rest, namespace, "web") == 1

    await eventually(restored, within=5, what="spec.replicas back to git's 1")
    event = await eventually(
        partial(event_with, rest, namespace, "Synced", "1 corrected"),
        within=5,
        what="a Synced Event reporting the correction",
    )
    assert "Deployment/web" in event["message"], event["message"]


async def test_deleted_configmap_is_recreated(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    await _applied(repo, start_loop, rest, namespace)
    await rest.request("DELETE", path_of("ConfigMap", namespace, "cfg"))

    async def restored() -> bool:
        return await data_of(rest, namespace, "cfg") == {"a": "1"}

    await eventually(restored, within=5, what="the deleted ConfigMap recreated")


async def test_detect_mode_reports_drift_and_reverts_nothing(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    await _applied(repo, start_loop, rest, namespace, "--drift", "detect")
    await merge_patch(rest, namespace, "Deployment", "web", {"spec": {"replicas": 3}})

    event = await eventually(
        partial(event_with, rest, namespace, "DriftDetected", "Deployment/web"),
        within=5,
        what="a DriftDetected Event",
    )
    assert event["type"] == "Warning"
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 1, out
    assert "drift" in out
    assert "Deployment/web" in out

    async def scaled() -> bool:
        return await _replicas(rest, namespace, "web") == 3

    await stays(scaled, for_=2.0, what="the change made outside git staying")


async def test_reloader_hash_survives_re_applies(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    await create(rest, namespace, secret("creds", {"token": "1"}))  # not in git
    repo.put("cfg.yaml", configmap("cfg", {"a": "1"}))
    repo.put("web.yaml", opted_in_deployment("web", ("ConfigMap", "cfg"), ("Secret", "creds")))
    repo.commit("first")
    loop = await start_loop()
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=0)

    await merge_patch(rest, namespace, "Secret", "creds", {"stringData": {"token": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=3.0)
    assert await config_hash(rest, namespace, "Deployment", "web") == await expected_hash(
        rest, namespace, [(Kind.CONFIGMAP, "cfg"), (Kind.SECRET, "creds")]
    )
    assert await loop.metric("reloader_gitops_objects_total", action="corrected") == 0


async def test_detect_mode_reports_a_deleted_object_without_recreating_it(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    await _applied(repo, start_loop, rest, namespace, "--drift", "detect")
    await rest.request("DELETE", path_of("ConfigMap", namespace, "cfg"))

    async def deleted() -> bool:
        return await data_of(rest, namespace, "cfg") is None

    await stays(deleted, for_=2.0, what="the ConfigMap deleted outside git staying deleted")
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 1, out
    assert "ConfigMap/cfg" in out


async def test_a_label_git_sets_is_restored_and_one_it_does_not_set_is_left_alone(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    web = deployment("web", replicas=1)
    web["metadata"]["labels"] = {"tier": "web"}
    repo.put("web.yaml", web)
    sha = repo.commit("first")
    loop = await start_loop()
    await eventually(partial(is_applied, rest, namespace, sha), within=10, what="first applied")

    async def labels() -> dict[str, str]:
        obj = await rest.get_or_none(path_of("Deployment", namespace, "web"))
        assert obj is not None
        found = dict(obj["metadata"].get("labels") or {})
        assert found.pop(names.GITOPS_OWNER) == namespace  # the loop's mark stays
        return found

    # Not git's: applying git's manifest would keep it, so it is not drift.
    await merge_patch(rest, namespace, "Deployment", "web", {"metadata": {"labels": {"o": "b"}}})
    await stays(
        lambda: _has(labels, {"tier": "web", "o": "b"}), for_=2.0, what="the extra label kept"
    )
    assert await loop.metric("reloader_gitops_objects_total", action="corrected") == 0

    await merge_patch(rest, namespace, "Deployment", "web", {"metadata": {"labels": {"tier": "x"}}})
    await eventually(
        lambda: _has(labels, {"tier": "web", "o": "b"}), within=5, what="git's label restored"
    )
    assert await loop.metric("reloader_gitops_objects_total", action="corrected") == 1


async def _has(labels: Callable[[], Awaitable[dict[str, str]]], expected: dict[str, str]) -> bool:
    return await labels() == expected
