"""Reload a Job by deleting it and creating it again: its pod template is immutable.

The new Job is the old one read fresh from the API server, minus what the server set (uid,
resourceVersion, status, the generated selector and its ``controller-uid``/``job-name``
labels), plus the new pod-template hash and record. Completed Jobs are recreated too, as
Stakater Reloader does: the point of reloading a Job is to run it again with new content.

Safety, step by step:

- The Job is read fresh and must still be the one the decision was made on (same uid, same
  hash and record); otherwise the index is behind and the watch will bring the change.
- The DELETE carries the uid and resourceVersion that were read as preconditions, so a Job
  that changed meanwhile, or was already recreated (by us, from a stale view, or by anyone),
  is never deleted: the server answers 409 and nothing happens.
- ``propagationPolicy: Background`` removes the Job object at once (so its name is free for
  the create) and lets the garbage collector remove its pods afterwards; Foreground would
  keep the name taken until every pod is gone, widening the gap between delete and create.
- The create is retried until it succeeds (or the server refuses the object itself), and it
  runs in a task of its own that a shutdown or a lost leadership waits for (``drain``), so a
  cancelled reconcile never leaves a Job deleted and not created.

What remains: the body to create lives only in this process between the DELETE and the
successful POST. A process killed in that window (SIGKILL, OOM, node loss: one request's
round trip, or longer while the API server refuses the create) loses the Job.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from typing import Any

from reloader.core import names
from reloader.kube.resources import JOBS
from reloader.kube.rest import ApiError, JSONDict, Rest
from reloader.kube.watching import Backoff
from reloader.telemetry.logging import get_logger

log = get_logger("recreating")

GENERATED_LABELS = (
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
)
"""Labels the API server puts on a Job's template (and on the Job, when it has no labels)."""
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
    "selfLink",
)
GC_FINALIZERS = ("foregroundDeletion", "orphan")


def _without(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if k not in GENERATED_LABELS}


def replacement(job: Mapping[str, Any], *, template_hash: str, record: str) -> JSONDict:
    """The Job to create in place of ``job``: the same Job, as its author would create it."""
    new: JSONDict = copy.deepcopy(dict(job))
    new.pop("status", None)
    new.setdefault("apiVersion", JOBS.api_version)
    new.setdefault("kind", JOBS.kind)
    meta = new.setdefault("metadata", {})
    for key in SERVER_METADATA:
        meta.pop(key, None)
    finalizers = [f for f in meta.get("finalizers") or () if f not in GC_FINALIZERS]
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)
    meta["annotations"] = {**(meta.get("annotations") or {}), names.OBSERVED: record}
    spec = new.setdefault("spec", {})
    template = spec.setdefault("template", {})
    template_meta = template.setdefault("metadata", {})
    if not spec.get("manualSelector"):
        # The server generated the selector from the old uid; it generates a new one.
        spec.pop("selector", None)
        template_meta["labels"] = _without(template_meta.get("labels"))
        labels = _without(meta.get("labels"))
        if labels:
            meta["labels"] = labels
        else:
            meta.pop("labels", None)
    template_meta["annotations"] = {
        **(template_meta.get("annotations") or {}),
        names.CONFIG_HASH: template_hash,
    }
    return new


class Stale(Exception):
    """The Job is no longer the one the decision was made on; the watch will catch up."""


class Refused(Exception):
    """The old Job was deleted and the server refuses to create the new one."""

    def __init__(self, error: ApiError, body: JSONDict) -> None:
        super().__init__(f"deleted, but the server refuses to create it again: {error}")
        self.error, self.body = error, body


