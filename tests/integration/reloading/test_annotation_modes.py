"""Every opt-in annotation of the README's table, proven by counting rollouts on the cluster."""

from __future__ import annotations

import functools

from reloader.core.references import Kind
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


def env_from(*refs: tuple[Kind, str]) -> JSONDict:
    sources = [
        {"configMapRef" if kind is Kind.CONFIGMAP else "secretRef": {"name": name}}
        for kind, name in refs
    ]
    return {"containers": [container(envFrom=sources)]}


async def deploy(
    rest: Rest, namespace: str, name: str, annotations: dict[str, str], *refs: tuple[Kind, str]
) -> None:
    spec = env_from(*refs)
    await create(rest, namespace, workload("Deployment", name, spec, annotations=annotations))


async def change(rest: Rest, namespace: str, ref: tuple[Kind, str], value: str) -> None:
    """Change the content of a ConfigMap or Secret (key ``a``)."""
    kind, name = ref
    field = "data" if kind is Kind.CONFIGMAP else "stringData"
    await merge_patch(rest, namespace, kind.value, name, {field: {"a": value}})


async def observed(rest: Rest, namespace: str, *names: str) -> None:
    """Wait for reloader's first-sight record on each Deployment, so later edits are changes."""

    async def recorded(name: str) -> bool:
        obj = await rest.get(path_of("Deployment", namespace, name))
        return "reloader.dev/observed" in (obj["metadata"].get("annotations") or {})

    for name in names:
        await eventually(
            functools.partial(recorded, name),
            within=10,
            what=f"reloader to record Deployment/{name}",
        )


async def assert_hash_covers(
    rest: Rest, namespace: str, name: str, objects: list[tuple[Kind, str]]
) -> None:
    assert await config_hash(rest, namespace, "Deployment", name) == await expected_hash(
        rest, namespace, objects
    )


async def events_of(rest: Rest, namespace: str, name: str, reason: str) -> list[JSONDict]:
    listing = await rest.get(f"/api/v1/namespaces/{namespace}/events")
    return [
        e
        for e in listing["items"]
        if e["involvedObject"].get("name") == name and e.get("reason") == reason
    ]


