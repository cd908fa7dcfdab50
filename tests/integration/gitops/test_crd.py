"""A revision that brings a CRD and objects of its kind: the CRD first, Established, then them."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from functools import partial

import pytest

from reloader.kube.rest import ApiError, Rest
from tests.integration.cluster import eventually
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import GitRepo, applied_sha


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
