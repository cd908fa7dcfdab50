"""Annotations on the pod template (Helm charts' ``podAnnotations``) count, as in Stakater."""

from __future__ import annotations

from reloader.core import names
from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import (
    configmap,
    container,
    create,
    eventually,
    merge_patch,
    path_of,
    template_annotations,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.rollouts import config_hash, expect_revisions, wait_recorded

SPEC = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}


def annotated(
    kind: str, name: str, *, on_template: dict[str, str], on_workload: dict[str, str] | None = None
) -> JSONDict:
    body = workload(kind, name, SPEC, annotations=on_workload)
    spec = body["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else body["spec"]
    spec["template"]["metadata"]["annotations"] = on_template
    return body


async def events_of(rest: Rest, namespace: str, name: str, reason: str) -> list[JSONDict]:
    listing = await rest.get(f"/api/v1/namespaces/{namespace}/events")
    return [
        e
        for e in listing["items"]
        if e["involvedObject"].get("name") == name and e.get("reason") == reason
    ]


async def change(rest: Rest, namespace: str, value: str) -> None:
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": value}})


async def test_auto_on_the_pod_template_rolls_once_per_change(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, annotated("Deployment", "web", on_template={names.AUTO: "true"}))
    await start_reloader()
    await wait_recorded(rest, namespace)

    await change(rest, namespace, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    # reloader's hash joins the template's own annotations; theirs stay.
    found = await template_annotations(rest, namespace, "Deployment", "web")
    assert found[names.AUTO] == "true"
    assert names.CONFIG_HASH in found


async def test_a_cronjob_reads_its_job_template_annotations(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, annotated("CronJob", "job", on_template={names.AUTO: "true"}))
    await start_reloader()
    await wait_recorded(rest, namespace, kind="CronJob", name="job")
    assert await config_hash(rest, namespace, "CronJob", "job") is None

    await change(rest, namespace, "2")

    async def stamped() -> str | None:
        return await config_hash(rest, namespace, "CronJob", "job")

    await eventually(stamped, within=15, what="the CronJob's job template to get a hash")


async def test_the_workload_annotation_wins_over_the_pod_template(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(
        rest,
        namespace,
        annotated(
            "Deployment",
            "out",
            on_workload={names.AUTO: "false"},
            on_template={names.AUTO: "true"},
        ),
    )
    await create(rest, namespace, annotated("Deployment", "in", on_template={names.AUTO: "true"}))
    await start_reloader()
    await wait_recorded(rest, namespace, name="in")

    await change(rest, namespace, "2")
    await expect_revisions(rest, namespace, "Deployment", "in", 2)
    await expect_revisions(rest, namespace, "Deployment", "out", 1, hold=1.0)
    out = await rest.get(path_of("Deployment", namespace, "out"))
    assert names.OBSERVED not in (out["metadata"].get("annotations") or {})


async def test_an_invalid_annotation_on_the_pod_template_is_reported_there(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(
        rest,
        namespace,
        annotated(
            "Deployment", "bad", on_template={names.AUTO: "true", names.PAUSE_PERIOD: "soon"}
        ),
    )
    await start_reloader()

    warnings = await eventually(
        lambda: events_of(rest, namespace, "bad", names.REASON_BAD_ANNOTATION),
        within=15,
        what="an InvalidAnnotation Event on Deployment/bad",
    )
    message = warnings[0]["message"]
    assert f"annotation {names.PAUSE_PERIOD} on the pod template" in message
    assert "'soon'" in message

    # The bad value is ignored; the rest of the policy works.
    await wait_recorded(rest, namespace, name="bad")
    await change(rest, namespace, "2")
    await expect_revisions(rest, namespace, "Deployment", "bad", 2)
