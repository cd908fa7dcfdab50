"""Argo Rollouts with Argo's own controller running: a reloaded Rollout really rolls.

test_rollouts.py checks what reloader writes on a Rollout; here the real rollouts-controller
(v1.10.2, built from its Go module by hack/build-argo-rollouts) acts on those writes against
the local cluster, where KWOK makes pods Ready. So "rolled once" is counted where Argo leaves
it: ReplicaSets owned by the Rollout, the Rollout's status, and which pods run.

The controller runs namespaced (``--namespaced --namespace``) in the test's namespace, without
leader election and on free ports, so parallel tests never see each other's controller. The
CRDs are cluster-wide and shared with test_rollouts.py: they are held under its shared lock.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import yaml

from reloader.core import names
from reloader.core.references import Kind
from reloader.kube.discovery import served
from reloader.kube.resources import ROLLOUTS
from reloader.kube.rest import ApiError, JSONDict, Rest
from tests.integration.cluster import (
    REPO,
    configmap,
    container,
    create,
    eventually,
    stays,
    stop_group,
)
from tests.integration.conftest import StartReloader
from tests.integration.controller import ReloaderProcess, free_port
from tests.integration.reloading.test_rollouts import (
    AUTO,
    RESTART,
    change,
    crd_lock,
    read,
    recorded,
    template_hash,
)
from tests.integration.rollouts import expected_hash

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
POD_HASH_LABEL = "rollouts-pod-template-hash"
REPLICAS = 2
"""Two pods, so Argo's restart evicts one at a time and waits for its replacement."""
SETTLE = 120.0
"""Seconds for Argo to finish a rollout on a loaded machine (it takes a few when idle)."""


def controller_binary() -> Path:
    """rollouts-controller: ``RELOADER_TEST_ARGO_ROLLOUTS``, else built (once) by the script.

    The CRDs of the same module version sit in the bin directory's sibling ``crds/``.
    """
    given = os.environ.get("RELOADER_TEST_ARGO_ROLLOUTS")
    if given:
        binary = Path(given)
    else:
        done = subprocess.run(
            [str(REPO / "hack" / "build-argo-rollouts")],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"hack/build-argo-rollouts failed:\n{done.stderr[-4000:]}")
        binary = Path(done.stdout.strip()) / "rollouts-controller"
    if not binary.is_file() or not (binary.parent.parent / "crds").is_dir():
        raise AssertionError(f"no rollouts-controller at {binary}: run hack/build-argo-rollouts")
    return binary


def read_crds(directory: Path) -> list[JSONDict]:
    return [yaml.safe_load(p.read_text()) for p in sorted(directory.glob("*-crd.yaml"))]


async def install_crds(rest: Rest, directory: Path) -> None:
    """Every CRD Argo ships (rollouts, analysis runs and templates, experiments), Established."""
    crds = await asyncio.to_thread(read_crds, directory)
    assert len(crds) == 5, f"expected Argo's five CRDs in {directory}"
    for body in crds:
        try:
            await rest.request("POST", CRDS, body=body)
        except ApiError as exc:
            if not exc.conflict:
                raise

    async def established() -> bool:
        for body in crds:
            crd = await rest.get(f"{CRDS}/{body['metadata']['name']}")
            conditions = (crd.get("status") or {}).get("conditions") or ()
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return False
        return await served(rest, ROLLOUTS)

    await eventually(established, within=30, what="Argo's CRDs to be served")


def tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-6000:]


async def _healthy(url: str, proc: asyncio.subprocess.Process, log_path: Path) -> bool:
    if proc.returncode is not None:
        raise AssertionError(
            f"rollouts-controller exited with {proc.returncode}:\n{tail(log_path)}"
        )
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
            http.get(url) as resp,
        ):
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


