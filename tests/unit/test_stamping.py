"""The GitOps stamp hashes what the reloader would: the same view of each object.

If the two disagreed, a commit changing a ConfigMap and its Deployment would be applied with
one hash and the reloader would find another (it re-records without rolling, but the record
and the template would stop telling the truth about what the pods see).
"""

from __future__ import annotations

from reloader.core import names
from reloader.core.annotations import ReloadOn, parse_policy
from reloader.core.deciding import desired_record, object_state, select
from reloader.core.hashing import Hasher
from reloader.core.manifests import Manifest
from reloader.core.references import Kind, extract_refs
from reloader.gitops.stamping import stamp
from reloader.kube.rest import JSONDict

HASHER = Hasher(b"k" * 32)


def configmap(data: dict[str, str]) -> Manifest:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data}
    return Manifest("cfg.yaml", 1, obj)


def deployment() -> Manifest:
    spec = {
        "containers": [
            {
                "name": "app",
                "image": "app:1",
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}},
                    }
                ],
            }
        ]
    }
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {names.AUTO: "true"}},
        "spec": {"template": {"metadata": {}, "spec": spec}},
    }
    return Manifest("web.yaml", 1, obj)


async def no_live_object(kind: Kind, namespace: str, name: str) -> JSONDict | None:
    return None


async def stamped_hash(data: dict[str, str], reload_on: ReloadOn) -> str:
    bodies = await stamp(
        [configmap(data), deployment()],
        hasher=HASHER,
        fetch=no_live_object,
        default_namespace="default",
        reload_on=reload_on,
    )
    annotations = bodies[1]["spec"]["template"]["metadata"]["annotations"]
    return str(annotations[names.CONFIG_HASH])


def reloader_hash(data: dict[str, str], reload_on: ReloadOn) -> str:
    """What the config reloader computes for the same objects under the same default."""
    workload = deployment().obj
    policy = parse_policy(workload["metadata"]["annotations"], reload_on=reload_on)
    refs = extract_refs(workload["spec"]["template"]["spec"])
    objects = {(Kind.CONFIGMAP, "cfg"): object_state(Kind.CONFIGMAP, configmap(data).obj)}
    return desired_record(HASHER, select(policy, refs, objects)).hash


async def test_the_stamp_follows_the_controller_wide_reload_on_default() -> None:
    before, after = {"a": "1", "b": "1"}, {"a": "1", "b": "2"}  # only an unread key changes

    for mode in ReloadOn:
        assert await stamped_hash(before, mode) == reloader_hash(before, mode)
        assert await stamped_hash(after, mode) == reloader_hash(after, mode)
    assert await stamped_hash(before, ReloadOn.KEYS) == await stamped_hash(after, ReloadOn.KEYS)
    assert await stamped_hash(before, ReloadOn.OBJECT) != await stamped_hash(after, ReloadOn.OBJECT)


def rollout(annotations: dict[str, str]) -> Manifest:
    obj = deployment().obj | {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"}
    obj["metadata"] = {"name": "web", "annotations": {names.AUTO: "true", **annotations}}
    return Manifest("rollout.yaml", 1, obj)


async def test_a_rollout_is_stamped_only_when_it_rolls_by_its_template() -> None:
    async def stamped(annotations: dict[str, str]) -> bool:
        manifests = [configmap({"a": "1"}), rollout(annotations)]
        bodies = await stamp(
            manifests, hasher=HASHER, fetch=no_live_object, default_namespace="default"
        )
        return 1 in bodies

    assert await stamped({})
    assert await stamped({names.ROLLOUT_STRATEGY: "rollout"})
    # A restart is decided from the record: stamping it would take the change as done.
    assert not await stamped({names.ROLLOUT_STRATEGY: "restart"})
