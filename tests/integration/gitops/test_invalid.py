"""A broken revision is refused whole, kept from the cluster, and reported with its path:line."""

from __future__ import annotations

import contextlib
from functools import partial

import pytest

from reloader.kube.rest import ApiError, Rest
from tests.integration.cluster import configmap, deployment, eventually, stays
from tests.integration.controller import ReloaderProcess
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    FAILED,
    GitRepo,
    applied_sha,
    data_of,
    event_with,
    exists,
    is_applied,
    reloader_status,
)

HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n"
GOOD = HEAD + "  mode: a\n"
FIXED = HEAD + "  mode: b\n"
BROKEN = {  # the text, and the line the problem is reported at
    "duplicate-key": (HEAD + "  mode: a\n  mode: b\n", 7),
    "unclosed-bracket": (HEAD + "  mode: [b\n", 7),  # found at the end of the file
}


async def _good_then_broken(
    repo: GitRepo, start_loop: StartLoop, rest: Rest, namespace: str, broken: str
) -> tuple[ReloaderProcess, str, str]:
    """A good revision applied, then a commit that breaks settings.yaml, adds ``new`` and
    removes ``old``; the loop runs with --prune."""
    repo.write("config/settings.yaml", GOOD)
    repo.put("config/old.yaml", configmap("old", {"x": "1"}))
    repo.put("config/keep.yaml", configmap("keep", {"x": "1"}))
    good = repo.commit("good")
    loop = await start_loop("--prune", "true")
    await eventually(
        partial(is_applied, rest, namespace, good), within=10, what="the good revision applied"
    )
    text, _ = BROKEN[broken]
    repo.write("config/settings.yaml", text)
    repo.put("config/new.yaml", configmap("new", {"x": "1"}))
    repo.remove("config/old.yaml")
    bad = repo.commit(f"broken: {broken}")
    return loop, good, bad


@pytest.mark.parametrize("broken", sorted(BROKEN))
async def test_broken_revision_applies_nothing_and_is_reported_with_path_and_line(
    rest: Rest,
    namespace: str,
    *,
    kubeconfig: str,
    repo: GitRepo,
    start_loop: StartLoop,
    broken: str,
) -> None:
    loop, good, bad = await _good_then_broken(repo, start_loop, rest, namespace, broken)
    where = f"config/settings.yaml:{BROKEN[broken][1]}:"

    event = await eventually(
        partial(event_with, rest, namespace, "RevisionInvalid", where),
        within=10,
        what=f"a RevisionInvalid Event naming {where}",
    )
    assert event["type"] == "Warning"
    assert bad[:12] in event["message"]

    async def logged() -> bool:
        return any(
            line.get("event") == FAILED
            and line.get("revision") == bad[:12]
            and any(error.startswith(where) for error in line.get("errors") or ())
            for line in loop.logs()
        )

    await eventually(logged, within=5, what=f"a log line with {where}")
    assert await loop.metric("reloader_gitops_revision_errors") >= 1
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 1, out
    assert where in out
    assert bad[:12] in out

    async def nothing_applied() -> bool:
        return (
            not await exists(rest, namespace, "ConfigMap", "new")
            and await exists(rest, namespace, "ConfigMap", "old")
            and await data_of(rest, namespace, "settings") == {"mode": "a"}
            and await is_applied(rest, namespace, good)
        )

    await stays(nothing_applied, for_=2.0, what="nothing of the broken revision applied or pruned")


async def test_commit_fixing_a_broken_revision_is_applied_and_clears_the_errors(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    loop, _, _ = await _good_then_broken(repo, start_loop, rest, namespace, "duplicate-key")

    async def failing() -> bool:
        return await loop.metric("reloader_gitops_revision_errors") >= 1

    await eventually(failing, within=10, what="the broken revision refused")
    repo.write("config/settings.yaml", FIXED)
    fixed = repo.commit("fix the duplicate key")

    await eventually(partial(is_applied, rest, namespace, fixed), within=10, what="the fix applied")
    assert await data_of(rest, namespace, "settings") == {"mode": "b"}
    assert await exists(rest, namespace, "ConfigMap", "new")
    assert not await exists(rest, namespace, "ConfigMap", "old")
    assert await loop.metric("reloader_gitops_revision_errors") == 0
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 0, out
    assert fixed[:12] in out


async def test_objects_in_a_namespace_the_revision_creates_are_dry_run_before_they_apply(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    """They cannot be dry-run before their namespace exists: the loop creates the namespace,
    then dry-runs them, and refuses the revision there if one is invalid."""
    created = f"{namespace}-new"
    cfg = configmap("cfg", {"v": "1"})
    cfg["metadata"]["namespace"] = created
    app = deployment("app", replicas=-1)  # only the server knows this is invalid
    app["metadata"]["namespace"] = created
    try:
        repo.put(
            "ns.yaml", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": created}}
        )
        repo.put("app/cfg.yaml", cfg)
        repo.put("app/deploy.yaml", app)
        broken = repo.commit("a new namespace with an invalid Deployment")
        await start_loop()

        event = await eventually(
            partial(event_with, rest, namespace, "RevisionInvalid", "app/deploy.yaml:1:"),
            within=15,
            what="a RevisionInvalid Event naming app/deploy.yaml:1",
        )
        assert "spec.replicas" in event["message"], event["message"]
        assert broken[:12] in event["message"]
        assert await rest.get_or_none(f"/api/v1/namespaces/{created}") is not None
        assert not await exists(rest, created, "ConfigMap", "cfg"), "applied before validated"
        assert not await exists(rest, created, "Deployment", "app")
        assert await applied_sha(rest, namespace) is None

        app["spec"]["replicas"] = 1
        repo.put("app/deploy.yaml", app)
        fixed = repo.commit("fix the replicas")
        await eventually(
            partial(is_applied, rest, namespace, fixed), within=15, what="the fix applied"
        )
        assert await exists(rest, created, "ConfigMap", "cfg")
        assert await exists(rest, created, "Deployment", "app")
    finally:
        with contextlib.suppress(ApiError):
            await rest.request("DELETE", f"/api/v1/namespaces/{created}")
