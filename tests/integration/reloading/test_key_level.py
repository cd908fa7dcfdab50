"""Key-level reloads: a workload rolls only when content it can see changes.

One ConfigMap ``cfg`` with keys ``a`` and ``b``, read in every way a pod can read it.
"""

from __future__ import annotations

import base64
import json

from reloader.core import names
from reloader.core.annotations import parse_policy
from reloader.core.deciding import ObjectState, desired_record, select
from reloader.core.hashing import Hasher, content_digest, fingerprint
from reloader.core.references import Kind, extract_refs
from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import (
    configmap,
    container,
    create,
    eventually,
    merge_patch,
    path_of,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.rollouts import config_hash, expect_revisions, wait_recorded

AUTO = {names.AUTO: "true"}
CFG = (Kind.CONFIGMAP, "cfg")


def reads_key(*keys: str) -> JSONDict:
    env = [
        {"name": f"K_{key.upper()}", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": key}}}
        for key in keys
    ]
    return {"containers": [container(env=env)]}


def env_from() -> JSONDict:
    return {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}


def items(*keys: str) -> JSONDict:
    listed = [{"key": key, "path": key} for key in keys]
    return {
        "volumes": [{"name": "v", "configMap": {"name": "cfg", "items": listed}}],
        "containers": [container(volumeMounts=[{"name": "v", "mountPath": "/etc/cfg"}])],
    }


async def deploy(
    rest: Rest, namespace: str, name: str, pod_spec: JSONDict, **annotations: str
) -> None:
    await create(
        rest, namespace, workload("Deployment", name, pod_spec, annotations={**AUTO, **annotations})
    )


async def set_key(rest: Rest, namespace: str, key: str, value: str) -> None:
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {key: value}})


async def record_of(rest: Rest, namespace: str, name: str) -> JSONDict:
    obj = await rest.get(path_of("Deployment", namespace, name))
    raw = (obj["metadata"].get("annotations") or {}).get(names.OBSERVED)
    return json.loads(raw) if raw else {}


async def hasher_of(rest: Rest, namespace: str) -> Hasher:
    key_secret = await rest.get(path_of("Secret", namespace, "reloader-hash-key"))
    return Hasher(base64.b64decode(key_secret["data"]["key"]))


async def seen_hash(rest: Rest, namespace: str, name: str) -> str:
    """The hash reloader must write for what Deployment ``name`` sees, computed from the API."""
    obj = await rest.get(path_of("Deployment", namespace, name))
    cfg = await rest.get(path_of("ConfigMap", namespace, "cfg"))
    digest, keys = fingerprint(Kind.CONFIGMAP, cfg)
    policy = parse_policy(obj["metadata"].get("annotations") or {})
    refs = extract_refs(obj["spec"]["template"]["spec"])
    chosen = select(policy, refs, {CFG: ObjectState(digest, keys=keys)})
    return desired_record(await hasher_of(rest, namespace), chosen).hash


async def test_a_change_of_one_key_rolls_only_what_sees_it(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1", "b": "1"}))
    await deploy(rest, namespace, "reads-a", reads_key("a"))
    await deploy(rest, namespace, "reads-b", reads_key("b"))
    await deploy(rest, namespace, "env-from", env_from())
    await deploy(rest, namespace, "items-a", items("a"))
    await start_reloader()
    for name in ("reads-a", "reads-b", "env-from", "items-a"):
        await wait_recorded(rest, namespace, name=name)

    await set_key(rest, namespace, "b", "2")
    await expect_revisions(rest, namespace, "Deployment", "reads-b", 2)
    await expect_revisions(rest, namespace, "Deployment", "env-from", 2)
    await expect_revisions(rest, namespace, "Deployment", "reads-a", 1, hold=2.0)
    await expect_revisions(rest, namespace, "Deployment", "items-a", 1, hold=0.5)
    assert await config_hash(rest, namespace, "Deployment", "reads-b") == await seen_hash(
        rest, namespace, "reads-b"
    )

    await set_key(rest, namespace, "a", "2")
    await expect_revisions(rest, namespace, "Deployment", "reads-a", 2)
    await expect_revisions(rest, namespace, "Deployment", "items-a", 2)
    await expect_revisions(rest, namespace, "Deployment", "env-from", 3)
    await expect_revisions(rest, namespace, "Deployment", "reads-b", 2, hold=0.5)
    assert (await record_of(rest, namespace, "items-a"))["keys"] == {"ConfigMap/cfg": ["a"]}


async def test_a_key_that_appears_rolls_the_workload_reading_it(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    spec = reads_key("a")
    spec["containers"][0]["env"].append(
        {
            "name": "LATE",
            "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "late", "optional": True}},
        }
    )
    await deploy(rest, namespace, "web", spec)
    await start_reloader()
    await wait_recorded(rest, namespace)

    await set_key(rest, namespace, "other", "1")
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=2.0)
    await set_key(rest, namespace, "late", "1")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)