@pytest.fixture
async def argo(rest: Rest, kubeconfig: str, namespace: str, tmp_path: Path) -> AsyncIterator[None]:
    """Argo's CRDs installed and its controller acting on the test's namespace only."""
    binary = controller_binary()
    async with crd_lock(fcntl.LOCK_SH):
        await install_crds(rest, binary.parent.parent / "crds")
        health_port = free_port()
        log_path = tmp_path / "rollouts-controller.log"
        # POD_NAMESPACE: where Argo looks for its notification settings; none exist there.
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "POD_NAMESPACE": namespace}
        args = [
            f"--kubeconfig={kubeconfig}",
            "--namespaced",
            f"--namespace={namespace}",
            "--leader-elect=false",
            f"--metricsPort={free_port()}",
            f"--healthzPort={health_port}",
            "--rollout-threads=2",
            "--loglevel=info",
        ]
        with log_path.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                str(binary), *args, env=env, stdout=log, stderr=log, start_new_session=True
            )
        try:
            url = f"http://127.0.0.1:{health_port}/healthz"
            await eventually(
                lambda: _healthy(url, proc, log_path),
                within=60,
                what="rollouts-controller /healthz",
            )
            yield
        finally:
            await stop_group(proc)
            print(f"--- rollouts-controller log (tail) ---\n{tail(log_path)}")


def rollout(name: str, annotations: dict[str, str]) -> JSONDict:
    """A canary Rollout with no steps: Argo promotes each new revision at once."""
    labels = {"app": name}
    pod = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}
    return {
        "apiVersion": ROLLOUTS.api_version,
        "kind": "Rollout",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
            "strategy": {"canary": {"maxSurge": 1, "maxUnavailable": 0}},
        },
    }


async def owned_replica_sets(rest: Rest, namespace: str, name: str) -> list[JSONDict]:
    uid = (await read(rest, namespace, name))["metadata"]["uid"]
    listing = await rest.get(f"/apis/apps/v1/namespaces/{namespace}/replicasets")
    return [
        rs
        for rs in listing["items"]
        if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or ())
    ]


async def ready_pods(rest: Rest, namespace: str, name: str) -> list[JSONDict]:
    listing = await rest.get(
        f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": f"app={name}"}
    )
    return [
        pod
        for pod in listing["items"]
        if pod["metadata"].get("deletionTimestamp") is None
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (pod.get("status") or {}).get("conditions") or ()
        )
    ]


async def settled(rest: Rest, namespace: str, name: str) -> JSONDict:
    """Wait for Argo to finish: Healthy at the current generation, every replica on the
    current revision and Ready, and no other pods. Returns the Rollout."""

    async def done() -> JSONDict | None:
        body = await read(rest, namespace, name)
        status = body.get("status") or {}
        current = status.get("currentPodHash")
        if (
            status.get("phase") != "Healthy"
            or status.get("observedGeneration") != str(body["metadata"]["generation"])
            or not current
            or status.get("stableRS") != current
            or status.get("updatedReplicas") != REPLICAS
            or status.get("availableReplicas") != REPLICAS
        ):
            return None
        pods = await ready_pods(rest, namespace, name)
        on_current = [p for p in pods if p["metadata"]["labels"].get(POD_HASH_LABEL) == current]
        return body if len(pods) == len(on_current) == REPLICAS else None

    return await eventually(done, within=SETTLE, what=f"Argo to settle Rollout/{name}")


async def start_settled(
    rest: Rest, namespace: str, start_reloader: StartReloader, annotations: dict[str, str]
) -> tuple[ReloaderProcess, JSONDict]:
    """cfg and Rollout ``web`` rolled out by Argo; then reloader started and its first sight
    recorded. Returns reloader and the settled Rollout."""
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    await rest.request("POST", ROLLOUTS.collection(namespace), body=rollout("web", annotations))
    await settled(rest, namespace, "web")
    controller = await start_reloader()
    await recorded(rest, namespace, "web")
    body = await settled(rest, namespace, "web")
    assert template_hash(body) is None, "first sight rolls nothing"
    assert "restartAt" not in body["spec"]
    assert len(await owned_replica_sets(rest, namespace, "web")) == 1
    return controller, body


async def holds(
    rest: Rest, namespace: str, name: str, *, replica_sets: int, generation: int
) -> None:
    """Rollout ``name`` stays at ``generation`` with exactly ``replica_sets`` ReplicaSets."""

    async def still() -> bool:
        body = await read(rest, namespace, name)
        owned = await owned_replica_sets(rest, namespace, name)
        return body["metadata"]["generation"] == generation and len(owned) == replica_sets

    what = f"Rollout/{name}: {replica_sets} ReplicaSets at generation {generation}"
    await stays(still, for_=5.0, what=what)


async def restarted(rest: Rest, namespace: str, name: str) -> JSONDict:
    """Wait for Argo to finish a restart: ``status.restartedAt`` reaches ``spec.restartAt``."""

    async def done() -> JSONDict | None:
        body = await read(rest, namespace, name)
        restart_at = body["spec"].get("restartAt")
        ok = restart_at and (body.get("status") or {}).get("restartedAt") == restart_at
        return body if ok else None

    return await eventually(done, within=SETTLE, what=f"Argo to restart Rollout/{name}'s pods")


