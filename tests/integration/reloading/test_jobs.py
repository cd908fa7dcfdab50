"""Jobs reload by being deleted and created again (their template is immutable): once a change."""

from __future__ import annotations

import pytest

from reloader.core import names
from reloader.core.references import Kind
from reloader.kube.recreating import Recreator, Stale
from reloader.kube.resources import CRONJOBS, JOBS
from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import (
    configmap,
    container,
    create,
    eventually,
    merge_patch,
    stays,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.controller import ReloaderProcess
from tests.integration.rollouts import expected_hash

AUTO = {"reloader.stakater.com/auto": "true"}
POD: JSONDict = {
    "restartPolicy": "Never",
    "containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])],
}


def job(name: str = "migrate", *, owner: JSONDict | None = None) -> JSONDict:
    meta: JSONDict = {"name": name, "annotations": dict(AUTO), "labels": {"team": "db"}}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 2,
            "template": {"metadata": {"labels": {"app": name}}, "spec": POD},
        },
    }


async def read(rest: Rest, namespace: str, name: str = "migrate") -> JSONDict:
    return await rest.get(JOBS.item(namespace, name))


async def uid_of(rest: Rest, namespace: str, name: str = "migrate") -> str | None:
    found = await rest.get_or_none(JOBS.item(namespace, name))
    return None if found is None else str(found["metadata"]["uid"])


def template_hash(obj: JSONDict) -> str | None:
    annotations = obj["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get(names.CONFIG_HASH)


async def change(rest: Rest, namespace: str, value: str) -> None:
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": value}})


async def start_recorded(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> tuple[ReloaderProcess, str]:
    """cfg and the Job ``migrate`` reading it; reloader started and its first sight recorded."""
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    created = await rest.request("POST", JOBS.collection(namespace), body=job())
    controller = await start_reloader()

    async def recorded() -> bool:
        annotations = (await read(rest, namespace))["metadata"].get("annotations") or {}
        return names.OBSERVED in annotations

    await eventually(recorded, within=15, what="reloader to record Job/migrate")
    uid = str(created["metadata"]["uid"])
    assert await uid_of(rest, namespace) == uid, "first sight must record, not recreate"
    return controller, uid


async def recreated_once(rest: Rest, namespace: str, before: str) -> str:
    """Wait for the Job to be replaced, then check it is replaced exactly once."""

    async def replaced() -> str | None:
        uid = await uid_of(rest, namespace)
        return uid if uid not in (None, before) else None

    after = await eventually(replaced, within=20, what="Job/migrate to be recreated")

    async def same() -> bool:
        return await uid_of(rest, namespace) == after

    await stays(same, for_=2.0, what="the recreated Job staying the same one")
    return after


async def test_a_change_recreates_the_job_once_with_the_new_hash(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    _, first = await start_recorded(rest, namespace, start_reloader)
    await stays(
        lambda: _same_uid(rest, namespace, first), for_=1.5, what="no recreate without a change"
    )

    await change(rest, namespace, "2")
    second = await recreated_once(rest, namespace, first)
    new = await read(rest, namespace)
    assert template_hash(new) == await expected_hash(rest, namespace, [(Kind.CONFIGMAP, "cfg")])
    # The same Job as its author wrote it: labels, annotations and spec carried over; the
    # server made a fresh selector for the new uid.
    assert new["metadata"]["labels"]["team"] == "db"
    assert new["metadata"]["annotations"]["reloader.stakater.com/auto"] == "true"
    assert new["spec"]["backoffLimit"] == 2
    assert new["spec"]["template"]["metadata"]["labels"]["app"] == "migrate"
    assert new["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == second

    events = (await rest.get(f"/api/v1/namespaces/{namespace}/events"))["items"]
    reloaded = [e["message"] for e in events if e["reason"] == names.REASON_RELOADED]
    assert len(reloaded) == 1
    assert reloaded[0].startswith("recreated Job for changed ConfigMap/cfg")

    await change(rest, namespace, "3")
    await recreated_once(rest, namespace, second)


async def _same_uid(rest: Rest, namespace: str, uid: str, name: str = "migrate") -> bool:
    return await uid_of(rest, namespace, name) == uid


async def test_the_old_jobs_pods_are_removed(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    _, first = await start_recorded(rest, namespace, start_reloader)
    pods_path = f"/api/v1/namespaces/{namespace}/pods"
    selector = {"labelSelector": f"batch.kubernetes.io/controller-uid={first}"}

    async def old_pods() -> int:
        return len((await rest.get(pods_path, selector))["items"])

    await eventually(old_pods, within=20, what="the Job's pod to be created")
    await change(rest, namespace, "2")
    await recreated_once(rest, namespace, first)

    async def none_left() -> bool:
        return await old_pods() == 0

    await eventually(none_left, within=30, what="the garbage collector to remove old pods")


async def test_restarting_the_controller_recreates_nothing(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    controller, first = await start_recorded(rest, namespace, start_reloader)
    await change(rest, namespace, "2")
    second = await recreated_once(rest, namespace, first)

    assert await controller.stop() == 0
    await start_reloader()
    await stays(
        lambda: _same_uid(rest, namespace, second), for_=3.0, what="no recreate after a restart"
    )
    await change(rest, namespace, "3")
    await recreated_once(rest, namespace, second)


async def test_a_job_its_cronjob_controls_is_left_to_the_cronjob(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    spec = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}
    cron = await create(rest, namespace, workload("CronJob", "nightly", spec, annotations=AUTO))
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": "nightly",
        "uid": cron["metadata"]["uid"],
        "controller": True,
    }
    child = await rest.request(
        "POST", JOBS.collection(namespace), body=job("nightly-1", owner=owner)
    )
    await start_reloader()

    async def cron_hash() -> str | None:
        body = await rest.get(CRONJOBS.item(namespace, "nightly"))
        template = body["spec"]["jobTemplate"]["spec"]["template"]["metadata"]
        return (template.get("annotations") or {}).get(names.CONFIG_HASH)

    async def cron_recorded() -> bool:
        body = await rest.get(CRONJOBS.item(namespace, "nightly"))
        return names.OBSERVED in (body["metadata"].get("annotations") or {})

    await eventually(cron_recorded, within=15, what="reloader to record CronJob/nightly")
    await change(rest, namespace, "2")
    await eventually(cron_hash, within=15, what="the CronJob's template hash")
    uid = child["metadata"]["uid"]
    await stays(
        lambda: _same_uid(rest, namespace, uid, "nightly-1"),
        for_=2.0,
        what="the CronJob's Job left alone",
    )


@pytest.mark.parametrize("stale", ["uid", "hash"])
async def test_a_job_that_is_not_the_one_decided_on_is_never_deleted(
    rest: Rest, namespace: str, stale: str
) -> None:
    created = await rest.request("POST", JOBS.collection(namespace), body=job())
    meta = created["metadata"]
    recreator = Recreator(rest)
    with pytest.raises(Stale):
        await recreator.recreate(
            namespace=namespace,
            name="migrate",
            uid="00000000-0000-0000-0000-000000000000" if stale == "uid" else meta["uid"],
            seen_hash="some-other-hash" if stale == "hash" else None,
            seen_record=None,
            template_hash="new",
            record="{}",
        )
    body = await read(rest, namespace)
    assert body["metadata"]["uid"] == meta["uid"]
    assert body["metadata"].get("deletionTimestamp") is None
