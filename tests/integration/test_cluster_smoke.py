"""The mechanism every reloader feature relies on, proven on the real cluster."""

from __future__ import annotations

import pytest
from kubernetes_asyncio.client import Configuration

from reloader.kube.clients import connect
from reloader.kube.rest import ApiError, JSONDict, Rest
from tests.integration.cluster import deployment, eventually, pods, replica_sets

NODE = "kwok-node-0"


async def _running_pods(rest: Rest, namespace: str, app: str, count: int) -> list[JSONDict] | None:
    found = await pods(rest, namespace, app)
    running = [
        p
        for p in found
        if p["status"].get("phase") == "Running" and p["metadata"].get("deletionTimestamp") is None
    ]
    return running if len(running) == count and len(found) == count else None


async def test_deployment_rolls_out_onto_the_kwok_node(rest: Rest, namespace: str) -> None:
    await rest.request(
        "POST",
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        body=deployment("web", replicas=2),
    )
    sets = await eventually(
        lambda: replica_sets(rest, namespace, "web"), within=30, what="a ReplicaSet for web"
    )
    assert len(sets) == 1
    running = await eventually(
        lambda: _running_pods(rest, namespace, "web", 2), within=60, what="2 Running pods"
    )
    assert {p["spec"]["nodeName"] for p in running} == {NODE}


async def test_template_annotation_change_creates_a_second_replicaset(
    rest: Rest, namespace: str
) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    await rest.request("POST", path, body=deployment("api", replicas=2))
    first = await eventually(
        lambda: _running_pods(rest, namespace, "api", 2), within=60, what="2 Running pods"
    )
    old_uids = {p["metadata"]["uid"] for p in first}

    await rest.request(
        "PATCH",
        f"{path}/api",
        body={"spec": {"template": {"metadata": {"annotations": {"example.com/rev": "2"}}}}},
        content_type="application/merge-patch+json",
    )

    async def two_sets() -> list[JSONDict] | None:
        sets = await replica_sets(rest, namespace, "api")
        return sets if len(sets) == 2 else None

    await eventually(two_sets, within=30, what="a second ReplicaSet")

    async def replaced() -> list[JSONDict] | None:
        running = await _running_pods(rest, namespace, "api", 2)
        if running and not old_uids & {p["metadata"]["uid"] for p in running}:
            return running
        return None

    await eventually(replaced, within=90, what="the old pods to be replaced")
    sets = await replica_sets(rest, namespace, "api")
    assert sorted(s["spec"]["replicas"] for s in sets) == [0, 2]


async def test_service_account_without_binding_is_forbidden_to_list_secrets(
    rest: Rest, namespace: str, admin_configuration: Configuration
) -> None:
    await rest.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        body={"metadata": {"name": "nobody"}},
    )
    answer = await rest.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/nobody/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    token = answer["status"]["token"]

    as_nobody = Configuration(host=admin_configuration.host)
    as_nobody.ssl_ca_cert = admin_configuration.ssl_ca_cert
    as_nobody.api_key = {"BearerToken": f"Bearer {token}"}
    async with connect(as_nobody) as nobody:
        with pytest.raises(ApiError) as denied:
            await nobody.get(f"/api/v1/namespaces/{namespace}/secrets")
        # The same identity is authenticated (it may ask about itself), so 403 is RBAC's answer.
        review = await nobody.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    assert denied.value.status == 403
    assert review["status"]["userInfo"]["username"] == (f"system:serviceaccount:{namespace}:nobody")