async def test_a_reloaded_rollout_really_rolls_once_to_the_new_config(
    rest: Rest, namespace: str, argo: None, start_reloader: StartReloader
) -> None:
    _, before = await start_settled(rest, namespace, start_reloader, AUTO)
    first_hash = before["status"]["currentPodHash"]
    generation = int(before["metadata"]["generation"])

    await change(rest, namespace, "2")
    want = await expected_hash(rest, namespace, [(Kind.CONFIGMAP, "cfg")])

    async def written() -> bool:
        return template_hash(await read(rest, namespace)) == want

    await eventually(written, within=20, what="reloader to write the new hash")
    body = await settled(rest, namespace, "web")
    assert body["metadata"]["generation"] == generation + 1
    assert body["status"]["currentPodHash"] != first_hash
    owned = await owned_replica_sets(rest, namespace, "web")
    assert len(owned) == 2, "one change, one new ReplicaSet"
    (new,) = [rs for rs in owned if rs["metadata"]["labels"][POD_HASH_LABEL] != first_hash]
    assert new["metadata"]["labels"][POD_HASH_LABEL] == body["status"]["currentPodHash"]
    assert new["spec"]["template"]["metadata"]["annotations"][names.CONFIG_HASH] == want
    assert new["spec"]["replicas"] == REPLICAS
    await holds(rest, namespace, "web", replica_sets=2, generation=generation + 1)


async def test_restart_strategy_restarts_every_pod_without_a_new_revision(
    rest: Rest, namespace: str, argo: None, start_reloader: StartReloader
) -> None:
    _, before = await start_settled(rest, namespace, start_reloader, RESTART)
    generation = int(before["metadata"]["generation"])
    old_pods = {p["metadata"]["name"] for p in await ready_pods(rest, namespace, "web")}

    await change(rest, namespace, "2")

    body = await restarted(rest, namespace, "web")
    assert body["metadata"]["generation"] == generation + 1
    assert template_hash(body) is None, "a restart makes no new revision"
    restart_at = datetime.fromisoformat(body["spec"]["restartAt"])
    body = await settled(rest, namespace, "web")
    assert body["status"]["currentPodHash"] == before["status"]["currentPodHash"]
    pods = await ready_pods(rest, namespace, "web")
    assert not old_pods & {p["metadata"]["name"] for p in pods}, "every old pod was replaced"
    for pod in pods:
        created = datetime.fromisoformat(pod["metadata"]["creationTimestamp"])
        assert created.astimezone(UTC) >= restart_at
    await holds(rest, namespace, "web", replica_sets=1, generation=generation + 1)


async def test_restarting_reloader_rolls_and_restarts_nothing_again(
    rest: Rest, namespace: str, argo: None, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    for name, opt_in in (("web", AUTO), ("bounce", RESTART)):
        await rest.request("POST", ROLLOUTS.collection(namespace), body=rollout(name, opt_in))
    for name in ("web", "bounce"):
        await settled(rest, namespace, name)
    controller = await start_reloader()
    await recorded(rest, namespace, "web")
    await recorded(rest, namespace, "bounce")
    await change(rest, namespace, "2")

    async def rolled() -> bool:
        return len(await owned_replica_sets(rest, namespace, "web")) == 2

    await eventually(rolled, within=SETTLE, what="Argo to make web's second ReplicaSet")
    await restarted(rest, namespace, "bounce")
    before = {name: await settled(rest, namespace, name) for name in ("web", "bounce")}

    assert await controller.stop() == 0
    await start_reloader()
    await holds(
        rest, namespace, "web", replica_sets=2, generation=before["web"]["metadata"]["generation"]
    )
    await holds(
        rest,
        namespace,
        "bounce",
        replica_sets=1,
        generation=before["bounce"]["metadata"]["generation"],
    )
    for name, was in before.items():
        now = await settled(rest, namespace, name)
        record = now["metadata"]["annotations"][names.OBSERVED]
        assert record == was["metadata"]["annotations"][names.OBSERVED]
        assert now["spec"].get("restartAt") == was["spec"].get("restartAt")
        assert now["status"]["currentPodHash"] == was["status"]["currentPodHash"]
