"""Every shipped install runs under its own ServiceAccount's token, and does its job.

A manifest can render, apply and validate and still describe a pod that crash-loops: rights
are only proven by the requests the process makes. KWOK runs no container, so each variant is
applied with ``kubectl apply -k`` and each of its Deployments' containers is run here (see
:mod:`tests.integration.addon.pods`) with a TokenRequest token of the pod's ServiceAccount,
with the rendered args and env. It must become ready, act, make no request RBAC refuses, and
exit cleanly on SIGTERM.

One deviation from the rendered args, for the cluster-wide installs only: ``--namespace=apps``.
The test cluster is shared with tests running at the same time, and a cluster-wide reloader
with a key of its own would re-record their workloads under it. What the flag leaves out, the
cluster-wide list and watch, is checked as the account instead.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from reloader.kube.clients import connect, load_configuration
from reloader.kube.resources import CONFIGMAPS, SECRETS, WORKLOADS
from reloader.kube.rest import JSONDict, Rest
from tests.integration.addon.conftest import MANIFESTS, install
from tests.integration.addon.pods import RunPod, deployment, pods
from tests.integration.cluster import (
    account_kubeconfig,
    configmap,
    create_opted_in_app,
    eventually,
    merge_patch,
)
from tests.integration.gitops.support import GitRepo
from tests.integration.rollouts import expect_revisions, wait_recorded

APPS = "apps"


def scoped_here(deploy: JSONDict) -> dict[str, dict[str, str]]:
    """``--namespace=apps`` for a Deployment that watches every namespace (module docstring)."""
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    flags = ("--namespace=", "--namespace-selector=")
    variables = {"RELOADER_NAMESPACE", "RELOADER_NAMESPACE_SELECTOR"}
    if any(arg.startswith(flags) for arg in container.get("args") or ()) or any(
        var["name"] in variables for var in container.get("env") or ()
    ):
        return {}
    return {"overrides": {"--namespace": APPS}}


async def reloads_once_per_change(rest: Rest, run: RunPod, deploy: JSONDict) -> None:
    """The reloader's job: an opted-in Deployment in ``apps`` rolls once per ConfigMap change,
    also after a restart, which reads the hash key that the first start created."""
    await create_opted_in_app(rest, APPS)
    first = await run(deploy, **scoped_here(deploy))
    await wait_recorded(rest, APPS, within=30)
    await merge_patch(rest, APPS, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, APPS, "Deployment", "web", 2)
    events = await rest.get(f"/api/v1/namespaces/{APPS}/events")
    assert "Reloaded" in {e["reason"] for e in events["items"]}
    key = await rest.get("/api/v1/namespaces/reloader/secrets/reloader-hash-key")
    assert key["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "reloader"}
    assert await first.stop(signal.SIGTERM) == 0
    assert first.denied() == []

    second = await run(deploy, **scoped_here(deploy))
    await merge_patch(rest, APPS, "ConfigMap", "cfg", {"data": {"a": "3"}})
    await expect_revisions(rest, APPS, "Deployment", "web", 3)
    assert await second.stop(signal.SIGTERM) == 0
    assert second.denied() == []


async def allowed(client: Rest, verb: str, group: str, resource: str) -> bool:
    """Whether ``client``'s user may ``verb`` ``resource`` in every namespace at once."""
    review = await client.request(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource}},
        },
    )
    return bool(review["status"]["allowed"])


async def test_cluster_wide_install_runs_under_its_own_account(
    kubeconfig: str, rest: Rest, tmp_path: Path
) -> None:
    async with (
        install(kubeconfig, rest, MANIFESTS, namespaces=[APPS]) as docs,
        pods(rest, kubeconfig, tmp_path) as run,
    ):
        reloader = deployment(docs, "reloader")
        token = await account_kubeconfig(rest, kubeconfig, tmp_path / "check.kubeconfig")
        async with connect(await load_configuration(token)) as account:
            for resource in (CONFIGMAPS, SECRETS, *WORKLOADS):
                group = resource.api_version.rpartition("/")[0]
                for verb in ("list", "watch"):
                    assert await allowed(account, verb, group, resource.plural), (verb, resource)
        await reloads_once_per_change(rest, run, reloader)


async def test_namespaced_install_runs_under_its_own_account(
    kubeconfig: str, rest: Rest, tmp_path: Path
) -> None:
    async with (
        install(kubeconfig, rest, MANIFESTS / "namespaced", namespaces=[APPS]) as docs,
        pods(rest, kubeconfig, tmp_path) as run,
    ):
        # Only the namespaced rights: no install left a cluster-wide binding for the account.
        bindings = await rest.get("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
        bound = {
            (s.get("namespace"), s["name"])
            for b in bindings["items"]
            for s in b.get("subjects") or ()
            if s["kind"] == "ServiceAccount"
        }
        assert ("reloader", "reloader") not in bound
        await reloads_once_per_change(rest, run, deployment(docs, "reloader"))


async def test_gitops_install_runs_both_deployments_under_their_own_accounts(
    kubeconfig: str, rest: Rest, tmp_path: Path
) -> None:
    repo = GitRepo.init(tmp_path / "repo")
    repo.put("apps/config.yaml", configmap("app-config", {"greeting": "hello"}))
    sha = repo.commit("app config")
    async with (
        install(kubeconfig, rest, MANIFESTS / "gitops", namespaces=[APPS]) as docs,
        pods(rest, kubeconfig, tmp_path) as run,
    ):
        # What manifests/gitops/kustomization.yaml asks of the user before the pods can start
        # (no token: the repository here is a local file:// one).
        await rest.request(
            "POST",
            "/api/v1/namespaces/reloader/secrets",
            body={"metadata": {"name": "reloader-git"}, "stringData": {"webhook-secret": "s3"}},
        )
        # The loop only reads the hash key; the reloader Deployment creates it.
        config_reloader = deployment(docs, "reloader")
        reloader = await run(config_reloader, **scoped_here(config_reloader))
        loop = await run(
            deployment(docs, "reloader-gitops"),
            paths={"--git-workdir": str(tmp_path / "work")},
            overrides={"--git-url": repo.url},
        )

        # Ready can come before the Lease (a standby is ready), so wait for the first sync's
        # state: it says whether that sync went well.
        async def first_sync_ended() -> JSONDict | None:
            state = await rest.get_or_none("/api/v1/namespaces/reloader/configmaps/reloader-gitops")
            found = json.loads(((state or {}).get("data") or {}).get("status.json") or "{}")
            return found if found.get("errors") or found.get("last_applied") else None

        status = await eventually(
            first_sync_ended, within=30, what="the loop's state after its first sync"
        )
        assert (status["errors"], (status["last_applied"] or {}).get("sha")) == ([], sha)
        applied = await rest.get(f"/api/v1/namespaces/{APPS}/configmaps/app-config")
        assert applied["data"] == {"greeting": "hello"}
        for proc in (loop, reloader):
            assert await proc.stop(signal.SIGTERM) == 0
            assert proc.denied() == []
