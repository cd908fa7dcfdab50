"""Identity is (group, kind, namespace, name): a new apiVersion in git is the same object."""

from __future__ import annotations

from functools import partial

from reloader.core import names
from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import configmap, create, deployment, eventually, path_of, stays
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    GitRepo,
    is_applied,
    reloader_status,
    seed_state,
    state,
)


def hpa(version: str) -> JSONDict:
    spec: JSONDict = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 3,
    }
    if version == "v1":
        spec["targetCPUUtilizationPercentage"] = 80
    else:
        target = {"type": "Utilization", "averageUtilization": 80}
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]
    return {
        "apiVersion": f"autoscaling/{version}",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": spec,
    }


def hpa_path(namespace: str, version: str = "v2") -> str:
    return f"/apis/autoscaling/{version}/namespaces/{namespace}/horizontalpodautoscalers/web"


async def test_a_new_api_version_updates_the_object_in_place(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("web.yaml", deployment("web"), hpa("v1"))
    first = repo.commit("an HPA at autoscaling/v1")
    loop = await start_loop("--prune", "true")
    await eventually(partial(is_applied, rest, namespace, first), within=15, what="v1 applied")
    uid = (await rest.get(hpa_path(namespace)))["metadata"]["uid"]

    repo.put("web.yaml", deployment("web"), hpa("v2"))
    second = repo.commit("the HPA moves to autoscaling/v2")
    await eventually(partial(is_applied, rest, namespace, second), within=15, what="v2 applied")
    live = await rest.get(hpa_path(namespace))
    assert live["metadata"]["uid"] == uid, "the HPA was deleted and created again"
    assert live["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80

    async def same_object() -> bool:
        found = await rest.get_or_none(hpa_path(namespace))
        return found is not None and found["metadata"]["uid"] == uid

    await stays(same_object, for_=3.0, what="the same HPA (no prune, no recreate)")
    synced = [line for line in loop.logs() if line.get("event") == "synced"]
    assert not any(line.get("pruned") for line in synced), synced
    entries = (await state(rest, namespace))["inventory"]
    hpas = [e for e in entries if e["kind"] == "HorizontalPodAutoscaler"]
    assert hpas == [
        {
            "group": "autoscaling",
            "kind": "HorizontalPodAutoscaler",
            "namespace": namespace,
            "name": "web",
            "version": "v2",
        }
    ]


async def test_an_inventory_of_the_first_format_migrates_without_deleting(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    """A state written by the first release (versioned REST paths): everything in it keeps
    its UID, and what git dropped while only the first format knew it is reported, not
    deleted (it carries no owner label to prove the loop made it)."""
    for name in ("a", "b", "dropped"):
        await create(rest, namespace, configmap(name, {"x": "1"}))
    uids = {
        n: (await rest.get(path_of("ConfigMap", namespace, n)))["metadata"]["uid"] for n in "ab"
    }
    old = [path_of("ConfigMap", namespace, n) for n in ("a", "b", "dropped")]
    old.append(f"/api/v1/namespaces/{namespace}/configmaps")  # a collection: refused
    await seed_state(rest, namespace, old)
    repo.put("a.yaml", configmap("a", {"x": "1"}))
    repo.put("b.yaml", configmap("b", {"x": "2"}))
    sha = repo.commit("a and b; dropped is gone from git")
    await start_loop("--prune", "true", "--prune-max-share", "1")
    await eventually(partial(is_applied, rest, namespace, sha), within=15, what="applied")

    for name, uid in uids.items():
        live = await rest.get(path_of("ConfigMap", namespace, name))
        assert live["metadata"]["uid"] == uid
        assert live["metadata"]["labels"][names.GITOPS_OWNER] == namespace
    assert await rest.get_or_none(path_of("ConfigMap", namespace, "dropped")) is not None
    saved = await state(rest, namespace)
    assert all(isinstance(entry, dict) for entry in saved["inventory"]), saved["inventory"]
    assert any("dropped" in line and "owner label" in line for line in saved["not_pruned"])
    assert any("configmaps" in line for line in saved["warnings"]), saved["warnings"]
    _, out = await reloader_status(kubeconfig, namespace)
    assert "not pruned: ConfigMap/" in out, out
