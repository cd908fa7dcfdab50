"""The installed service account's rights are enough for the whole reload flow, and no more."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio.client import Configuration

from reloader.kube.clients import connect, load_configuration
from reloader.kube.rest import ApiError, Rest
from tests.integration.cluster import (
    account_kubeconfig,
    configmap,
    container,
    create,
    merge_patch,
    workload,
)
from tests.integration.controller import ReloaderProcess
from tests.integration.rollouts import expect_revisions, wait_recorded


@pytest.fixture
async def as_reloader(
    installed: str, rest: Rest, kubeconfig: str, tmp_path: Path
) -> AsyncIterator[tuple[str, Rest]]:
    sa_kubeconfig = await account_kubeconfig(rest, kubeconfig, tmp_path / "sa.kubeconfig")
    configuration: Configuration = await load_configuration(sa_kubeconfig)
    async with connect(configuration) as client:
        yield sa_kubeconfig, client


async def test_reload_flow_works_with_exactly_the_installed_rights(
    as_reloader: tuple[str, Rest], rest: Rest, namespace: str, tmp_path: Path
) -> None:
    sa_kubeconfig, _ = as_reloader
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    spec = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}
    auto = {"reloader.stakater.com/auto": "true"}
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=auto))

    proc = ReloaderProcess(
        kubeconfig=sa_kubeconfig,
        namespace=namespace,
        log_dir=tmp_path,
        args=[
            "--hash-key-secret=reloader/reloader-hash-key",
            "--leader-elect=true",
            "--leader-election-namespace=reloader",
        ],
    )
    try:
        await proc.start()

        await wait_recorded(rest, namespace, within=30)
        await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
        await expect_revisions(rest, namespace, "Deployment", "web", 2)
        events = await rest.get(f"/api/v1/namespaces/{namespace}/events")
        assert "Reloaded" in {e["reason"] for e in events["items"]}
        denied = [line for line in proc.logs() if "403" in str(line.get("error", ""))]
        assert denied == [], f"the controller was denied something it needs: {denied}"
    finally:
        assert await proc.stop(signal.SIGTERM) == 0
        print(proc.log_path.read_text())


async def _status(call: object) -> int:
    try:
        await call  # type: ignore[misc]
    except ApiError as exc:
        return exc.status
    return 200


async def test_service_account_is_denied_everything_else(
    as_reloader: tuple[str, Rest], rest: Rest, namespace: str
) -> None:
    _, sa = as_reloader
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, workload("Deployment", "web", {"containers": [container()]}))
    await rest.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/services",
        body={"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}},
    )
    merge = "application/merge-patch+json"
    note = {"metadata": {"annotations": {"x": "y"}}}
    ns = f"/api/v1/namespaces/{namespace}"
    # What it may do (reads, and patching a workload) succeeds...
    assert await _status(sa.get(f"{ns}/configmaps/cfg")) == 200
    assert await _status(sa.get(f"{ns}/secrets")) == 200
    web = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    assert await _status(sa.request("PATCH", web, body=note, content_type=merge)) == 200
    # ...and everything around it is forbidden.
    forbidden = {
        "list pods": sa.get(f"{ns}/pods"),
        "update a workload": sa.request("PUT", web, body=await rest.get(web)),
        "delete a workload": sa.request("DELETE", web),
        "patch a Service": sa.request("PATCH", f"{ns}/services/svc", body=note, content_type=merge),
        "patch a ConfigMap": sa.request(
            "PATCH", f"{ns}/configmaps/cfg", body=note, content_type=merge
        ),
        "delete a ConfigMap": sa.request("DELETE", f"{ns}/configmaps/cfg"),
        "create a Secret outside its namespace": sa.request(
            "POST", f"{ns}/secrets", body={"metadata": {"name": "x"}}
        ),
        "list ReplicaSets": sa.get(f"/apis/apps/v1/namespaces/{namespace}/replicasets"),
        "read another Lease": sa.get(
            "/apis/coordination.k8s.io/v1/namespaces/reloader/leases/someone-else"
        ),
        "list namespaces": sa.get("/api/v1/namespaces"),
    }
    statuses = {what: await _status(call) for what, call in forbidden.items()}
    assert statuses == dict.fromkeys(forbidden, 403)
