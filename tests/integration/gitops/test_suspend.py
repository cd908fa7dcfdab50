"""Suspend and resume: a hotfix made by hand during an incident is left alone, and the next
commit waits, until `reloader resume`; then git wins again within a cycle or two."""

from __future__ import annotations

from functools import partial

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, eventually, merge_patch, stays
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    GitRepo,
    data_of,
    event_with,
    exists,
    is_applied,
    reloader_status,
    run_reloader,
    state,
)


async def _reloader(kubeconfig: str, namespace: str, *args: str) -> tuple[int, str]:
    """Exit code and output of ``reloader ARGS`` against the test's loop state."""
    code, out, err = await run_reloader(
        *args, "--kubeconfig", kubeconfig, "--state-namespace", namespace
    )
    return code, out + err


async def _username(rest: Rest) -> str:
    review = await rest.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    name: str = review["status"]["userInfo"]["username"]
    return name


async def test_suspend_keeps_a_hotfix_and_holds_commits_until_resume(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("cfg.yaml", configmap("cfg", {"a": "1"}))
    repo.put("other.yaml", configmap("other", {"b": "1"}))
    first = repo.commit("first")
    loop = await start_loop()
    await eventually(partial(is_applied, rest, namespace, first), within=10, what="first applied")

    code, out = await _reloader(kubeconfig, namespace, "suspend", "--reason", "hotfix INC-42")
    assert code == 0, out
    await eventually(
        partial(event_with, rest, namespace, "Suspended", "hotfix INC-42"),
        within=5,
        what="the loop seeing the suspension (a Suspended Event)",
    )
    assert await loop.metric("reloader_gitops_suspended") == 1

    # The hotfix, by hand; and a commit pushed meanwhile.
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "hotfix"}})
    await merge_patch(rest, namespace, "ConfigMap", "other", {"data": {"b": "hotfix"}})
    repo.put("cfg.yaml", configmap("cfg", {"a": "2"}))
    repo.put("extra.yaml", configmap("extra", {"c": "1"}))
    second = repo.commit("second")
    cycles = await loop.metric("reloader_gitops_last_cycle_timestamp_seconds")

    async def left_alone() -> bool:
        return (
            await data_of(rest, namespace, "cfg") == {"a": "hotfix"}
            and await data_of(rest, namespace, "other") == {"b": "hotfix"}
            and not await exists(rest, namespace, "ConfigMap", "extra")
            and await is_applied(rest, namespace, first)
        )

    await stays(left_alone, for_=3.0, what="the hotfix kept and the new commit not applied")
    assert loop.proc is not None
    assert loop.proc.returncode is None
    assert await loop.metric("reloader_gitops_last_cycle_timestamp_seconds") > cycles, (
        "the loop kept cycling while suspended"
    )
    held = await state(rest, namespace)
    assert (held.get("held") or {}).get("sha") == second, held

    code, out = await reloader_status(kubeconfig, namespace)
    assert "SUSPENDED" in out, out
    assert "hotfix INC-42" in out, out
    assert f"by {await _username(rest)} at " in out, out
    assert f"held back:       {second[:12]}" in out, out

    code, out = await _reloader(kubeconfig, namespace, "resume")
    assert code == 0, out
    await eventually(
        partial(is_applied, rest, namespace, second), within=5, what="the held commit applied"
    )

    async def git_wins() -> bool:
        return (
            await data_of(rest, namespace, "cfg") == {"a": "2"}
            and await data_of(rest, namespace, "other") == {"b": "1"}
            and await exists(rest, namespace, "ConfigMap", "extra")
        )

    await eventually(git_wins, within=5, what="the commit applied and the drift corrected")
    await eventually(
        partial(event_with, rest, namespace, "Resumed", "resumed"),
        within=5,
        what="a Resumed Event",
    )
    assert await loop.metric("reloader_gitops_suspended") == 0
    code, out = await reloader_status(kubeconfig, namespace)
    assert "SUSPENDED" not in out, out
    assert code == 0, out


async def test_resume_when_not_suspended_says_so(
    rest: Rest, namespace: str, kubeconfig: str
) -> None:
    code, out = await _reloader(kubeconfig, namespace, "resume")
    assert code == 0, out
    assert "not suspended" in out


async def test_a_suspension_set_before_the_loop_starts_holds_from_its_first_cycle(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    code, out = await _reloader(kubeconfig, namespace, "suspend", "--reason", "freeze")
    assert code == 0, out
    repo.put("cfg.yaml", configmap("cfg", {"a": "1"}))
    sha = repo.commit("first")
    await start_loop()

    async def nothing_applied() -> bool:
        return not await exists(rest, namespace, "ConfigMap", "cfg")

    await stays(nothing_applied, for_=2.0, what="nothing applied while suspended")
    code, out = await _reloader(kubeconfig, namespace, "resume")
    assert code == 0, out
    await eventually(partial(is_applied, rest, namespace, sha), within=5, what="applied on resume")
