"""`kubectl apply -k manifests/` installs what the docs say, and deploy/install.yaml matches it."""

from __future__ import annotations

import asyncio

from reloader.kube.rest import JSONDict, Rest
from tests.integration.addon.conftest import kubectl, rendered
from tests.integration.cluster import REPO, eventually


def test_rendered_single_file_matches_the_kustomization(kubeconfig: str) -> None:
    body = (REPO / "deploy" / "install.yaml").read_text()
    committed = "".join(line for line in body.splitlines(keepends=True) if not line.startswith("#"))
    assert committed == kubectl(kubeconfig, "kustomize", str(REPO / "manifests")), (
        "deploy/install.yaml is stale: regenerate it with `kubectl kustomize manifests/`"
    )


async def test_install_creates_every_documented_object(installed: str, rest: Rest) -> None:
    ns = "reloader"
    await rest.get(f"/api/v1/namespaces/{ns}")
    await rest.get(f"/api/v1/namespaces/{ns}/serviceaccounts/reloader")
    await rest.get(f"/api/v1/namespaces/{ns}/services/reloader-metrics")
    pdb = await rest.get(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/reloader")
    assert pdb["spec"]["minAvailable"] == 1
    cluster_role = await rest.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/reloader")
    granted = {
        (group, resource, verb)
        for rule in cluster_role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    read = {"get", "list", "watch"}
    expected = (
        {("", r, v) for r in ("configmaps", "secrets") for v in read}
        | {
            ("apps", r, v)
            for r in ("deployments", "statefulsets", "daemonsets")
            for v in read | {"patch"}
        }
        | {("batch", "cronjobs", v) for v in read | {"patch"}}
        | {("batch", "jobs", v) for v in read | {"patch", "delete", "create"}}
        | {("argoproj.io", "rollouts", v) for v in read | {"patch"}}
        | {("", "events", "create")}
    )
    assert granted == expected
    role = await rest.get(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles/reloader-self")
    lease_rules = [r for r in role["rules"] if r["resources"] == ["leases"]]
    assert {tuple(r.get("resourceNames") or ()) for r in lease_rules} == {(), ("reloader-leader",)}


async def test_deployment_is_hardened_and_highly_available(installed: str, rest: Rest) -> None:
    deploy: JSONDict = await rest.get("/apis/apps/v1/namespaces/reloader/deployments/reloader")
    spec = deploy["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] == 2
    assert "--leader-elect=true" in container["args"]
    assert pod["serviceAccountName"] == "reloader"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    assert pod["terminationGracePeriodSeconds"] >= 10

    async def available() -> bool:
        current = await rest.get("/apis/apps/v1/namespaces/reloader/deployments/reloader")
        return bool(current.get("status", {}).get("availableReplicas") == 2)

    await eventually(available, within=60, what="both replicas available (on the KWOK node)")


async def test_namespaced_overlay_grants_no_cluster_wide_rights(kubeconfig: str) -> None:
    docs = await asyncio.to_thread(rendered, kubeconfig, str(REPO / "manifests" / "namespaced"))
    kinds = {d["kind"] for d in docs}
    assert "ClusterRole" not in kinds
    assert "ClusterRoleBinding" not in kinds
    roles = {
        (d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs if d["kind"] == "Role"
    }
    assert ("apps", "reloader") in roles
    (deploy,) = [d for d in docs if d["kind"] == "Deployment"]
    assert "--namespace=apps" in deploy["spec"]["template"]["spec"]["containers"][0]["args"]
