"""charts/reloader: the rights and the hardening of manifests/ for the same options, only flags
the binary knows, and a real ``helm install``, ``upgrade`` and ``uninstall`` whose release does
its job under its own ServiceAccount's token.

KWOK runs no container, so the installed Deployment's container is run here as a process
(:mod:`tests.integration.addon.pods`), as the cluster-wide kustomize install's is, with
``--namespace`` pointed at the test's own namespace for the same reason
(:mod:`tests.integration.addon.test_install_variants`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from reloader.cli.flags import build_parser
from reloader.kube.rest import ApiError, JSONDict, Rest
from tests.integration.addon.charts import (
    CHART,
    Helm,
    objects_of_release,
    rbac_of,
)
from tests.integration.addon.conftest import MANIFESTS, rendered
from tests.integration.addon.pods import PodProcess, deployment, pods
from tests.integration.cluster import (
    create_opted_in_app,
    eventually,
    merge_patch,
)
from tests.integration.rollouts import expect_revisions, wait_recorded

GITOPS = {
    "enabled": True,
    "gitUrl": "https://git.example.com/team/deploy.git",
    "secretName": "reloader-git",
    "webhook": {"enabled": True},
    "applyRights": {"namespaces": ["apps"]},
}


@pytest.fixture
def helm(kubeconfig: str, tmp_path: Path) -> Helm:
    return Helm(kubeconfig=kubeconfig, home=tmp_path / "helm")


@pytest.mark.parametrize(
    ("values", "variant"),
    [
        pytest.param({}, MANIFESTS, id="cluster-wide"),
        pytest.param(
            {"reloader": {"watchGlobally": False, "watchNamespaces": ["apps"]}},
            MANIFESTS / "namespaced",
            id="namespaced",
        ),
        pytest.param({"gitops": GITOPS}, MANIFESTS / "gitops", id="gitops"),
    ],
)
async def test_the_chart_grants_exactly_the_rights_of_the_kustomize_install(
    helm: Helm, kubeconfig: str, values: JSONDict, variant: Path
) -> None:
    chart = rbac_of(await asyncio.to_thread(helm.template, values))
    kustomized = rbac_of(await asyncio.to_thread(rendered, kubeconfig, str(variant)))
    assert chart == kustomized


async def test_the_chart_pod_is_hardened_like_the_kustomize_install(
    helm: Helm, kubeconfig: str
) -> None:
    docs = await asyncio.to_thread(helm.template, {})
    ours = deployment(docs, "reloader")
    theirs = deployment(await asyncio.to_thread(rendered, kubeconfig, str(MANIFESTS)), "reloader")
    pod, kustomized_pod = ours["spec"]["template"]["spec"], theirs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (kustomized,) = kustomized_pod["containers"]
    for field in ("securityContext", "terminationGracePeriodSeconds", "volumes"):
        assert pod[field] == kustomized_pod[field], field
    for field in ("securityContext", "resources", "ports", "volumeMounts", "livenessProbe"):
        assert container[field] == kustomized[field], field
    assert container["readinessProbe"]["httpGet"] == kustomized["readinessProbe"]["httpGet"]
    for field in ("replicas", "strategy"):
        assert ours["spec"][field] == theirs["spec"][field], field
    assert set(kustomized["args"]) <= set(container["args"])
    # The token is mounted into reloader's pods only, not into any pod using the account.
    (account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert (account["automountServiceAccountToken"], pod["automountServiceAccountToken"]) == (
        False,
        True,
    )
    kinds = {d["kind"] for d in docs}
    assert {"PodDisruptionBudget", "Service"} <= kinds
    assert not kinds & {"ServiceMonitor", "PodMonitor", "NetworkPolicy"}


def _values_files() -> list[Any]:
    files = sorted((CHART / "ci").glob("*-values.yaml"))
    return [pytest.param({}, id="defaults")] + [
        pytest.param(yaml.safe_load(f.read_text()), id=f.name) for f in files
    ]


@pytest.mark.parametrize("values", _values_files())
async def test_every_rendered_container_passes_only_flags_the_binary_knows(
    helm: Helm, values: JSONDict
) -> None:
    docs = await asyncio.to_thread(helm.template, values)
    parser = build_parser({})
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert deployments
    for deploy in deployments:
        (container,) = deploy["spec"]["template"]["spec"]["containers"]
        try:
            parser.parse_args(container["args"])
        except SystemExit:  # argparse printed which flag it refused
            pytest.fail(f"{deploy['metadata']['name']}: reloader refuses {container['args']}")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"reloader": {"ignoreSecrets": True, "ignoreConfigMaps": True}},
            "cannot both be true",
        ),
        ({"reloader": {"enableHA": False}}, "needs reloader.enableHA"),
        (
            {"reloader": {"watchGlobally": False, "namespaceSelector": "team=a"}},
            "needs reloader.watchGlobally",
        ),
        (
            {"gitops": {"enabled": True, "gitUrl": "https://me:s3cret@git.example.com/r.git"}},
            "must not carry a password",
        ),
    ],
)
async def test_values_that_cannot_work_fail_the_render_and_say_why(
    helm: Helm, values: JSONDict, message: str
) -> None:
    refused = await asyncio.to_thread(helm.fails, "template", "r", str(CHART), values=values)
    assert message in refused
    assert "s3cret" not in refused


async def _installed(helm: Helm, release: str, namespace: str) -> list[dict[str, Any]]:
    """What Helm applied for the release's current revision."""
    out = await helm.arun("get", "manifest", release, "--namespace", namespace)
    return [d for d in yaml.safe_load_all(out) if d]


