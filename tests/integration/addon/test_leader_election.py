"""Two replicas with --leader-elect: one acts; kill -9 fails over, SIGTERM hands over at once."""

from __future__ import annotations

import signal
import time

from reloader.kube.rest import Rest
from tests.integration.cluster import (
    configmap,
    container,
    create,
    eventually,
    merge_patch,
    workload,
)
from tests.integration.conftest import StartReloader
from tests.integration.controller import ReloaderProcess
from tests.integration.rollouts import expect_revisions, wait_recorded

LEASE_DURATION, RENEW_DEADLINE, RETRY = 3.0, 2.0, 0.25


def election_args(namespace: str) -> list[str]:
    return [
        "--leader-elect=true",
        f"--leader-election-namespace={namespace}",
        f"--leader-elect-lease-duration={LEASE_DURATION}s",
        f"--leader-elect-renew-deadline={RENEW_DEADLINE}s",
        f"--leader-elect-retry-period={RETRY}s",
    ]


async def holder(rest: Rest, namespace: str) -> str:
    lease = await rest.get(
        f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/reloader-leader"
    )
    return str(lease["spec"].get("holderIdentity") or "")


def identity(proc: ReloaderProcess) -> str | None:
    for line in proc.logs():
        if line.get("event") == "became leader":
            return str(line["identity"])
    return None


async def rolled(proc: ReloaderProcess) -> float:
    return await proc.metric("reloader_reloads_total", kind="Deployment", result="rolled")


async def test_one_leader_acts_and_failover_loses_and_doubles_nothing(
    rest: Rest, namespace: str, start_reloader: StartReloader
) -> None:
    await create(rest, namespace, configmap("cfg", {"a": "1"}))
    spec = {"containers": [container(envFrom=[{"configMapRef": {"name": "cfg"}}])]}
    auto = {"reloader.stakater.com/auto": "true"}
    await create(rest, namespace, workload("Deployment", "web", spec, annotations=auto))
    args = election_args(namespace)
    first, second = await start_reloader(*args), await start_reloader(*args)

    async def one_leader() -> ReloaderProcess | None:
        held = await holder(rest, namespace)
        leaders = [p for p in (first, second) if identity(p) == held]
        return leaders[0] if len(leaders) == 1 else None

    leader = await eventually(one_leader, within=15, what="exactly one leader")
    standby = second if leader is first else first
    assert identity(standby) is None

    await wait_recorded(rest, namespace, within=15)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "2"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 2)
    assert (await rolled(leader), await rolled(standby)) == (1.0, 0.0)

    # kill -9: no release; the standby takes over once the lease has not been renewed for a
    # lease duration by its own clock. A change made meanwhile is not lost, nor doubled.
    killed_at = time.monotonic()
    await leader.stop(signal.SIGKILL)
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "3"}})

    async def standby_leads() -> bool:
        return identity(standby) is not None and await holder(rest, namespace) == identity(standby)

    await eventually(standby_leads, within=LEASE_DURATION + 10, what="the standby to take over")
    failover = time.monotonic() - killed_at
    await expect_revisions(rest, namespace, "Deployment", "web", 3)
    print(f"failover after kill -9: {failover:.2f}s (lease duration {LEASE_DURATION}s)")
    assert failover <= LEASE_DURATION + 3 * RETRY + 1.0

    # SIGTERM: the leader releases the lease and a new standby takes it at its next try.
    third = await start_reloader(*args)
    terminated_at = time.monotonic()
    assert await standby.stop(signal.SIGTERM) == 0

    async def third_leads() -> bool:
        return identity(third) is not None and await holder(rest, namespace) == identity(third)

    await eventually(third_leads, within=LEASE_DURATION, what="the new standby to take over")
    handover = time.monotonic() - terminated_at
    print(f"handover after SIGTERM: {handover:.2f}s")
    assert handover < LEASE_DURATION / 2
    await merge_patch(rest, namespace, "ConfigMap", "cfg", {"data": {"a": "4"}})
    await expect_revisions(rest, namespace, "Deployment", "web", 4)
    assert await rolled(third) == 1.0
