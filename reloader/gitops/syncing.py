"""The GitOps loop: each interval (or on a webhook), make the cluster match a git revision.

A revision is a transaction: it is read and validated whole (offline, then a server dry-run
of every object) before anything is applied, and any problem rejects all of it, keeping the
last good revision in force. Applying goes in stages (namespaces and CRDs, cluster-scoped
objects, ConfigMaps and Secrets, the rest, webhooks), each stage concurrently with a bound.
Each object is first applied as a dry run and compared with the live object, so an object
that already matches is not written: an idle cycle costs reads and dry runs, no writes.
Pruning deletes only what the inventory says this loop applied, and is refused when a
revision renders nothing or would delete more than a set share of the inventory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from reloader.core.hashing import Hasher
from reloader.core.manifests import Manifest, Problem, digest_of
from reloader.core.ordering import Stage, stage_of, staged
from reloader.core.references import Kind
from reloader.gitops import state as states
from reloader.gitops.applying import Applier, UnknownKind, comparable, crd_for
from reloader.gitops.reading import read_tree
from reloader.gitops.source import Commit, Credentials, GitError, GitSource
from reloader.gitops.stamping import stamp
from reloader.gitops.validating import server_dry_run
from reloader.kube.events import Recorder
from reloader.kube.resources import CONFIGMAPS, SECRETS
from reloader.kube.rest import ApiError, JSONDict, Rest
from reloader.kube.watching import Backoff
from reloader.telemetry.logging import get_logger
from reloader.telemetry.metrics import (
    GITOPS_DRIFT,
    GITOPS_ERRORS,
    GITOPS_LAST_APPLIED,
    GITOPS_OBJECTS,
    GITOPS_SYNC_SECONDS,
    GITOPS_SYNCS,
)

log = get_logger("gitops")
PRUNE_OPT_OUT = ("reloader.dev/prune", "kustomize.toolkit.fluxcd.io/prune")
DriftMode = Literal["correct", "detect"]
LOG_NAMES = 100


@dataclass(frozen=True)
class SyncSettings:
    url: str
    ref: str = "main"
    path: str = "."
    interval: float = 30.0
    prune: bool = False
    prune_max_share: float = 0.5
    force_prune: bool = False
    drift: DriftMode = "correct"
    default_namespace: str = "default"
    state_namespace: str = "reloader"
    concurrency: int = 32
    workdir: Path = Path("/tmp/reloader-gitops")
    credentials: Credentials = field(default_factory=Credentials)
    git_timeout: float = 60.0


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.changed) + len(self.corrected) + len(self.pruned)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(live: JSONDict | None, body: JSONDict) -> str | None:
    """What must not move for a verified object to still be as git wants it.

    For kinds with a spec generation: that generation, plus the metadata that ``body`` sets
    (its labels and annotations, by key, and any other metadata field it names). A
    controller's status update, or an annotation another manager adds (kube-controller-manager
    marks each Deployment's revision), is not drift: applying ``body`` would leave it as it
    is. Other kinds: the resourceVersion.
    """
    if live is None:
        return None
    meta = live.get("metadata") or {}
    if "generation" not in meta:
        return meta.get("resourceVersion")
    ours = body.get("metadata") or {}
    kept: dict[str, object] = {}
    for key, value in ours.items():
        if key in ("labels", "annotations") and isinstance(value, dict):
            theirs = meta.get(key) or {}
            kept[key] = {k: theirs.get(k) for k in value}
        elif key not in ("name", "namespace"):
            kept[key] = meta.get(key)
    return f"{meta['generation']}:{digest_of(kept)}"


def _identity(manifest: Manifest) -> tuple[str, ...]:
    return (manifest.api_version, *manifest.key)


def _name(manifest: Manifest) -> str:
    ns = f"{manifest.namespace}/" if manifest.namespace else ""
    return f"{manifest.kind}/{ns}{manifest.name}"


def log_synced(fields: dict[str, object]) -> None:
    """One "synced" line; with more than ``LOG_NAMES`` objects, those go on "synced
    objects" lines of that many each, as one log line must stay short enough for log
    pipelines (the container runtime splits lines at 16 KiB) and the audit trail whole."""
    lists = {k: v for k, v in fields.items() if isinstance(v, list)}
    counts = {k: len(v) for k, v in lists.items()}
    if sum(counts.values()) <= LOG_NAMES:
        log.info("synced", **fields, counts=counts)
        return
    short = {k: v for k, v in fields.items() if k not in lists}
    log.info("synced", **short, counts=counts, objects_listed_below=True)
    for action, names in lists.items():
        for start in range(0, len(names), LOG_NAMES):
            log.info(
                "synced objects",
                revision=fields["revision"],
                action=action,
                objects=names[start : start + LOG_NAMES],
            )


class RevisionRefused(Exception):
    def __init__(self, problems: Sequence[Problem | str], reason: str = "PruneRefused") -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = [str(p) for p in problems]
        self.reason = reason


class Syncer:
    def __init__(
        self, *, rest: Rest, settings: SyncSettings, hasher: Hasher, reload_all: bool = False
    ) -> None:
        self.rest, self.settings, self.hasher, self.reload_all = rest, settings, hasher, reload_all
        self.source = GitSource(
            url=settings.url,
            ref=settings.ref,
            workdir=settings.workdir,
            credentials=settings.credentials,
            timeout=settings.git_timeout,
        )
        self.applier = Applier(rest, default_namespace=settings.default_namespace)
        self.recorder = Recorder(rest)
        self.trigger = asyncio.Event()
        self.state = states.State(url=settings.url, ref=settings.ref, path=settings.path)
        self._state_object: JSONDict | None = None
        self._verified: dict[str, tuple[str, str | None]] = {}
        self._parsed: tuple[str, list[Manifest]] | None = None
        self._last_commit: Commit | None = None
        self._last_warning: tuple[str, str] | None = None
        self._accepted: dict[tuple[str, ...], str] = {}
        """Objects (by identity) the server took as written (by digest): validated already."""
        self.synced = asyncio.Event()
        """Set after the first cycle (success or not), for readiness."""

    # --- the loop ---

    async def run(self) -> None:
        await states.ensure_namespace(self.rest, self.settings.state_namespace)
        stored, self._state_object = await states.load(self.rest, self.settings.state_namespace)
        stored.url, stored.ref, stored.path = (
            self.settings.url,
            self.settings.ref,
            self.settings.path,
        )
        self.state = stored
        backoff = Backoff(base=1.0, cap=min(300.0, max(5.0, self.settings.interval)))
        while True:
            wait = self.settings.interval
            # Cleared before the sync, not after: a webhook that arrives during a sync must
            # cause one more, or a push made while we were applying would wait an interval.
            self.trigger.clear()
            try:
                await self.sync_once()
                backoff.reset()
            except (GitError, OSError, TimeoutError) as exc:
                wait = min(wait, max(1.0, backoff.next()))
                await self._failed(None, [f"git: {exc}"], reason="SourceUnavailable")
            except ApiError as exc:
                wait = min(wait, max(1.0, backoff.next()))
                await self._failed(None, [f"API server: {exc}"], reason="SyncFailed")
            except Exception as exc:  # the loop must outlive any one bad cycle
                log.exception("sync crashed; retrying")
                wait = min(wait, max(1.0, backoff.next()))
                await self._failed(None, [f"internal error: {exc!r}"], reason="SyncFailed")
            self.synced.set()
            try:
                await asyncio.wait_for(self.trigger.wait(), wait)
                log.info("sync triggered")
            except TimeoutError:
                pass

    async def sync_once(self) -> Report | None:
        started = time.monotonic()
        sha = await self.source.remote_revision()
        commit = await self._commit(sha)
        fresh = self.state.last_applied is None or self.state.last_applied.sha != sha
        if self._parsed is not None and self._parsed[0] == sha:
            manifests, problems = self._parsed[1], list[Problem]()  # idle: the tree is unchanged
        else:
            tree = await self.source.checkout(sha)
            manifests, problems = await read_tree(tree, self.settings.path)
        deferred: list[Manifest] = []
        if not problems and fresh:  # a revision already applied was validated then
            dry = await server_dry_run(
                self.applier,
                manifests,
                concurrency=self.settings.concurrency,
                accepted=lambda m: self._accepted.get(_identity(m)) == m.digest,
            )
            problems, deferred = dry.problems, dry.deferred
        if problems:
            GITOPS_SYNCS.labels("failed").inc()
            await self._failed(commit, problems, reason="RevisionInvalid")
            return None
        try:
            report = await self._apply(manifests, fresh=fresh, deferred=deferred)
        except RevisionRefused as refused:
            GITOPS_SYNCS.labels("failed").inc()
            await self._failed(commit, refused.problems, reason=refused.reason)
            return None
        self._parsed = (sha, list(manifests))
        await self._succeeded(commit, report, fresh=fresh, seconds=time.monotonic() - started)
        await self.source.forget_except({sha})
        return report

    async def _commit(self, sha: str) -> states.Revision:
        if self._last_commit is None or self._last_commit.sha != sha:
            await self.source.checkout(sha)
            self._last_commit = await self.source.commit(sha)
        commit = self._last_commit
        return states.Revision(sha=sha, author=commit.author, subject=commit.subject, time=_now())

    # --- applying ---

    async def _fetch(self, kind: Kind, namespace: str, name: str) -> JSONDict | None:
        resource = CONFIGMAPS if kind is Kind.CONFIGMAP else SECRETS
        return await self.rest.get_or_none(resource.item(namespace, name))

    async def _apply(
        self, manifests: Sequence[Manifest], *, fresh: bool, deferred: Sequence[Manifest] = ()
    ) -> Report:
        inventory = set(self.state.inventory)
        paths = {id(m): await self._path(m, manifests) for m in manifests}
        wanted = set(paths.values())
        doomed = sorted(inventory - wanted) if self.settings.prune else []
        if self.settings.prune and not self.settings.force_prune:
            if not manifests and inventory:
                raise RevisionRefused(["the revision renders no objects; refusing to prune all"])
            if inventory and len(doomed) > self.settings.prune_max_share * len(inventory):
                raise RevisionRefused(
                    [
                        f"the revision would prune {len(doomed)} of {len(inventory)} objects, more "
                        f"than --prune-max-share {self.settings.prune_max_share:.0%}; refused"
                    ]
                )
        bodies = await stamp(
            manifests,
            hasher=self.hasher,
            fetch=self._fetch,
            default_namespace=self.settings.default_namespace,
            reload_all=self.reload_all,
        )
        index = {id(m): i for i, m in enumerate(manifests)}
        live = await self._live_objects(wanted)
        report = Report()
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(manifest: Manifest) -> None:
            async with gate:
                path = paths[id(manifest)]
                body = bodies.get(index[id(manifest)], manifest.obj)
                await self._apply_one(
                    manifest, body, path=path, live=live.get(path), fresh=fresh, report=report
                )

        for stage in staged(manifests):
            await asyncio.gather(*(one(m) for m in stage))
            await self._wait_established([m for m in stage if m.kind == "CustomResourceDefinition"])
            if deferred and stage_of(stage[0]) == Stage.NAMESPACES_AND_CRDS:
                created = {paths[id(m)] for m in stage}
                await self._dry_run_deferred(deferred, created=created, inventory=inventory)
        if doomed:
            await self._prune(doomed, report)
        # Objects removed from git but not pruned (prune off, or opted out) stay in the
        # inventory: they are still ours, and turning prune on later removes them.
        self.state.inventory = sorted(wanted | (inventory - set(report.pruned)))
        return report

    async def _dry_run_deferred(
        self, deferred: Sequence[Manifest], *, created: set[str], inventory: set[str]
    ) -> None:
        """Dry-run the objects that had to wait for this revision's Namespaces and CRDs.

        Nothing else of the revision has been applied yet: if any is refused, the revision
        is, and only the namespaces and CRDs stay (tracked in the inventory, so a later
        revision without them prunes them)."""
        dry = await server_dry_run(self.applier, deferred, concurrency=self.settings.concurrency)
        if dry.problems:
            self.state.inventory = sorted(inventory | created)
            log.warning(
                "objects refused once their namespace or CRD existed; those stay",
                created=sorted(created),
            )
            raise RevisionRefused(dry.problems, reason="RevisionInvalid")

    async def _path(self, manifest: Manifest, manifests: Sequence[Manifest]) -> str:
        """The object's REST path; for a kind whose CRD this same revision brings (and the
        server does not serve yet), derived from that CRD."""
        try:
            return await self.applier.item_path(manifest)
        except UnknownKind:
            crd = crd_for(manifests, manifest)
            if crd is None:
                raise
            spec = crd.obj.get("spec") or {}
            base = f"/apis/{manifest.api_version}"
            if spec.get("scope") == "Namespaced":
                ns = manifest.namespace or self.settings.default_namespace
                base = f"{base}/namespaces/{ns}"
            return f"{base}/{(spec.get('names') or {}).get('plural')}/{manifest.name}"

    async def _live_objects(self, paths: Iterable[str]) -> dict[str, JSONDict]:
        """The live objects at ``paths``: one paged LIST per collection, not a GET per object."""
        live: dict[str, JSONDict] = {}
        for collection in sorted({p.rsplit("/", 1)[0] for p in paths}):
            token = ""
            while True:
                query: dict[str, str | int | bool] = {"limit": 500}
                if token:
                    query["continue"] = token
                try:
                    page = await self.rest.get(collection, query)
                except ApiError as exc:
                    if exc.not_found:  # a kind this revision's CRD is about to bring
                        break
                    raise
                for item in page.get("items") or ():
                    live[f"{collection}/{item['metadata']['name']}"] = item
                token = (page.get("metadata") or {}).get("continue") or ""
                if not token:
                    break
        return live

    async def _apply_one(
        self,
        manifest: Manifest,
        body: JSONDict,
        *,
        path: str,
        live: JSONDict | None,
        fresh: bool,
        report: Report,
    ) -> None:
        """Write ``body`` only if the live object differs from what applying it would make.

        ``_verified`` remembers, per object, the body and the live resourceVersion that were
        last found to agree: when neither moved, the object is in sync without any request,
        which is what makes an idle cycle cheap.
        """
        digest = manifest.digest if body is manifest.obj else digest_of(body)
        version = _version(live, body)
        if live is not None and self._verified.get(path) == (digest, version):
            self._accepted[_identity(manifest)] = manifest.digest
            report.unchanged += 1
            return
        if live is not None:
            preview = await self.applier.apply(manifest, body, dry_run=True)
            if comparable(preview) == comparable(live):
                self._verified[path] = (digest, version)
                self._accepted[_identity(manifest)] = manifest.digest
                report.unchanged += 1
                return
        name = _name(manifest)
        if not fresh:  # the revision was applied before: the cluster moved, not git
            report.drifted.append(name)
            if self.settings.drift == "detect":
                return
        result = await self.applier.apply(manifest, body, dry_run=False)
        self._verified[path] = (digest, _version(result, body))
        self._accepted[_identity(manifest)] = manifest.digest
        if not fresh:
            report.corrected.append(name)
            GITOPS_OBJECTS.labels("corrected").inc()
        elif live is None:
            report.created.append(name)
            GITOPS_OBJECTS.labels("created").inc()
        else:
            report.changed.append(name)
            GITOPS_OBJECTS.labels("changed").inc()

    async def _wait_established(self, crds: Sequence[Manifest], within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        for crd in crds:
            path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd.name}"
            while True:
                obj = await self.rest.get(path)
                conditions = (obj.get("status") or {}).get("conditions") or ()
                if any(
                    c.get("type") == "Established" and c.get("status") == "True" for c in conditions
                ):
                    break
                if time.monotonic() > deadline:
                    raise ApiError(504, "Timeout", f"CRD {crd.name} not Established in {within}s")
                await asyncio.sleep(0.2)

    async def _prune(self, doomed: Sequence[str], report: Report) -> None:
        for path in doomed:
            live = await self.rest.get_or_none(path)
            if live is None:
                report.pruned.append(path)  # already gone: drop it from the inventory
                continue
            annotations = (live.get("metadata") or {}).get("annotations") or {}
            if any(annotations.get(key) == "disabled" for key in PRUNE_OPT_OUT):
                log.info("prune skipped: the object opts out", object=path)
                continue
            try:
                await self.rest.request("DELETE", path, body={"propagationPolicy": "Background"})
            except ApiError as exc:
                if not exc.not_found:
                    raise
            report.pruned.append(path)
            GITOPS_OBJECTS.labels("pruned").inc()

    # --- reporting ---

    async def _save(self) -> None:
        self._state_object = await states.save(self.rest, self.settings.state_namespace, self.state)

    async def _event(self, *, warning: bool, reason: str, message: str) -> None:
        # A failure or drift that persists is recorded once, not once per interval.
        if warning and (reason, message) == self._last_warning:
            return
        self._last_warning = (reason, message) if warning else None
        if self._state_object is not None:
            await self.recorder.record(
                self._state_object,
                type="Warning" if warning else "Normal",
                reason=reason,
                message=message,
            )

    async def _failed(
        self, commit: states.Revision | None, problems: Sequence[Problem | str], *, reason: str
    ) -> None:
        errors = [str(p) for p in problems]
        GITOPS_ERRORS.set(len(errors))
        if commit is not None:
            self.state.last_attempted = commit
        self.state.last_result = reason
        self.state.errors = errors
        sha = commit.sha[:12] if commit else "?"
        log.error(
            "sync failed; the last good revision stays in force",
            reason=reason,
            revision=sha,
            errors=errors[:50],
            last_applied=self.state.last_applied.sha[:12] if self.state.last_applied else None,
        )
        try:
            await self._save()
            await self._event(
                warning=True, reason=reason, message=f"revision {sha}: " + "; ".join(errors[:10])
            )
        except (ApiError, OSError) as exc:
            log.warning("could not record the failure in the cluster", error=str(exc))

    async def _succeeded(
        self, commit: states.Revision, report: Report, *, fresh: bool, seconds: float
    ) -> None:
        GITOPS_SYNC_SECONDS.observe(seconds)
        GITOPS_ERRORS.set(0)
        GITOPS_DRIFT.set(len(report.drifted))
        result = "applied" if report.writes else "unchanged"
        GITOPS_SYNCS.labels(result).inc()
        self.state.last_attempted = commit
        self.state.errors = []
        self.state.last_result = (
            "Applied" if fresh else ("Corrected" if report.corrected else "InSync")
        )
        self.state.in_sync = not (report.drifted and self.settings.drift == "detect")
        self.state.drift = report.drifted if self.settings.drift == "detect" else []
        if fresh:
            if self.state.last_applied is not None:
                GITOPS_LAST_APPLIED.remove(self.state.last_applied.sha)
            self.state.last_applied = commit
            GITOPS_LAST_APPLIED.labels(commit.sha).set(time.time())
        fields = {
            "revision": commit.sha[:12],
            "author": commit.author,
            "subject": commit.subject,
            "created": report.created,
            "changed": report.changed,
            "pruned": report.pruned,
            "corrected": report.corrected,
            "drifted": report.drifted,
            "unchanged": report.unchanged,
            "seconds": round(seconds, 3),
        }
        if fresh or report.writes or report.drifted or self._state_object is None:
            await self._save()
        if fresh or report.writes:
            log_synced(fields)
            summary = (
                f"revision {commit.sha[:12]} ({commit.subject!r} by {commit.author}): "
                f"{len(report.created)} created, {len(report.changed)} changed, "
                f"{len(report.pruned)} pruned, {len(report.corrected)} corrected"
            )
            details = "; ".join(
                f"{k}: {', '.join(v)}"
                for k, v in (
                    ("created", report.created),
                    ("changed", report.changed),
                    ("pruned", report.pruned),
                    ("corrected", report.corrected),
                )
                if v
            )
            await self._event(warning=False, reason="Synced", message=f"{summary}. {details}")
        elif report.drifted:
            log.warning("drift detected (not corrected: --drift detect)", **fields)
            await self._event(
                warning=True, reason="DriftDetected", message="; ".join(report.drifted[:20])
            )
        else:
            log.debug("in sync", **fields)
