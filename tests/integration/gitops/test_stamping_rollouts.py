"""A commit changing a ConfigMap and the Argo Rollout that reads it writes the Rollout once.

The apply carries the reloader's hash of the new content (as for a Deployment), so the
reloader finds nothing left to do: one new revision, not two. A Rollout that reloads by
restarting is not stamped: its record is what says which content it was restarted for.
"""

from __future__ import annotations

from reloader.core import names
from reloader.kube.resources import ROLLOUTS
from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, eventually, stays
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import GitRepo
from tests.integration.reloading.test_rollouts import crd, read, rollout

__all__ = ["crd"]  # the fixture: the Rollout CRD is installed for these tests
AUTO = {names.AUTO: "true"}


async def generation_and_hash(rest: Rest, namespace: str) -> tuple[int, str | None]:
    body = await read(rest, namespace)
    annotations = body["spec"]["template"].get("metadata", {}).get("annotations") or {}
    return body["metadata"]["generation"], annotations.get(names.CONFIG_HASH)


async def test_a_commit_changing_a_configmap_and_its_rollout_writes_one_revision(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, crd: None
) -> None:
    repo.put("cfg.yaml", configmap("cfg", {"a": "1"}))
    repo.put("web.yaml", rollout("web", AUTO))
    repo.commit("first")
    await start_loop()
    first = await eventually(
        lambda: _stamped(rest, namespace), within=30, what="the Rollout applied and stamped"
    )

    changed = rollout("web", AUTO)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    repo.put("cfg.yaml", configmap("cfg", {"a": "2"}))
    repo.put("web.yaml", changed)
    repo.commit("new config and new image together")

    async def applied() -> tuple[int, str | None] | None:
        now = await generation_and_hash(rest, namespace)
        return now if now[1] != first[1] else None

    second = await eventually(applied, within=30, what="the new revision applied")
    assert second[0] == first[0] + 1  # template and hash in one write

    async def unchanged() -> bool:
        return await generation_and_hash(rest, namespace) == second

    await stays(unchanged, for_=3.0, what="the reloader to leave the stamped Rollout alone")


async def _stamped(rest: Rest, namespace: str) -> tuple[int, str | None] | None:
    if await rest.get_or_none(ROLLOUTS.item(namespace, "web")) is None:
        return None  # not applied yet
    now = await generation_and_hash(rest, namespace)
    return now if now[1] else None