async def test_reload_on_object_rolls_for_any_key(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1", "b": "1"}))
    await deploy(rest, namespace, "whole", reads_key("a"), **{names.RELOAD_ON: "object"})
    await deploy(rest, namespace, "keys", reads_key("a"))
    await start_reloader()
    await wait_recorded(rest, namespace, name="whole")
    await wait_recorded(rest, namespace, name="keys")

    await set_key(rest, namespace, "b", "2")
    await expect_revisions(rest, namespace, "Deployment", "whole", 2)
    await expect_revisions(rest, namespace, "Deployment", "keys", 1, hold=0.5)
    assert "keys" not in await record_of(rest, namespace, "whole")


async def test_switching_reload_on_rolls_nothing(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1", "b": "1"}))
    await deploy(rest, namespace, "web", reads_key("a"))
    await start_reloader()
    await wait_recorded(rest, namespace)

    async def record_has_keys(expected: bool) -> bool:
        return ("keys" in await record_of(rest, namespace, "web")) is expected

    await merge_patch(
        rest,
        namespace,
        "Deployment",
        "web",
        {"metadata": {"annotations": {names.RELOAD_ON: "object"}}},
    )
    await eventually(lambda: record_has_keys(False), within=15, what="a whole-object record")
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=2.0)

    await merge_patch(
        rest, namespace, "Deployment", "web", {"metadata": {"annotations": {names.RELOAD_ON: None}}}
    )
    await eventually(lambda: record_has_keys(True), within=15, what="a key-level record")
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=2.0)

    # Still following, by key again.
    await set_key(rest, namespace, "b", "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=1.5)
    await set_key(rest, namespace, "a", "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)


async def test_a_template_edit_adding_a_key_rolls_once(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1", "b": "1"}))
    await deploy(rest, namespace, "web", reads_key("a"))
    await start_reloader()
    await wait_recorded(rest, namespace)

    # A merge patch, not a read-modify-PUT: the controller-manager writes the status meanwhile.
    template_spec = {"spec": {"template": {"spec": reads_key("a", "b")}}}
    await merge_patch(rest, namespace, "Deployment", "web", template_spec)

    async def records_b() -> bool:
        return (await record_of(rest, namespace, "web")).get("keys") == {
            "ConfigMap/cfg": ["a", "b"]
        }

    await eventually(records_b, within=15, what="the record to cover key b")
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=2.0)


async def test_a_restart_rolls_nothing(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1", "b": "1"}))
    await deploy(rest, namespace, "web", reads_key("a"))
    controller = await start_reloader()
    await wait_recorded(rest, namespace)
    await set_key(rest, namespace, "a", "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    before = await record_of(rest, namespace, "web")
    await controller.stop()

    await set_key(rest, namespace, "b", "2")  # unseen, while down
    await start_reloader()
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=3.0)
    assert await record_of(rest, namespace, "web") == before


async def test_a_record_of_the_whole_object_scheme_stays_put_after_the_upgrade(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    """What the first release wrote (whole-object digests, no keys) rolls nothing now."""
    hasher = Hasher(b"h2-upgrade-test-key-0123456789ab")
    await create(
        rest,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "reloader-hash-key"},
            "data": {"key": base64.b64encode(hasher.key).decode()},
        },
    )
    cfg = await create(rest, namespace, configmap("cfg", {"a": "1", "b": "1"}))
    old = desired_record(hasher, {CFG: content_digest(Kind.CONFIGMAP, cfg)})
    body = workload(
        "Deployment", "web", reads_key("a"), annotations={**AUTO, names.OBSERVED: old.render()}
    )
    body["spec"]["template"]["metadata"]["annotations"] = {names.CONFIG_HASH: old.hash}
    await create(rest, namespace, body)
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=0.5)

    await start_reloader()

    async def re_recorded() -> bool:
        return "keys" in await record_of(rest, namespace, "web")

    await eventually(re_recorded, within=15, what="the record to be rewritten key by key")
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=2.0)
    assert await config_hash(rest, namespace, "Deployment", "web") == old.hash

    await set_key(rest, namespace, "a", "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    assert await config_hash(rest, namespace, "Deployment", "web") == await seen_hash(
        rest, namespace, "web"
    )
