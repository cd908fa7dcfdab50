"""The installed rights are enough to recreate a Job and restart a Rollout, and no 403 is met."""

from __future__ import annotations

import fcntl
import signal
from pathlib import Path

from reloader.core import names
from reloader.kube.resources import JOBS, ROLLOUTS
from reloader.kube.rest import Rest
from tests.integration.addon.test_least_privilege import as_reloader
from tests.integration.cluster import configmap, create, eventually, merge_patch
from tests.integration.controller import ReloaderProcess
from tests.integration.reloading.test_jobs import job
from tests.integration.reloading.test_rollouts import (
    RESTART,
    crd_lock,
    install_crd,
    recorded,
    rollout,
)

__all__ = ["as_reloader"]  # the fixture, used by name


async def test_jobs_and_rollouts_reload_with_exactly_the_installed_rights(
    as_reloader: tuple[str, Rest], rest: Rest, namespace: str, tmp_path: Path
) -> None:
    sa_kubeconfig, _ = as_reloader
    async with crd_lock(fcntl.LOCK_SH):
        await install_crd(rest)
        await create(rest, namespace, configmap("cfg", {"a": "1"}))
        old = await rest.request("POST", JOBS.collection(namespace), body=job())
        await rest.request("POST", ROLLOUTS.collection(namespace), body=rollout("web", RESTART))
        proc = ReloaderProcess(
            kubeconfig=sa_kubeconfig,
            namespace=namespace,
            log_dir=tmp_path,
            args=["--hash-key-secret=reloader/reloader-hash-key"],
        )
        try:
            await proc.start()
            await recorded(rest, namespace, "web")

            async def job_recorded() -> bool:
                body = await rest.get(JOBS.item(namespace, "migrate"))
                return names.OBSERVED in (body["metadata"].get("annotations") or {})

            await eventually(job_recorded, within=20, what="reloader to record Job/migrate")
            await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})

            async def job_recreated() -> bool:
                body = await rest.get_or_none(JOBS.item(namespace, "migrate"))
                return body is not None and body["metadata"]["uid"] != old["metadata"]["uid"]

            async def rollout_restarted() -> bool:
                body = await rest.get(ROLLOUTS.item(namespace, "web"))
                return "restartAt" in body["spec"]

            await eventually(job_recreated, within=20, what="Job/migrate to be recreated")
            await eventually(rollout_restarted, within=20, what="Rollout/web to be restarted")
            denied = [line for line in proc.logs() if "403" in str(line)]
            assert denied == [], f"the controller was denied something it needs: {denied}"
        finally:
            assert await proc.stop(signal.SIGTERM) == 0
            print(proc.log_path.read_text())
