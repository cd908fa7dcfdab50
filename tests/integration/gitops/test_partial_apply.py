"""An apply that fails part-way still records every object it created in the inventory."""

from __future__ import annotations

from functools import partial

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, create, eventually, path_of
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import GitRepo, event_with, is_applied, state

MANY = 12


async def test_objects_created_before_a_failure_are_in_the_inventory_and_pruned_later(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    """A quota admits each object's dry run alone but not all of them: the apply fails
    part-way (403), and what it created is recorded, so a later revision prunes it."""
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "few"},
        "spec": {"hard": {"count/configmaps": "8"}},
    }
    await rest.request("POST", f"/api/v1/namespaces/{namespace}/resourcequotas", body=quota)

    async def quota_counts() -> bool:
        live = await rest.get(f"/api/v1/namespaces/{namespace}/resourcequotas/few")
        return "count/configmaps" in (live.get("status") or {}).get("used", {})

    await eventually(quota_counts, within=30, what="the quota in force")
    repo.put("seed.yaml", configmap("seed", {"x": "1"}))
    first = repo.commit("seed")
    await start_loop("--prune", "true", "--prune-max-share", "1")
    await eventually(partial(is_applied, rest, namespace, first), within=15, what="seed applied")

    for i in range(MANY):
        obj = configmap(f"batch-{i:02d}", {"i": str(i)})
        obj["metadata"]["labels"] = {"batch": "yes"}
        repo.put(f"batch-{i:02d}.yaml", obj)
    over = repo.commit(f"{MANY} ConfigMaps, over the quota")
    event = await eventually(
        partial(event_with, rest, namespace, "ApplyFailed", over[:12]),
        within=20,
        what="the failed apply",
    )
    assert "exceeded quota" in event["message"], event["message"]
    assert ".yaml:1: apply refused by the API server" in event["message"], event["message"]

    live = await rest.get(path_of("ConfigMap", namespace), {"labelSelector": "batch=yes"})
    created = {item["metadata"]["name"] for item in live["items"]}
    assert 0 < len(created) < MANY, created
    recorded = {e["name"] for e in (await state(rest, namespace))["inventory"]}
    assert created <= recorded, created - recorded

    await rest.request("DELETE", f"/api/v1/namespaces/{namespace}/resourcequotas/few")
    for i in range(MANY):
        repo.remove(f"batch-{i:02d}.yaml")
    repo.put("after.yaml", configmap("after", {"x": "1"}))
    last = repo.commit("the batch leaves git")
    await eventually(partial(is_applied, rest, namespace, last), within=20, what="applied")
    left = await rest.get(path_of("ConfigMap", namespace), {"labelSelector": "batch=yes"})
    assert left["items"] == [], "a ConfigMap created by the failed apply was orphaned"
    await create(rest, namespace, configmap("unrelated", {"x": "1"}))  # the namespace works
