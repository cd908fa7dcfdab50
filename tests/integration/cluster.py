"""Helpers the integration tests share: bring the real cluster up, wait with deadlines, build objects."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

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
    result = subprocess.run([str(REPO / "hack" / "local-cluster"), "up"], check=False)
    if result.returncode != 0:
        raise RuntimeError(
            "hack/local-cluster up failed (its output is above); integration tests need a real "
            "API server. Fix the error, or set RELOADER_TEST_KUBECONFIG to a cluster's kubeconfig."
        )
    return str(REPO / ".local-cluster" / "kubeconfig")


def kubectl_path() -> str:
    bins = subprocess.run(
        [str(REPO / "hack" / "build-controlplane"), "--print-dir"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return str(Path(bins) / "kubectl")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
) -> T:
    """Poll ``probe`` until it returns something truthy, failing with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await probe()
        except ApiError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
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