async def test_auto_rolls_on_referenced_configmap_and_secret_changes(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, secret("creds", {"a": "1"}))
    await deploy(rest, namespace, "web", AUTO, CFG, CREDS)
    await start_reloader()
    await observed(rest, namespace, "web")

    await change(rest, namespace, CFG, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await change(rest, namespace, CREDS, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 3)
    await assert_hash_covers(rest, namespace, "web", [CFG, CREDS])


async def test_configmap_auto_rolls_on_configmap_but_not_on_secret(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, secret("creds", {"a": "1"}))
    await deploy(
        rest, namespace, "web", {"configmap.reloader.stakater.com/auto": "true"}, CFG, CREDS
    )
    await start_reloader()
    await observed(rest, namespace, "web")

    await change(rest, namespace, CREDS, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    await change(rest, namespace, CFG, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await assert_hash_covers(rest, namespace, "web", [CFG])


async def test_secret_auto_rolls_on_secret_but_not_on_configmap(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, secret("creds", {"a": "1"}))
    await deploy(rest, namespace, "web", {"secret.reloader.stakater.com/auto": "true"}, CFG, CREDS)
    await start_reloader()
    await observed(rest, namespace, "web")

    await change(rest, namespace, CFG, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    await change(rest, namespace, CREDS, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await assert_hash_covers(rest, namespace, "web", [CREDS])


async def test_configmap_reload_regex_is_anchored_and_needs_no_reference(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("app-x", {"a": "1"}))
    await create(rest, namespace, configmap("myapp-x", {"a": "1"}))
    await deploy(rest, namespace, "web", {"configmap.reloader.stakater.com/reload": "app-.*"})
    await start_reloader()
    await observed(rest, namespace, "web")

    await change(rest, namespace, (Kind.CONFIGMAP, "myapp-x"), "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    await change(rest, namespace, (Kind.CONFIGMAP, "app-x"), "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await assert_hash_covers(rest, namespace, "web", [(Kind.CONFIGMAP, "app-x")])


async def test_secret_reload_exact_name_rolls_only_on_that_secret(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, secret("creds", {"a": "1"}))
    await create(rest, namespace, secret("creds-old", {"a": "1"}))
    await deploy(rest, namespace, "web", {"secret.reloader.stakater.com/reload": "creds"})
    await start_reloader()
    await observed(rest, namespace, "web")

    await change(rest, namespace, (Kind.SECRET, "creds-old"), "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    await change(rest, namespace, CREDS, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await assert_hash_covers(rest, namespace, "web", [CREDS])


async def test_search_rolls_only_on_referenced_objects_marked_match(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    matched = (Kind.CONFIGMAP, "matched")
    plain = (Kind.CONFIGMAP, "plain")
    await create(
        rest, namespace, configmap("matched", {"a": "1"}, {"reloader.stakater.com/match": "true"})
    )
    await create(rest, namespace, configmap("plain", {"a": "1"}))
    await deploy(rest, namespace, "web", {"reloader.stakater.com/search": "true"}, matched, plain)
    await start_reloader()
    await observed(rest, namespace, "web")

    await change(rest, namespace, plain, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    await change(rest, namespace, matched, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await assert_hash_covers(rest, namespace, "web", [matched])


async def test_excluded_configmap_does_not_roll_an_auto_workload_but_another_does(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    skip = (Kind.CONFIGMAP, "skip")
    await create(rest, namespace, configmap("skip", {"a": "1"}))
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    annotations = {**AUTO, "configmaps.exclude.reloader.stakater.com/reload": "skip"}
    await deploy(rest, namespace, "web", annotations, skip, CFG)
    await start_reloader()
    await observed(rest, namespace, "web")

    await change(rest, namespace, skip, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    await change(rest, namespace, CFG, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await assert_hash_covers(rest, namespace, "web", [CFG])


async def test_configmap_marked_ignore_never_rolls_anything(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    ignored = (Kind.CONFIGMAP, "ignored")
    await create(
        rest, namespace, configmap("ignored", {"a": "1"}, {"reloader.stakater.com/ignore": "true"})
    )
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await deploy(rest, namespace, "web", AUTO, ignored, CFG)
    await start_reloader()
    await observed(rest, namespace, "web")

    await change(rest, namespace, ignored, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 1)
    await change(rest, namespace, CFG, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await assert_hash_covers(rest, namespace, "web", [CFG])


async def test_auto_reload_all_rolls_unannotated_workload_but_not_one_opted_out(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await deploy(rest, namespace, "plain", {}, CFG)
    await deploy(rest, namespace, "optout", {"reloader.stakater.com/auto": "false"}, CFG)
    await start_reloader("--auto-reload-all", "true")
    await observed(rest, namespace, "plain")

    await change(rest, namespace, CFG, "2")
    await expect_revisions(rest, namespace, "Deployment", "plain", 2)
    await expect_revisions(rest, namespace, "Deployment", "optout", 1)
    await assert_hash_covers(rest, namespace, "plain", [CFG])


async def test_workload_without_annotations_does_not_roll_by_default(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await deploy(rest, namespace, "plain", {}, CFG)
    await deploy(rest, namespace, "opted", AUTO, CFG)
    await start_reloader()
    await observed(rest, namespace, "opted")

    await change(rest, namespace, CFG, "2")
    await expect_revisions(rest, namespace, "Deployment", "opted", 2)
    await expect_revisions(rest, namespace, "Deployment", "plain", 1)
    plain = await rest.get(path_of("Deployment", namespace, "plain"))
    assert "reloader.dev/observed" not in (plain["metadata"].get("annotations") or {})


async def test_malformed_annotation_warns_and_counts_but_controller_keeps_working(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await deploy(rest, namespace, "bad", {"reloader.stakater.com/auto": "yes please"}, CFG)
    await deploy(rest, namespace, "good", AUTO, CFG)
    controller = await start_reloader()

    warnings = await eventually(
        lambda: events_of(rest, namespace, "bad", "InvalidAnnotation"),
        within=10,
        what="an InvalidAnnotation Event on Deployment/bad",
    )
    assert {e["type"] for e in warnings} == {"Warning"}
    assert "reloader.stakater.com/auto" in warnings[0]["message"]
    assert await controller.metric("reloader_invalid_annotations_total") >= 1

    await observed(rest, namespace, "good")
    await change(rest, namespace, CFG, "2")
    await expect_revisions(rest, namespace, "Deployment", "good", 2)
    await expect_revisions(rest, namespace, "Deployment", "bad", 1)


async def test_reloaded_event_on_rolled_deployment_names_the_changed_object(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, secret("creds", {"a": "1"}))
    await deploy(rest, namespace, "web", AUTO, CFG, CREDS)
    await start_reloader()
    await observed(rest, namespace, "web")

    await change(rest, namespace, CFG, "2")
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=0)
    reloaded = await eventually(
        lambda: events_of(rest, namespace, "web", "Reloaded"),
        within=10,
        what="a Reloaded Event on Deployment/web",
    )
    assert len(reloaded) == 1
    event = reloaded[0]
    assert event["type"] == "Normal"
    assert event["involvedObject"]["kind"] == "Deployment"
    assert "ConfigMap/cfg" in event["message"]
    assert "Secret/creds" not in event["message"]
