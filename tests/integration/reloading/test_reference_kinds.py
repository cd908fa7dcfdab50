"""Every way a pod template can reference a ConfigMap or Secret makes it roll, exactly once."""

from __future__ import annotations

import pytest

from reloader.core.references import Kind, extract_refs
from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import (
    configmap,
    container,
    create,
    eventually,
    merge_patch,
    path_of,
    secret,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.rollouts import config_hash, expect_revisions, expected_hash

AUTO = {"reloader.stakater.com/auto": "true"}
CFG = (Kind.CONFIGMAP, "cfg")
CREDS = (Kind.SECRET, "creds")
MOUNT = [{"name": "v", "mountPath": "/etc/v"}]
PROJECTED_SOURCES = [{"configMap": {"name": "cfg"}}, {"secret": {"name": "creds"}}]


def mounted(volume: JSONDict) -> JSONDict:
    return {"volumes": [{"name": "v", **volume}], "containers": [container(volumeMounts=MOUNT)]}


def env(source: str, name: str) -> JSONDict:
    value_from = {source: {"name": name, "key": "a"}}
    return {"containers": [container(env=[{"name": "A", "valueFrom": value_from}])]}


def env_from(source: str, name: str) -> JSONDict:
    return {"containers": [container(envFrom=[{source: {"name": name}}])]}


REFERENCE_KINDS = [
    pytest.param(mounted({"configMap": {"name": "cfg"}}), [CFG], id="configmap-volume"),
    pytest.param(mounted({"secret": {"secretName": "creds"}}), [CREDS], id="secret-volume"),
    pytest.param(
        mounted({"projected": {"sources": PROJECTED_SOURCES}}),
        [CFG, CREDS],
        id="projected-volume",
    ),
    pytest.param(env("configMapKeyRef", "cfg"), [CFG], id="env-configmapkeyref"),
    pytest.param(env("secretKeyRef", "creds"), [CREDS], id="env-secretkeyref"),
    pytest.param(env_from("configMapRef", "cfg"), [CFG], id="envfrom-configmapref"),
    pytest.param(env_from("secretRef", "creds"), [CREDS], id="envfrom-secretref"),
    pytest.param(
        {
            "initContainers": [container(name="init", envFrom=[{"configMapRef": {"name": "cfg"}}])],
            "containers": [container()],
        },
        [CFG],
        id="init-container-only",
    ),
]


async def change(rest: Rest, namespace: str, ref: tuple[Kind, str], value: str) -> None:
    kind, name = ref
    field = "data" if kind is Kind.CONFIGMAP else "stringData"
    await merge_patch(rest, namespace, kind.value, name, {field: {"a": value}})


async def observed(rest: Rest, namespace: str, name: str) -> bool:
    obj = await rest.get(path_of("Deployment", namespace, name))
    return "reloader.dev/observed" in (obj["metadata"].get("annotations") or {})


@pytest.mark.parametrize(("pod_spec", "refs"), REFERENCE_KINDS)
async def test_deployment_rolls_once_per_change_of_each_referenced_object(
    rest: Rest,
    namespace: str,
    start_reloader: StartReloader,
    pod_spec: JSONDict,
    refs: list[tuple[Kind, str]],
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, secret("creds", {"a": "1"}))
    await create(rest, namespace, workload("Deployment", "web", pod_spec, annotations=AUTO))
    await start_reloader()
    await eventually(
        lambda: observed(rest, namespace, "web"), within=10, what="reloader to record the workload"
    )

    for rolled, ref in enumerate(refs, start=2):
        await change(rest, namespace, ref, "2")
        await expect_revisions(rest, namespace, "Deployment", "web", rolled)
    read_by_key = {r.key: r.keys for r in extract_refs(pod_spec) if r.keys is not None}
    assert await config_hash(rest, namespace, "Deployment", "web") == await expected_hash(
        rest, namespace, refs, keys=read_by_key
    )


async def test_optional_reference_to_missing_configmap_rolls_once_when_it_is_created(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    spec = {
        "containers": [container(envFrom=[{"configMapRef": {"name": "late", "optional": True}}])]
    }
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=AUTO))
    controller = await start_reloader()
    await eventually(
        lambda: observed(rest, namespace, "web"), within=10, what="reloader to record the workload"
    )
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    assert controller.proc is not None
    assert controller.proc.returncode is None

    await create(rest, namespace, configmap("late", {"a": "1"}))
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    assert await config_hash(rest, namespace, "Deployment", "web") == await expected_hash(
        rest, namespace, [(Kind.CONFIGMAP, "late")]
    )