class Recreator:
    """Recreates Jobs, each in a task of its own that ``drain`` lets finish."""

    def __init__(self, rest: Rest, *, retry_cap: float = 30.0) -> None:
        self.rest, self.retry_cap = rest, retry_cap
        self._running: set[asyncio.Task[JSONDict]] = set()

    async def recreate(
        self,
        *,
        namespace: str,
        name: str,
        uid: str | None,
        seen_hash: str | None,
        seen_record: str | None,
        template_hash: str,
        record: str,
    ) -> JSONDict:
        """Delete and create the Job; return the new one. Raises ``Stale``, ``Refused``."""
        task = asyncio.create_task(
            self._recreate(
                namespace=namespace,
                name=name,
                uid=uid,
                seen=(seen_hash, seen_record),
                template_hash=template_hash,
                record=record,
            )
        )
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return await asyncio.shield(task)

    async def drain(self, within: float) -> None:
        """Wait (up to ``within`` seconds) for recreations under way, so none stops half-done."""
        if self._running:
            log.info("waiting for Jobs being recreated", jobs=len(self._running))
            await asyncio.wait(set(self._running), timeout=within)

    async def _recreate(
        self,
        *,
        namespace: str,
        name: str,
        uid: str | None,
        seen: tuple[str | None, str | None],
        template_hash: str,
        record: str,
    ) -> JSONDict:
        path = JOBS.item(namespace, name)
        backoff = Backoff(base=0.1, cap=2.0)
        for attempt in range(5):
            job = await self.rest.get_or_none(path)
            if job is None or job["metadata"].get("uid") != uid or _seen(job) != seen:
                raise Stale(f"Job {namespace}/{name} changed since it was decided on")
            body = replacement(job, template_hash=template_hash, record=record)
            if job["metadata"].get("deletionTimestamp") is None:
                try:
                    await self._delete(path, job)
                except ApiError as exc:
                    if exc.not_found:
                        raise Stale(f"Job {namespace}/{name} is gone") from exc
                    if not exc.retriable or attempt == 4:
                        raise
                    await asyncio.sleep(backoff.next())  # 409: changed since read; read again
                    continue
            return await self._create(namespace, name, uid, body)
        raise AssertionError("unreachable")

    async def _delete(self, path: str, job: JSONDict) -> None:
        meta = job["metadata"]
        await self.rest.request(
            "DELETE",
            path,
            body={
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "propagationPolicy": "Background",
                "preconditions": {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]},
            },
        )

    async def _create(
        self, namespace: str, name: str, old_uid: str | None, body: JSONDict
    ) -> JSONDict:
        backoff = Backoff(base=0.2, cap=self.retry_cap)
        while True:
            try:
                return await self.rest.request(
                    "POST",
                    JOBS.collection(namespace),
                    query={"fieldManager": names.FIELD_MANAGER},
                    body=body,
                )
            except ApiError as exc:
                if exc.conflict:
                    current = await self._current(namespace, name)
                    if current is not None and current["metadata"].get("uid") != old_uid:
                        raise Stale(f"Job {namespace}/{name} was created by someone else") from exc
                    # Still the old one, terminating (a finalizer holds it): wait for it.
                elif exc.status in (400, 404, 422):
                    log.error(
                        "could not create a deleted Job again; its manifest follows",
                        namespace=namespace,
                        job=name,
                        error=str(exc),
                        manifest=json.dumps(body, sort_keys=True),
                    )
                    raise Refused(exc, body) from exc
                else:
                    log.warning(
                        "creating a recreated Job failed; retrying", job=name, error=str(exc)
                    )
            except (OSError, TimeoutError) as exc:
                log.warning("creating a recreated Job failed; retrying", job=name, error=repr(exc))
            await asyncio.sleep(backoff.next())

    async def _current(self, namespace: str, name: str) -> JSONDict | None:
        try:
            return await self.rest.get_or_none(JOBS.item(namespace, name))
        except (ApiError, OSError, TimeoutError):
            return None


def _seen(job: JSONDict) -> tuple[str | None, str | None]:
    """The template hash and record of ``job``: what the decision compared."""
    template_meta = ((job.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return (
        (template_meta.get("annotations") or {}).get(names.CONFIG_HASH),
        (job["metadata"].get("annotations") or {}).get(names.OBSERVED),
    )
