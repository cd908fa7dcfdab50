"""The add-on installed once for the tests of this folder, the way users install it."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from reloader.kube.rest import ApiError, Rest
from tests.integration.cluster import REPO, eventually, kubectl_path


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [kubectl_path(), "--kubeconfig", kubeconfig, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def rendered(kubeconfig: str, path: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(kubectl(kubeconfig, "kustomize", path)) if d]


@pytest.fixture(scope="package")
async def installed(kubeconfig: str, rest: Rest) -> AsyncIterator[str]:
    """The add-on applied with `kubectl apply -k manifests/`, removed afterwards."""
    manifests = str(REPO / "manifests")
    kubectl(kubeconfig, "apply", "-k", manifests)
    # A server-side dry run of the whole set (admission and validation on the server) over
    # the install: what an upgrade does. Before the install it could not pass, as the
    # Namespace would not exist yet for the namespaced objects.
    kubectl(kubeconfig, "apply", "-k", manifests, "--dry-run=server")
    yield manifests
    kubectl(kubeconfig, "delete", "-k", manifests, "--ignore-not-found", "--wait=false")

    async def gone() -> bool:
        try:
            await rest.get("/api/v1/namespaces/reloader")
        except ApiError as exc:
            return exc.not_found
        return False

    await eventually(gone, within=60, what="the reloader namespace to be deleted")
