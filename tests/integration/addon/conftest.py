"""The add-on installed the way users install it, one install variant at a time.

Every variant (``manifests/``, ``manifests/namespaced/``, ``manifests/gitops/``) uses the same
names: the ``reloader`` namespace, its ServiceAccounts, the ClusterRole and ClusterRoleBinding
``reloader``, Roles in ``apps``. Two installs at once in the shared test cluster would mix: a
namespaced install next to a cluster-wide one would run with the ClusterRoleBinding of the
other and prove nothing about its own rights, and either one's clean-up would delete the
other's objects mid-test. So an install holds an exclusive lock (a file lock, keyed by the API
server, so pytest runs in other processes wait too) from before it applies until its objects
and namespaces are gone, and starts by removing whatever a crashed run left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from reloader.kube.rest import ApiError, Rest
from tests.integration.cluster import REPO, eventually, kubectl_path

MANIFESTS = REPO / "manifests"
#: Every shipped install; together they name every object any install creates.
VARIANTS = (MANIFESTS, MANIFESTS / "namespaced", MANIFESTS / "gitops")
#: The namespaces installs live in: the add-on's own, and the example watched one.
NAMESPACES = ("reloader", "apps")
#: How long an install waits for another process's install to finish with the cluster.
LOCK_WAIT = 240.0


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


def _server(kubeconfig: str) -> str:
    config = yaml.safe_load(Path(kubeconfig).read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    return str(cluster["cluster"]["server"])


@contextlib.asynccontextmanager
async def exclusive_install(kubeconfig: str) -> AsyncIterator[None]:
    """Hold the add-on's names in this cluster for this process alone, waiting for others."""
    server = await asyncio.to_thread(_server, kubeconfig)
    digest = hashlib.sha256(server.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"reloader-addon-install-{digest}.lock"
    fd = await asyncio.to_thread(os.open, path, os.O_RDWR | os.O_CREAT, 0o666)
    try:

        async def taken() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        await eventually(
            taken, within=LOCK_WAIT, interval=0.5, what=f"another add-on install to end ({path})"
        )
        yield
    finally:
        os.close(fd)  # releases the lock


async def remove_every_install(kubeconfig: str, rest: Rest) -> None:
    """Delete what any variant creates, and the namespaces, and wait until they are gone."""
    for variant in VARIANTS:
        await asyncio.to_thread(
            kubectl, kubeconfig, "delete", "-k", str(variant), "--ignore-not-found", "--wait=false"
        )
    for namespace in NAMESPACES:
        try:
            await rest.request("DELETE", f"/api/v1/namespaces/{namespace}")
        except ApiError as exc:
            if not (exc.not_found or exc.conflict):  # gone, or already going
                raise

    async def gone() -> bool:
        for namespace in NAMESPACES:
            if await rest.get_or_none(f"/api/v1/namespaces/{namespace}") is not None:
                return False
        return True

    await eventually(gone, within=90, what=f"namespaces {', '.join(NAMESPACES)} deleted")


@contextlib.asynccontextmanager
async def install(
    kubeconfig: str, rest: Rest, variant: Path, *, namespaces: Sequence[str] = ()
) -> AsyncIterator[list[dict[str, Any]]]:
    """``kubectl apply -k variant`` into a cluster holding no other install; removed after.

    ``namespaces`` are created first: the namespaces a variant grants rights in (``apps``)
    are the user's, not the install's. Yields the rendered manifests.
    """
    async with exclusive_install(kubeconfig):
        await remove_every_install(kubeconfig, rest)
        try:
            for namespace in namespaces:
                await rest.request(
                    "POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}}
                )
            await asyncio.to_thread(kubectl, kubeconfig, "apply", "-k", str(variant))
            yield await asyncio.to_thread(rendered, kubeconfig, str(variant))
        finally:
            await remove_every_install(kubeconfig, rest)


@pytest.fixture(scope="module")
async def installed(kubeconfig: str, rest: Rest) -> AsyncIterator[str]:
    """The add-on applied with `kubectl apply -k manifests/`, removed afterwards.

    Per module, not per package: a module that installs another variant must be able to take
    the cluster in between (see the module docstring).
    """
    manifests = str(MANIFESTS)
    async with install(kubeconfig, rest, MANIFESTS):
        # A server-side dry run of the whole set (admission and validation on the server) over
        # the install: what an upgrade does. Before the install it could not pass, as the
        # Namespace would not exist yet for the namespaced objects.
        await asyncio.to_thread(kubectl, kubeconfig, "apply", "-k", manifests, "--dry-run=server")
        yield manifests
