"""Taking over from Stakater Reloader: what it wrote into pod templates rolls nothing.

Stakater Reloader leaves a trace in the workloads it reloaded: an env var
``STAKATER_<NAME>_CONFIGMAP`` (or ``_SECRET``) holding a SHA-1 in one container, or, with its
annotations strategy, ``reloader.stakater.com/last-reloaded-from`` on the pod template. A
switch must not restart every such workload: reloader's first sight of one only records what
runs, and leaves Stakater's trace where it is (removing it would itself roll the pods). From
then on, each change rolls each workload once, through reloader's own annotation.
"""

from __future__ import annotations

import hashlib
import json

from reloader.core import names
from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import (
    configmap,
    container,
    create,
    merge_patch,
    path_of,
    secret,
    template_annotations,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.rollouts import expect_revisions, wait_recorded

LAST_RELOADED_FROM = "reloader.stakater.com/last-reloaded-from"


def stakater_sha(data: dict[str, str]) -> str:
    """The kind of value Stakater writes: a SHA-1 over the object's data."""
    joined = ";".join(f"{k}={v}" for k, v in sorted(data.items()))
    return hashlib.sha1(joined.encode()).hexdigest()


def stakater_env(name: str, kind: str, data: dict[str, str]) -> JSONDict:
    variable = f"STAKATER_{name.upper().replace('-', '_')}_{kind.upper()}"
    return {"name": variable, "value": stakater_sha(data)}


def with_template_annotations(obj: JSONDict, annotations: dict[str, str]) -> JSONDict:
    obj["spec"]["template"]["metadata"]["annotations"] = annotations
    return obj


async def env_of(rest: Rest, namespace: str, kind: str, name: str) -> list[JSONDict]:
    obj = await rest.get(path_of(kind, namespace, name))
    env: list[JSONDict] = obj["spec"]["template"]["spec"]["containers"][0].get("env") or []
    return env


async def test_workloads_stakater_reloaded_roll_nothing_on_takeover_then_once_per_change(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    cfg, creds = {"a": "1"}, {"token": "t1"}
    await create(rest, namespace, configmap("app-config", cfg))
    await create(rest, namespace, secret("app-creds", creds))
    from_cfg = [{"configMapRef": {"name": "app-config"}}]

    # The default strategy: Stakater's env var in the container, opted in with auto.
    env_var = stakater_env("app-config", "configmap", cfg)
    by_env = workload(
        "Deployment",
        "by-env",
        {"containers": [container(envFrom=from_cfg, env=[env_var])]},
        annotations={"reloader.stakater.com/auto": "true"},
    )
    # The annotations strategy: its record on the template, opted in by name.
    record = {
        "type": "CONFIGMAP",
        "namespace": namespace,
        "name": "app-config",
        "hash": stakater_sha(cfg),
        "containerRefs": ["app"],
        "observedAt": 1764460800,
    }
    by_annotation = with_template_annotations(
        workload(
            "Deployment",
            "by-annotation",
            {"containers": [container(envFrom=from_cfg)]},
            annotations={"configmap.reloader.stakater.com/reload": "app-config"},
        ),
        {LAST_RELOADED_FROM: json.dumps(record)},
    )
    # A StatefulSet reloaded on a Secret, the secret-only auto annotation.
    secret_var = stakater_env("app-creds", "secret", creds)
    volume = {"name": "creds", "secret": {"secretName": "app-creds"}}
    by_secret = workload(
        "StatefulSet",
        "by-secret",
        {
            "containers": [
                container(env=[secret_var], volumeMounts=[{"name": "creds", "mountPath": "/c"}])
            ],
            "volumes": [volume],
        },
        annotations={"secret.reloader.stakater.com/auto": "true"},
    )
    on_cfg = [("Deployment", "by-env"), ("Deployment", "by-annotation")]
    every = [*on_cfg, ("StatefulSet", "by-secret")]
    for obj in (by_env, by_annotation, by_secret):
        await create(rest, namespace, obj)
    for kind, name in every:
        await expect_revisions(rest, namespace, kind, name, 1, hold=0)

    # Takeover: each is recorded, none rolls.
    await start_reloader()
    for kind, name in every:
        await wait_recorded(rest, namespace, kind, name, within=30)
    for kind, name in every:
        await expect_revisions(rest, namespace, kind, name, 1, hold=2.0)
        assert names.CONFIG_HASH not in await template_annotations(rest, namespace, kind, name)

    # One ConfigMap change rolls each workload reading it once; the Secret's reader stays.
    await merge_patch(rest, namespace, "ConfigMap", "app-config", {"data": {"a": "2"}})
    for kind, name in on_cfg:
        await expect_revisions(rest, namespace, kind, name, 2)
    await expect_revisions(rest, namespace, "StatefulSet", "by-secret", 1, hold=0)
    # One Secret change rolls its reader once.
    await merge_patch(rest, namespace, "Secret", "app-creds", {"stringData": {"token": "t2"}})
    await expect_revisions(rest, namespace, "StatefulSet", "by-secret", 2)
    for kind, name in on_cfg:
        await expect_revisions(rest, namespace, kind, name, 2, hold=0)

    # Stakater's traces are left as they were: removing them would roll the pods again.
    assert env_var in await env_of(rest, namespace, "Deployment", "by-env")
    assert secret_var in await env_of(rest, namespace, "StatefulSet", "by-secret")
    annotations = await template_annotations(rest, namespace, "Deployment", "by-annotation")
    assert json.loads(annotations[LAST_RELOADED_FROM]) == record
    for kind, name in every:
        assert names.CONFIG_HASH in await template_annotations(rest, namespace, kind, name)
