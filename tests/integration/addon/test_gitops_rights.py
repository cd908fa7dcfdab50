"""The GitOps loop under the overlay's own ServiceAccount: it applies what it was granted,
and a revision reaching beyond that is refused whole."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reloader.kube.rest import ApiError, Rest
from tests.integration.addon.conftest import kubectl
from tests.integration.cluster import REPO, account_kubeconfig, configmap, eventually
from tests.integration.controller import ReloaderProcess
from tests.integration.gitops.support import GitRepo

APPS = "apps"


@pytest.fixture
async def gitops_account(installed: str, rest: Rest, kubeconfig: str) -> AsyncIterator[None]:
    """manifests/gitops/'s account and rights in the installed add-on (and the apps namespace)."""
    try:
        await rest.request("POST", "/api/v1/namespaces", body={"metadata": {"name": APPS}})
    except ApiError as exc:
        if not exc.conflict:
            raise
    for part in ("gitops.yaml", "apply-rights.yaml"):
        kubectl(kubeconfig, "apply", "-f", str(REPO / "manifests" / "gitops" / part))
    try:  # the reloader Deployment creates the hash key; nothing runs it here, so we do
        await rest.request(
            "POST",
            "/api/v1/namespaces/reloader/secrets",
            body={"metadata": {"name": "reloader-hash-key"}, "data": {"key": "a2V5" * 8}},
        )
    except ApiError as exc:
        if not exc.conflict:
            raise
    yield
    await rest.request("DELETE", f"/api/v1/namespaces/{APPS}")


async def test_loop_applies_within_its_rights_and_refuses_beyond_them(
    gitops_account: None, rest: Rest, kubeconfig: str, tmp_path: Path
) -> None:
    sa = await account_kubeconfig(
        rest, kubeconfig, tmp_path / "gitops.kubeconfig", account="reloader-gitops"
    )
    repo = GitRepo.init(tmp_path / "repo")
    repo.put("apps/config.yaml", configmap("app-config", {"a": "1"}))
    first = repo.commit("app config")
    proc = ReloaderProcess(
        kubeconfig=sa,
        namespace=APPS,
        log_dir=tmp_path,
        args=[
            "--config-reloader=false",
            f"--git-url={repo.url}",
            "--sync-interval=1s",
            "--state-namespace=reloader",
            f"--default-namespace={APPS}",
            "--hash-key-secret=reloader/reloader-hash-key",
            "--leader-elect=true",
            "--leader-election-namespace=reloader",
            "--leader-election-id=reloader-gitops-leader",
            f"--git-workdir={tmp_path / 'work'}",
        ],
    )
    try:
        await proc.start()

        async def applied(sha: str) -> bool:
            state = await rest.get("/api/v1/namespaces/reloader/configmaps/reloader-gitops")
            return sha in state["data"]["status.json"]

        await eventually(lambda: applied(first), within=30, what="the first revision applied")
        await rest.get(f"/api/v1/namespaces/{APPS}/configmaps/app-config")

        outside = configmap("escape", {"a": "1"})
        outside["metadata"]["namespace"] = "default"
        repo.put("apps/outside.yaml", outside)
        repo.put("apps/more.yaml", configmap("more", {"b": "2"}))
        second = repo.commit("reach outside apps")

        async def refused() -> bool:
            state = await rest.get("/api/v1/namespaces/reloader/configmaps/reloader-gitops")
            status = state["data"]["status.json"]
            return second in status and "forbidden" in status

        await eventually(refused, within=30, what="the revision refused for lack of rights")
        for ns, name in (("default", "escape"), (APPS, "more")):  # nothing of it applied
            with pytest.raises(ApiError) as missing:
                await rest.get(f"/api/v1/namespaces/{ns}/configmaps/{name}")
            assert missing.value.not_found
    finally:
        assert await proc.stop(signal.SIGTERM) == 0
        print(proc.log_path.read_text())
