"""The one write reloader makes to a workload: its own annotations, nothing else.

A JSON merge patch that names only reloader's annotations cannot clobber fields others own,
and the field manager ``reloader`` (not starting with ``kubectl``) makes server-side appliers
such as Flux leave the pod-template hash alone instead of reverting it (which would roll the
workload a second time). The values are pure functions of content, so a retried or repeated
patch is a no-op on the server. Conflicts and server errors are retried with backoff.

An Argo Rollout reloaded with ``restart`` is the one exception: the patch sets
``spec.restartAt`` instead of the template hash (Argo's own way to restart pods without a new
revision). That value is a time, so it is written only together with the record of the
content it restarts for, and the record, not the time, is what later decisions compare.
"""

from __future__ import annotations

import asyncio

from reloader.core import names
from reloader.kube.resources import WORKLOAD_BY_KIND
from reloader.kube.rest import ApiError, JSONDict, Rest
from reloader.kube.watching import Backoff

MERGE_PATCH = "application/merge-patch+json"


def template_path(kind: str) -> tuple[str, ...]:
    """Where the pod template sits in a workload of ``kind``."""
    if kind == "CronJob":
        return ("spec", "jobTemplate", "spec", "template")
    return ("spec", "template")


def pod_template(workload: JSONDict) -> JSONDict:
    node: JSONDict = workload
    for step in template_path(workload["kind"]):
        node = node.get(step) or {}
    return node


def build_patch(
    kind: str, *, record: str, template_hash: str | None, restart_at: str | None = None
) -> JSONDict:
    """The merge patch: always the record; the pod-template hash, or a restart time, to roll."""
    patch: JSONDict = {"metadata": {"annotations": {names.OBSERVED: record}}}
    if restart_at is not None:
        patch["spec"] = {"restartAt": restart_at}
    if template_hash is not None:
        node = patch
        for step in template_path(kind):
            node = node.setdefault(step, {})
        node["metadata"] = {"annotations": {names.CONFIG_HASH: template_hash}}
    return patch


async def patch_workload(
    rest: Rest,
    *,
    kind: str,
    namespace: str,
    name: str,
    record: str,
    template_hash: str | None,
    restart_at: str | None = None,
    attempts: int = 5,
) -> JSONDict:
    """Apply the patch, retrying what can succeed later; return the updated workload."""
    path = WORKLOAD_BY_KIND[kind].item(namespace, name)
    body = build_patch(kind, record=record, template_hash=template_hash, restart_at=restart_at)
    backoff = Backoff(base=0.1, cap=2.0)
    for attempt in range(attempts):
        try:
            return await rest.request(
                "PATCH",
                path,
                query={"fieldManager": names.FIELD_MANAGER},
                body=body,
                content_type=MERGE_PATCH,
            )
        except ApiError as exc:
            if not exc.retriable or attempt == attempts - 1:
                raise
        except (OSError, TimeoutError):
            if attempt == attempts - 1:
                raise
        await asyncio.sleep(backoff.next())
    raise AssertionError("unreachable")
