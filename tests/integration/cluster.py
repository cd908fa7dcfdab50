"""Shared helpers of the integration tests: the real cluster, deadline waits, objects."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from reloader.kube.rest import ApiError, JSONDict, Rest

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def ensure_cluster() -> str:
    """The kubeconfig of a real cluster: ``RELOADER_TEST_KUBECONFIG``, else the local one.

    Bringing the local cluster up may build the control plane first; a failure here fails the
    whole run loudly rather than skipping the integration tests.
    """
    given = os.environ.get("RELOADER_TEST_KUBECONFIG")
    if given:
        return given
    # Its progress goes to stderr: stdout is for what the caller prints (bench figures).
    result = subprocess.run(
        [str(REPO / "hack" / "local-cluster"), "up"], check=False, stdout=sys.stderr
    )
    if result.returncode != 0:
        raise RuntimeError(
            "hack/local-cluster up failed (its output is above); integration tests need a real "
            "API server. Fix the error, or set RELOADER_TEST_KUBECONFIG to a cluster's kubeconfig."
        )
    return str(REPO / ".local-cluster" / "kubeconfig")


def bin_dir(script: str) -> Path:
    """Where ``hack/<script>`` (build-controlplane, build-tools) puts what it builds."""
    printed = subprocess.run(
        [str(REPO / "hack" / script), "--print-dir"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(printed)


def kubectl_path() -> str:
    return str(bin_dir("build-controlplane") / "kubectl")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    within: float,
    what: str,
    interval: float = 0.1,
) -> T:
    """Poll ``probe`` until it returns something truthy, failing with ``what`` at the deadline."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        try:
            last = await probe()
        except ApiError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(interval)


def deployment(
    name: str,
    *,
    annotations: dict[str, str] | None = None,
    template_annotations: dict[str, str] | None = None,
    pod_spec: JSONDict | None = None,
    replicas: int = 1,
) -> JSONDict:
    labels = {"app": name}
    spec = pod_spec or {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1},
            },
            "template": {
                "metadata": {"labels": labels, "annotations": template_annotations or {}},
                "spec": spec,
            },
        },
    }


async def replica_sets(rest: Rest, namespace: str, app: str) -> list[JSONDict]:
    answer = await rest.get(
        f"/apis/apps/v1/namespaces/{namespace}/replicasets", {"labelSelector": f"app={app}"}
    )
    items: list[JSONDict] = answer["items"]
    return items


async def pods(rest: Rest, namespace: str, app: str) -> list[JSONDict]:
    answer = await rest.get(f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": f"app={app}"})
    items: list[JSONDict] = answer["items"]
    return items


COLLECTIONS = {
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "DaemonSet": "/apis/apps/v1/namespaces/{ns}/daemonsets",
    "CronJob": "/apis/batch/v1/namespaces/{ns}/cronjobs",
}


def path_of(kind: str, namespace: str, name: str | None = None) -> str:
    base = COLLECTIONS[kind].format(ns=namespace)
    return f"{base}/{name}" if name else base


async def create(rest: Rest, namespace: str, obj: JSONDict) -> JSONDict:
    return await rest.request("POST", path_of(obj["kind"], namespace), body=obj)


async def merge_patch(
    rest: Rest, namespace: str, kind: str, name: str, patch: JSONDict
) -> JSONDict:
    return await rest.request(
        "PATCH",
        path_of(kind, namespace, name),
        body=patch,
        content_type="application/merge-patch+json",
    )


def configmap(
    name: str, data: dict[str, str], annotations: dict[str, str] | None = None
) -> JSONDict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "annotations": annotations or {}},
        "data": data,
    }


def secret(name: str, data: dict[str, str], annotations: dict[str, str] | None = None) -> JSONDict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "annotations": annotations or {}},
        "stringData": data,
    }


def container(**extra: Any) -> JSONDict:
    return {"name": "app", "image": "registry.invalid/app:1", **extra}


def workload(
    kind: str,
    name: str,
    pod_spec: JSONDict,
    *,
    annotations: dict[str, str] | None = None,
) -> JSONDict:
    """A minimal Deployment, StatefulSet, DaemonSet or CronJob running ``pod_spec``."""
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": pod_spec}
    meta = {"name": name, "annotations": annotations or {}}
    if kind == "CronJob":
        job_spec = {"template": {**template, "spec": {**pod_spec, "restartPolicy": "Never"}}}
        spec: JSONDict = {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": job_spec}}
    else:
        spec = {"selector": {"matchLabels": labels}, "template": template}
        if kind != "DaemonSet":
            spec["replicas"] = 1
        if kind == "StatefulSet":
            spec["serviceName"] = name
    api = "batch/v1" if kind == "CronJob" else "apps/v1"
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


async def revisions(rest: Rest, namespace: str, kind: str, name: str) -> int:
    """How many times the workload rolled out: its ReplicaSets or ControllerRevisions."""
    owner = await rest.get(path_of(kind, namespace, name))
    uid = owner["metadata"]["uid"]
    if kind == "Deployment":
        listing = await rest.get(f"/apis/apps/v1/namespaces/{namespace}/replicasets")
    else:
        listing = await rest.get(f"/apis/apps/v1/namespaces/{namespace}/controllerrevisions")
    return sum(
        1
        for item in listing["items"]
        if any(ref.get("uid") == uid for ref in item["metadata"].get("ownerReferences") or ())
    )


async def template_annotations(rest: Rest, namespace: str, kind: str, name: str) -> dict[str, str]:
    obj = await rest.get(path_of(kind, namespace, name))
    spec = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
    found: dict[str, str] = spec["template"]["metadata"].get("annotations") or {}
    return found


async def stays(
    probe: Callable[[], Awaitable[bool]], *, for_: float, what: str, interval: float = 0.1
) -> None:
    """Assert ``probe`` holds at every poll for ``for_`` seconds (a bounded negative check)."""
    deadline = time.monotonic() + for_
    while time.monotonic() < deadline:
        if not await probe():
            raise AssertionError(f"expected {what} to hold for {for_}s, but it stopped holding")
        await asyncio.sleep(interval)


AUTO = {"reloader.stakater.com/auto": "true"}


async def create_opted_in_app(rest: Rest, namespace: str) -> None:
    """ConfigMap ``cfg`` and Deployment ``web`` reading it through envFrom, opted in with auto."""
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    spec = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=AUTO))


async def account_kubeconfig(
    rest: Rest,
    admin_kubeconfig: str,
    path: Path,
    *,
    namespace: str = "reloader",
    account: str = "reloader",
) -> str:
    """A kubeconfig that authenticates as ``namespace/account`` with a TokenRequest token
    (what the kubelet mounts into a pod), against the admin kubeconfig's server."""
    answer = await rest.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    admin = yaml.safe_load(await asyncio.to_thread(Path(admin_kubeconfig).read_text))
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster["cluster"]}],
        "users": [{"name": account, "user": {"token": answer["status"]["token"]}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": account}}],
        "current-context": "sa",
    }
    await asyncio.to_thread(path.write_text, yaml.safe_dump(config))
    return str(path)


async def stop_group(proc: asyncio.subprocess.Process, *, within: float = 15.0) -> None:
    """SIGTERM to the process's whole group (it was started in a session of its own), SIGKILL
    if it lingers past ``within``: nothing a test starts outlives it."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), within)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
