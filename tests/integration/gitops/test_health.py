"""Health after apply: a revision is Healthy only once what it declares runs, and a workload
that never runs is named as Unhealthy within --health-timeout."""

from __future__ import annotations

from functools import partial
from typing import Any

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, container, deployment, eventually
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import GitRepo, event_with, reloader_status, state


async def _health(rest: Rest, namespace: str, sha: str) -> dict[str, Any] | None:
    """The state once the revision ``sha`` was applied and its health decided."""
    found = await state(rest, namespace)
    applied = (found.get("last_applied") or {}).get("sha") == sha
    decided = found.get("health") in ("Healthy", "Unhealthy")
    return found if applied and decided else None


async def test_a_deployment_whose_pods_never_run_is_reported_unhealthy_by_name(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    # No node carries this label: the pods stay Pending, the Deployment never available.
    nowhere = {"containers": [container()], "nodeSelector": {"reloader.dev/no-such-node": "x"}}
    repo.put("stuck.yaml", deployment("stuck", pod_spec=nowhere))
    repo.put("web.yaml", deployment("web"))
    repo.put("cfg.yaml", configmap("cfg", {"a": "1"}))
    sha = repo.commit("a Deployment that cannot be scheduled")
    loop = await start_loop("--health-timeout", "5s")

    found = await eventually(
        partial(_health, rest, namespace, sha), within=20, what="the revision's health decided"
    )
    assert found["health"] == "Unhealthy", found
    assert len(found["unhealthy"]) == 1, found["unhealthy"]
    assert f"Deployment/{namespace}/stuck" in found["unhealthy"][0]
    assert "available" in found["unhealthy"][0]

    event = await eventually(
        partial(event_with, rest, namespace, "Unhealthy", f"Deployment/{namespace}/stuck"),
        within=5,
        what="an Unhealthy Event naming the Deployment",
    )
    assert event["type"] == "Warning"
    assert "web" not in event["message"]
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 1, out
    assert "revision health: Unhealthy" in out, out
    assert f"unhealthy: Deployment/{namespace}/stuck" in out, out
    assert await loop.metric("reloader_gitops_revision_healthy") == 0


async def test_a_deployment_that_runs_makes_the_revision_healthy(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("web.yaml", deployment("web", replicas=2))
    sha = repo.commit("a Deployment that runs")
    loop = await start_loop("--health-timeout", "30s")

    found = await eventually(
        partial(_health, rest, namespace, sha), within=30, what="the revision's health decided"
    )
    assert found["health"] == "Healthy", found
    assert found["unhealthy"] == []
    await eventually(
        partial(event_with, rest, namespace, "Healthy", sha[:12]),
        within=5,
        what="a Healthy Event for the revision",
    )
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 0, out
    assert "revision health: Healthy" in out, out
    assert await loop.metric("reloader_gitops_revision_healthy") == 1
