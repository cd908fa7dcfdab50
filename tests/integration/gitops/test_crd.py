"""A revision that brings a CRD and objects of its kind: the CRD first, Established, then them."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from functools import partial

import pytest

from reloader.core import names
from reloader.kube.rest import ApiError, JSONDict, Rest
from tests.integration.cluster import configmap, eventually
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    GitRepo,
    applied_sha,
    event_with,
    exists,
    is_applied,
    reloader_status,
    state,
)


@pytest.fixture
async def group(rest: Rest) -> AsyncIterator[str]:
    """A CRD group of this test's own (CRDs are cluster-scoped); its CRD is deleted after."""
    name = f"t{secrets.token_hex(4)}.example.com"
    yield name
    try:
        await rest.request(
            "DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{name}"
        )
    except ApiError as exc:
        if not exc.not_found:
            raise


def crd(group: str) -> dict[str, object]:
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


async def test_crd_and_its_objects_apply_in_one_revision(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, group: str
) -> None:
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "gizmo"},
        "spec": {"size": 3},
    }
    repo.put("crds/widget.yaml", crd(group))
    repo.put("apps/gizmo.yaml", widget)
    sha = repo.commit("a CRD and a Widget")
    await start_loop()

    path = f"/apis/{group}/v1/namespaces/{namespace}/widgets/gizmo"
    created = await eventually(partial(rest.get_or_none, path), within=30, what="the Widget")
    assert created["spec"] == {"size": 3}

    async def applied() -> bool:
        return await applied_sha(rest, namespace) == sha

    await eventually(applied, within=10, what="the revision recorded as applied")


def strict_crd(group: str, *fields: str) -> dict[str, object]:
    """The Widget CRD with a schema that knows only ``fields`` (strings) in its spec."""
    obj = crd(group)
    properties = {name: {"type": "string"} for name in fields}
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": properties}},
    }
    obj["spec"]["versions"][0]["schema"] = {"openAPIV3Schema": schema}  # type: ignore[index]
    return obj


def widget(group: str, annotations: dict[str, str] | None = None, **spec: str) -> JSONDict:
    return {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "gizmo", "annotations": annotations or {}},
        "spec": spec,
    }


async def test_a_crd_change_and_an_object_using_it_apply_in_one_sync(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, group: str
) -> None:
    repo.put("crds/widget.yaml", strict_crd(group, "size"))
    repo.put("apps/gizmo.yaml", widget(group, size="3"))
    first = repo.commit("a Widget with a size")
    await start_loop()
    await eventually(partial(is_applied, rest, namespace, first), within=30, what="applied")

    repo.put("crds/widget.yaml", strict_crd(group, "size", "colour"))
    repo.put("apps/gizmo.yaml", widget(group, size="3", colour="blue"))
    second = repo.commit("the CRD learns colour, and the Widget uses it")
    await eventually(partial(is_applied, rest, namespace, second), within=30, what="applied")
    live = await rest.get(f"/apis/{group}/v1/namespaces/{namespace}/widgets/gizmo")
    assert live["spec"] == {"size": "3", "colour": "blue"}


async def test_an_object_of_an_unknown_kind_is_refused_with_the_way_out(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, group: str
) -> None:
    repo.put("cm.yaml", configmap("cm", {"x": "1"}))
    repo.put("apps/gizmo.yaml", widget(group, size="3"))
    sha = repo.commit("a Widget whose CRD is nowhere")
    await start_loop()
    event = await eventually(
        partial(event_with, rest, namespace, "RevisionInvalid", sha[:12]),
        within=15,
        what="the refusal",
    )
    assert "apps/gizmo.yaml:1:" in event["message"], event["message"]
    assert names.SKIP_DRY_RUN_ON_MISSING in event["message"], event["message"]
    assert not await exists(rest, namespace, "ConfigMap", "cm")


async def test_an_object_that_may_wait_for_its_crd_is_pending_then_applied(
    rest: Rest, namespace: str, *, kubeconfig: str, repo: GitRepo, start_loop: StartLoop, group: str
) -> None:
    repo.put("cm.yaml", configmap("cm", {"x": "1"}))
    argo = {names.ARGO_SYNC_OPTIONS: "SkipDryRunOnMissingResource=true"}
    repo.put("apps/gizmo.yaml", widget(group, argo, size="3"))
    sha = repo.commit("a Widget that waits for its CRD")
    await start_loop()
    await eventually(partial(is_applied, rest, namespace, sha), within=15, what="applied")
    assert await exists(rest, namespace, "ConfigMap", "cm")
    _, out = await reloader_status(kubeconfig, namespace)
    assert "pending (waits for its CRD): Widget/gizmo" in out, out

    await rest.request(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd(group)
    )
    path = f"/apis/{group}/v1/namespaces/{namespace}/widgets/gizmo"
    created = await eventually(partial(rest.get_or_none, path), within=30, what="the Widget")
    assert created["spec"] == {"size": "3"}

    async def not_pending() -> bool:
        return not (await state(rest, namespace)).get("pending")

    await eventually(not_pending, within=10, what="nothing pending")