async def rolls_once_per_change(rest: Rest, proc: PodProcess, apps: str, *, revisions: int) -> None:
    """The release's job, done by ``proc``: Deployment ``web`` in ``apps`` rolls once when its
    ConfigMap changes; then a clean exit, and not one request RBAC refused."""
    await wait_recorded(rest, apps, within=30)
    await merge_patch(rest, apps, "ConfigMap", "cfg", {"data": {"a": str(revisions)}})
    await expect_revisions(rest, apps, "Deployment", "web", revisions)
    assert await proc.stop(signal.SIGTERM) == 0
    assert proc.denied() == []


async def _gone(rest: Rest, path: str) -> bool:
    return await rest.get_or_none(path) is None


async def test_helm_install_upgrade_and_uninstall_on_the_cluster(
    helm: Helm, rest: Rest, kubeconfig: str, tmp_path: Path
) -> None:
    suffix = secrets.token_hex(3)
    release, namespace, apps = f"h5-{suffix}", f"h5-chart-{suffix}", f"h5-apps-{suffix}"
    fullname = f"{release}-reloader"
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    image = {"image": {"repository": "registry.invalid/reloader"}}
    await rest.request("POST", "/api/v1/namespaces", body={"metadata": {"name": apps}})
    try:
        async with pods(rest, kubeconfig, tmp_path) as run:
            # Install: the defaults (cluster-wide, two replicas with leader election).
            await helm.arun(
                "install", release, str(CHART), "--namespace", namespace,
                "--create-namespace", "--wait", "--timeout", "120s", values=image,
            )  # fmt: skip
            await rest.get(f"{rbac}/clusterroles/{fullname}")
            await rest.get(
                f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{fullname}"
            )
            deploy = deployment(await _installed(helm, release, namespace), fullname)
            await create_opted_in_app(rest, apps)
            await rolls_once_per_change(
                rest, await run(deploy, overrides={"--namespace": apps}), apps, revisions=2
            )
            events = await rest.get(f"/api/v1/namespaces/{apps}/events")
            assert "Reloaded" in {e["reason"] for e in events["items"]}
            await rest.get(f"/api/v1/namespaces/{namespace}/secrets/{fullname}-hash-key")

            # Upgrade: one replica without leader election, rights in `apps` only.
            await helm.arun(
                "upgrade", release, str(CHART), "--namespace", namespace, "--wait",
                "--timeout", "120s",
                values={
                    **image,
                    "reloader": {
                        "watchGlobally": False,
                        "watchNamespaces": [apps],
                        "enableHA": False,
                        "deployment": {"replicas": 1},
                    },
                },
            )  # fmt: skip
            assert await _gone(rest, f"{rbac}/clusterroles/{fullname}")
            assert await _gone(rest, f"{rbac}/clusterrolebindings/{fullname}")
            assert await _gone(
                rest, f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{fullname}"
            )
            await rest.get(f"{rbac}/namespaces/{apps}/roles/{fullname}")
            live = await rest.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{fullname}")
            assert live["spec"]["replicas"] == 1
            (container,) = live["spec"]["template"]["spec"]["containers"]
            assert f"--namespace={apps}" in container["args"]
            assert "--leader-elect=true" not in container["args"]
            upgraded = deployment(await _installed(helm, release, namespace), fullname)
            await rolls_once_per_change(rest, await run(upgraded), apps, revisions=3)

        # Uninstall: nothing of the release is left, cluster-wide or in either namespace; the
        # hash key, which reloader created and Helm never owned, stays for a reinstall.
        await helm.arun("uninstall", release, "--namespace", namespace, "--wait")

        async def nothing_left() -> bool:
            return await objects_of_release(rest, release, [namespace, apps]) == []

        try:
            await eventually(nothing_left, within=30, what=f"release {release} gone")
        except AssertionError:
            left = await objects_of_release(rest, release, [namespace, apps])
            raise AssertionError(f"helm uninstall left {left}") from None
        await rest.get(f"/api/v1/namespaces/{namespace}/secrets/{fullname}-hash-key")
    finally:
        # A failed test must not leave the release's cluster-wide objects behind.
        with contextlib.suppress(AssertionError):
            await helm.arun("uninstall", release, "--namespace", namespace, "--ignore-not-found")
        for name in (namespace, apps):
            with contextlib.suppress(ApiError):
                await rest.request("DELETE", f"/api/v1/namespaces/{name}")
