"""manifests/gitops/: the loop as its own Deployment, with its own, namespaced, rights."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.addon.conftest import rendered
from tests.integration.cluster import REPO


async def test_gitops_overlay_runs_the_loop_apart_with_namespaced_rights(kubeconfig: str) -> None:
    docs = await asyncio.to_thread(rendered, kubeconfig, str(REPO / "manifests" / "gitops"))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(str(doc["kind"]), []).append(doc)
    deployments = {d["metadata"]["name"]: d for d in by_kind["Deployment"]}
    loop = deployments["reloader-gitops"]["spec"]["template"]["spec"]
    assert loop["serviceAccountName"] == "reloader-gitops"
    (container,) = loop["containers"]
    assert "--config-reloader=false" in container["args"]
    assert container["image"] == "reloader:0.1.0"
    env = {e["name"] for e in container["env"]}
    assert {"RELOADER_GIT_URL", "RELOADER_GIT_TOKEN", "RELOADER_WEBHOOK_SECRET"} <= env
    # The reloader Deployment keeps its own account; no cluster-wide rights for the loop.
    reloader = deployments["reloader"]["spec"]["template"]["spec"]
    assert reloader["serviceAccountName"] == "reloader"
    cluster_subjects = [s["name"] for b in by_kind["ClusterRoleBinding"] for s in b["subjects"]]
    assert cluster_subjects == ["reloader"]
    loop_bindings = [
        b for b in by_kind["RoleBinding"] if b["subjects"][0]["name"] == "reloader-gitops"
    ]
    assert {b["metadata"]["namespace"] for b in loop_bindings} == {"reloader", "apps"}
    services = {s["metadata"]["name"] for s in by_kind["Service"]}
    assert "reloader-webhook" in services
