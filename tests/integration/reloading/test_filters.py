"""Stakater Reloader's filters on a real cluster: ignored namespaces, kinds and workload types,
a resource label selector, and a namespace selector that costs the same for any number of
namespaces.

Every reloader here is confined to this test's namespaces (``--namespace`` or a selector on a
label only they carry): other tests run against the same cluster at the same time.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from reloader.core import names
from reloader.kube.resources import WORKLOADS
from reloader.kube.rest import ApiError, JSONDict, Rest
from tests.integration.cluster import (
    AUTO,
    account_kubeconfig,
    configmap,
    container,
    create,
    create_opted_in_app,
    eventually,
    merge_patch,
    path_of,
    secret,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.controller import ReloaderProcess
from tests.integration.rollouts import config_hash, expect_revisions, wait_recorded

LABEL = "reloader-test/filters"
MakeNamespace = Callable[..., Awaitable[str]]


@pytest.fixture
async def more_namespaces(rest: Rest, namespace: str) -> AsyncIterator[MakeNamespace]:
    """Make further namespaces for the test (deleted afterwards), labelled on request."""
    made: list[str] = []

    async def make(*, labelled: bool = False) -> str:
        name = f"{namespace[:50]}-{secrets.token_hex(2)}"
        labels = {LABEL: _tag(namespace)} if labelled else {}
        await rest.request(
            "POST", "/api/v1/namespaces", body={"metadata": {"name": name, "labels": labels}}
        )
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in made:
            with contextlib.suppress(ApiError):
                await rest.request("DELETE", f"/api/v1/namespaces/{name}")


def _tag(namespace: str) -> str:
    return namespace[-6:]


async def _label(rest: Rest, namespace: str, value: str | None) -> None:
    await rest.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        body={"metadata": {"labels": {LABEL: value}}},
        content_type="application/merge-patch+json",
    )


async def _record(rest: Rest, namespace: str, kind: str = "Deployment", name: str = "web") -> str:
    obj = await rest.get(path_of(kind, namespace, name))
    record: str = (obj["metadata"].get("annotations") or {}).get(names.OBSERVED, "")
    return record


def _logged(proc: ReloaderProcess, event: str, **fields: str) -> bool:
    return any(
        line.get("event") == event and all(line.get(k) == v for k, v in fields.items())
        for line in proc.logs()
    )


async def test_an_ignored_namespace_never_rolls_while_another_does(
    rest: Rest, namespace: str, more_namespaces: MakeNamespace, start_reloader: StartReloader
) -> None:
    ignored = await more_namespaces(labelled=True)
    await _label(rest, namespace, _tag(namespace))
    for ns in (namespace, ignored):
        await create_opted_in_app(rest, ns)
    await start_reloader(
        f"--namespace-selector={LABEL}:{_tag(namespace)}",
        f"--namespaces-to-ignore={ignored}",
        scoped=False,
    )
    await wait_recorded(rest, namespace)
    for ns in (namespace, ignored):
        await merge_patch(rest, ns, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await expect_revisions(rest, ignored, "Deployment", "web", 1, hold=3.0)
    assert await _record(rest, ignored) == ""  # never even recorded: its objects were not sent


async def test_an_ignored_namespace_drops_out_of_the_namespace_list(
    rest: Rest, namespace: str, more_namespaces: MakeNamespace, start_reloader: StartReloader
) -> None:
    ignored = await more_namespaces()
    for ns in (namespace, ignored):
        await create_opted_in_app(rest, ns)
    await start_reloader(f"--namespaces={namespace},{ignored}", f"--namespaces-to-ignore={ignored}")
    await wait_recorded(rest, namespace)
    for ns in (namespace, ignored):
        await merge_patch(rest, ns, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await expect_revisions(rest, ignored, "Deployment", "web", 1, hold=2.0)
    assert await _record(rest, ignored) == ""


def _labelled(obj: JSONDict, value: str = "yes") -> JSONDict:
    obj["metadata"]["labels"] = {"reloader-test/watched": value}
    return obj


async def test_only_objects_matching_the_resource_label_selector_count(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, _labelled(configmap("cfg", {"a": "1"})))
    await create(rest, namespace, configmap("other", {"b": "1"}))  # required, but unlabelled
    env = [{"configMapRef": {"name": "cfg"}}, {"configMapRef": {"name": "other"}}]
    spec = {"containers": [container(envFrom=env)]}
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=AUTO))
    await start_reloader("--resource-label-selector=reloader-test/watched:yes")

    await wait_recorded(rest, namespace)  # not held for "other": it is unseen, not missing
    await merge_patch(rest, namespace, "ConfigMap", "other", {"data": {"b": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=2.0)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)

    # Gaining the label brings "other" into view: recorded, not rolled...
    before = await _record(rest, namespace)
    await merge_patch(rest, namespace, "ConfigMap", "other", _labelled({"metadata": {}}))

    async def recorded_again() -> bool:
        record = await _record(rest, namespace)
        return record != before and "ConfigMap/other" in record

    await eventually(recorded_again, within=15, what="other recorded once it has the label")
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=2.0)
    # ...and from then on its content counts.
    await merge_patch(rest, namespace, "ConfigMap", "other", {"data": {"b": "3"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 3)
    # Losing the label takes it out of view without a rollout, and its changes count no more.
    # (Rolling back to an earlier template would reuse its ReplicaSet: the hash tells.)
    rolled = await config_hash(rest, namespace, "Deployment", "web")
    await merge_patch(rest, namespace, "ConfigMap", "other", _labelled({"metadata": {}}, "no"))

    async def forgotten() -> bool:
        return "ConfigMap/other" not in await _record(rest, namespace)

    await eventually(forgotten, within=15, what="other left out of the record")
    await merge_patch(rest, namespace, "ConfigMap", "other", {"data": {"b": "4"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 3, hold=2.0)
    assert await config_hash(rest, namespace, "Deployment", "web") == rolled


async def test_ignored_workload_types_are_never_reloaded(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    spec = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}
    for kind in ("Deployment", "StatefulSet", "CronJob"):
        await create(rest, namespace, workload(kind, "web", spec, annotations=AUTO))
    await start_reloader("--ignored-workload-types=statefulsets,CronJobs")
    await wait_recorded(rest, namespace)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    await expect_revisions(rest, namespace, "StatefulSet", "web", 1, hold=2.0)
    assert await _record(rest, namespace, "StatefulSet") == ""
    assert await _record(rest, namespace, "CronJob") == ""


async def _service_account_kubeconfig(
    rest: Rest, admin_kubeconfig: str, namespace: str, path: Path
) -> str:
    """A kubeconfig of a ServiceAccount that may read no Secret but its own hash key."""
    await rest.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        body={"metadata": {"name": "no-secrets"}},
    )
    rules = [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "statefulsets", "daemonsets"],
            "verbs": ["get", "list", "watch", "patch"],
        },
        {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": ["list", "watch"]},
        {"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["reloader-hash-key"],
            "verbs": ["get"],
        },
    ]
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    await rest.request(
        "POST", f"{rbac}/roles", body={"metadata": {"name": "no-secrets"}, "rules": rules}
    )
    await rest.request(
        "POST",
        f"{rbac}/rolebindings",
        body={
            "metadata": {"name": "no-secrets"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "no-secrets",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "no-secrets", "namespace": namespace}],
        },
    )
    return await account_kubeconfig(
        rest, admin_kubeconfig, path, namespace=namespace, account="no-secrets"
    )


async def test_ignoring_secrets_works_without_the_right_to_read_them(
    rest: Rest, namespace: str, kubeconfig: str, tmp_path: Path
) -> None:
    sa_kubeconfig = await _service_account_kubeconfig(
        rest, kubeconfig, namespace, tmp_path / "sa.kubeconfig"
    )
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await create(rest, namespace, secret("creds", {"p": "1"}))
    env = [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds"}}]
    spec = {"containers": [container(envFrom=env)]}
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=AUTO))

    def reloader(*args: str) -> ReloaderProcess:
        return ReloaderProcess(
            kubeconfig=sa_kubeconfig, namespace=namespace, log_dir=tmp_path, args=list(args)
        )

    # Without the flag it cannot work: the Secret watch is forbidden, so it never gets ready.
    denied = reloader()
    try:
        with pytest.raises(AssertionError, match="not ready"):
            await denied.start(ready_within=8.0)
        assert any("403" in str(line.get("error", "")) for line in denied.logs())
    finally:
        await denied.stop()

    proc = reloader("--resources-to-ignore=secrets")
    try:
        await proc.start()
        await wait_recorded(rest, namespace)  # not held for the Secret it does not watch
        await merge_patch(rest, namespace, "Secret", "creds", {"stringData": {"p": "2"}})
        await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=2.0)
        await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
        await expect_revisions(rest, namespace, "Deployment", "web", 2)
        assert "Secret/creds" not in await _record(rest, namespace)
        errors = [line for line in proc.logs() if "403" in str(line.get("error", ""))]
        assert errors == []
    finally:
        await proc.stop()
        print(proc.log_path.read_text())


async def test_namespace_and_selector_act_where_both_pick_and_follow_labels(
    rest: Rest, namespace: str, more_namespaces: MakeNamespace, start_reloader: StartReloader
) -> None:
    listed_later = await more_namespaces()  # listed, labelled only later
    unlisted = await more_namespaces(labelled=True)  # labelled, never listed
    await _label(rest, namespace, _tag(namespace))
    for ns in (namespace, listed_later, unlisted):
        await create_opted_in_app(rest, ns)
    proc = await start_reloader(
        f"--namespaces={namespace},{listed_later}",
        f"--namespace-selector={LABEL}={_tag(namespace)}",
        scoped=False,
    )
    await wait_recorded(rest, namespace)
    for ns in (namespace, listed_later, unlisted):
        await merge_patch(rest, ns, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    for ns in (listed_later, unlisted):
        await expect_revisions(rest, ns, "Deployment", "web", 1, hold=1.0)
        assert await _record(rest, ns) == ""

    # Labelled after start: picked up from what is indexed already, and reloaded from then on.
    await _label(rest, listed_later, _tag(namespace))
    await wait_recorded(rest, listed_later)
    await merge_patch(rest, listed_later, "ConfigMap", "cfg", {"data": {"a": "3"}})
    await expect_revisions(rest, listed_later, "Deployment", "web", 2)

    # Unlabelled: no longer acted on.
    await _label(rest, namespace, None)

    async def let_go() -> bool:
        return _logged(proc, "stopped watching", namespace=namespace)

    await eventually(let_go, within=15, what="the unlabelled namespace to be let go")
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "3"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=2.0)


async def test_a_namespace_selector_watches_each_resource_once_for_any_number_of_namespaces(
    rest: Rest, namespace: str, more_namespaces: MakeNamespace, start_reloader: StartReloader
) -> None:
    """30 selected namespaces: 1 + 6 * 30 = 181 watches before; one per resource now."""
    selected = [namespace, *[await more_namespaces(labelled=True) for _ in range(29)]]
    await _label(rest, namespace, _tag(namespace))
    await create_opted_in_app(rest, namespace)
    proc = await start_reloader(f"--namespace-selector={LABEL}={_tag(namespace)}", scoped=False)
    watches = [line for line in proc.logs() if line.get("event") == "list and watch"]
    resources = [line["resource"] for line in watches]
    assert len(resources) == len(set(resources)) >= 3 + len(WORKLOADS)  # + Namespaces
    assert {line["namespace"] for line in watches} == {"*"}
    acted = {line["namespace"] for line in proc.logs() if line.get("event") == "watching"}
    assert acted == set(selected)
    await wait_recorded(rest, namespace)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
