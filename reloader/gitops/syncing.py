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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from reloader.core.annotations import ReloadOn
from reloader.core.hashing import Hasher
from reloader.core.manifests import Manifest, Problem, digest_of
from reloader.core.ordering import Stage, stage_of, staged
from reloader.core.references import Kind
from reloader.gitops import checking, inventory, options, owning, pruning
from reloader.gitops import state as states
from reloader.gitops.applying import (
    Applier,
    Target,
    UnknownKind,
    comparable,
    crd_for,
    live_objects,
    wait_established,
)
from reloader.gitops.inventory import Entry, ObjectKey
from reloader.gitops.render_cache import RenderCache
from reloader.gitops.rendering import Rendering, RenderTools, render_revision
from reloader.gitops.reporting import LOG_NAMES, Report, log_synced
from reloader.gitops.source import Commit, Credentials, GitError, GitSource
from reloader.gitops.stamping import stamp
from reloader.gitops.suspension import Pause
from reloader.gitops.validating import missing_kind, server_dry_run
from reloader.kube.events import Recorder
from reloader.kube.resources import CONFIGMAPS, SECRETS
from reloader.kube.rest import ApiError, JSONDict, Rest
from reloader.kube.watching import Backoff
from reloader.telemetry.logging import get_logger
from reloader.telemetry.metrics import (
    GITOPS_DRIFT,
    GITOPS_ERRORS,
    GITOPS_LAST_APPLIED,
    GITOPS_LAST_CYCLE,
    GITOPS_OBJECTS,
    GITOPS_RENDERS,
    GITOPS_SYNC_SECONDS,
    GITOPS_SYNCS,
)

log = get_logger("gitops")
DriftMode = Literal["correct", "detect"]


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
    sync_timeout: float = 600.0
    health_timeout: float = 120.0
    """How long to wait after a fresh apply for what it declares to run (0: not checked)."""
    render: RenderTools = field(default_factory=RenderTools)
    """The kustomize and helm that render a path holding a kustomization."""


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


class RevisionRefused(Exception):
    def __init__(self, problems: Sequence[Problem | str], reason: str = "PruneRefused") -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = list(problems)
        self.reason = reason


class Syncer:
    def __init__(
        self,
        *,
        rest: Rest,
        settings: SyncSettings,
        hasher: Hasher,
        reload_all: bool = False,
        reload_on: ReloadOn = ReloadOn.KEYS,
    ) -> None:
        self.rest, self.settings, self.hasher, self.reload_all = rest, settings, hasher, reload_all
        self.reload_on = reload_on
        """The reloader's default view (``--reload-on``): the stamp must hash what it hashes."""
        self.source = GitSource(
            url=settings.url,
            ref=settings.ref,
            workdir=settings.workdir,
            credentials=settings.credentials,
            timeout=settings.git_timeout,
        )
        self.applier = Applier(rest, default_namespace=settings.default_namespace)
        self.recorder = Recorder(rest)
        self.pause = Pause(rest=rest, recorder=self.recorder, namespace=settings.state_namespace)
        self.trigger = asyncio.Event()
        self.state = states.State(url=settings.url, ref=settings.ref, path=settings.path)
        self.owner = settings.state_namespace
        """The value of the owner label on what this loop applies (one loop per namespace)."""
        self.entries: dict[ObjectKey, Entry] | None = None
        """The inventory, read and checked at the first sync (None until then)."""
        self._state_object: JSONDict | None = None
        self._verified: dict[str, tuple[str, str | None]] = {}
        self.renders = RenderCache(settings.render)
        """The last revision rendered, reused while what it was made from is unchanged."""
        self._last_commit: Commit | None = None
        self._last_warning: tuple[str, str] | None = None
        self._accepted: dict[tuple[str, ...], str] = {}
        """Objects (by identity) the server took as written (by digest): validated already."""
        self._pending: set[ObjectKey] = set()
        self._saved: tuple[list[str], ...] = ()
        self._ancestry: tuple[str, str] | None = None
        """(sha, notice) of the last revision whose ancestry was checked."""
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
            deadline = asyncio.timeout(self.settings.sync_timeout)
            try:
                async with deadline:
                    await self.sync_once()
                backoff.reset()
            except TimeoutError as exc:
                wait = min(wait, max(1.0, backoff.next()))
                if deadline.expired():
                    message = (
                        "the sync cycle did not finish within --sync-timeout "
                        f"{self.settings.sync_timeout:.0f}s; it was ended and is retried"
                    )
                    await self._failed(None, [message], reason="SyncTimeout")
                else:  # a request's own deadline
                    await self._failed(None, [f"timed out: {exc!r}"], reason="SyncFailed")
            except (GitError, OSError) as exc:
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
            GITOPS_LAST_CYCLE.set_to_current_time()
            try:
                await asyncio.wait_for(self.trigger.wait(), wait)
                log.info("sync triggered")
            except TimeoutError:
                pass

    async def _inventory(self) -> dict[ObjectKey, Entry]:
        """The stored inventory, checked entry by entry (and migrated from the first format)."""
        if self.entries is None:
            entries, problems, migrated = await inventory.read(
                self.state.inventory, kind_of=self.applier.discovery.kind_of
            )
            if migrated:
                log.info("inventory migrated to identities (group, kind, namespace, name)")
            if problems:
                log.warning("inventory entries refused; left alone", problems=problems)
                await self._event(
                    warning=True, reason="InventoryRefused", message="; ".join(problems[:10])
                )
            self.state.warnings = problems
            self.entries = entries
        return self.entries

    async def sync_once(self) -> Report | None:
        started = time.monotonic()
        sha = await self.source.remote_revision()
        if await self.pause.holds(sha, self.state):  # suspended: git is watched, nothing applied
            return None
        commit, tree = await self._commit(sha)
        entries = await self._inventory()
        fresh = self.state.last_applied is None or self.state.last_applied.sha != sha
        rendering = await self._rendering(sha, tree)
        manifests, problems = rendering.manifests, list(rendering.problems)
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
            located = await self._located(rendering, sha, problems)
            await self._failed(commit, located, reason="RevisionInvalid")
            return None
        try:
            report = await self._apply(manifests, entries, fresh=fresh, deferred=deferred)
        except RevisionRefused as refused:
            self._keep(entries)  # what a failed apply created is recorded with the failure
            GITOPS_SYNCS.labels("failed").inc()
            located = await self._located(rendering, sha, refused.problems)
            await self._failed(commit, located, reason=refused.reason)
            return None
        finally:
            self._keep(entries)
        if fresh:  # after the apply: a deeper fetch to tell must not delay it
            await self._check_ancestry(sha)
        checks = self.settings.health_timeout > 0 and (fresh or self.state.health == "Progressing")
        if checks:
            self.state.health, self.state.unhealthy = "Progressing", []
        await self._succeeded(commit, report, fresh=fresh, seconds=time.monotonic() - started)
        if checks:
            await self._check_health(manifests, sha, started)
        return report

    async def _check_health(self, manifests: Sequence[Manifest], sha: str, started: float) -> None:
        """Wait (within --health-timeout and what is left of --sync-timeout) until what the
        revision declares runs; the verdict is the revision's health."""
        left = self.settings.sync_timeout - (time.monotonic() - started) - 5.0
        within = min(self.settings.health_timeout, max(0.0, left))
        outcome = await checking.wait_healthy(self.applier, manifests, within=within)
        self.state.health, self.state.unhealthy = outcome.health, outcome.unhealthy
        await self._save()
        unhealthy = bool(outcome.unhealthy)
        message = outcome.message(sha[:12])
        await self._event(warning=unhealthy, reason=outcome.health, message=message)

    def _keep(self, entries: dict[ObjectKey, Entry]) -> None:
        self.state.inventory = [entry.to_json() for _, entry in sorted(entries.items())]

    async def _check_ancestry(self, sha: str) -> None:
        """Record (never refuse) a revision that does not descend from the last applied one:
        git is the truth, but a force-push deserves a line in the audit trail."""
        last = self.state.last_applied
        if last is None or last.sha == sha or (self._ancestry or ("",))[0] == sha:
            return
        descends = await self.source.descends_from(last.sha, sha)
        notice = ""
        if descends is False:
            notice = (
                f"revision {sha[:12]} does not descend from the last applied {last.sha[:12]}: "
                "the history was rewritten (force-push); it is applied, as git is the truth"
            )
            log.warning("history rewritten", revision=sha[:12], last_applied=last.sha[:12])
            await self._event(warning=True, reason="HistoryRewritten", message=notice)
        self._ancestry = (sha, notice)

    async def _rendering(self, sha: str, tree: str) -> Rendering:
        """The revision's manifests: the last render while its inputs are unchanged (an idle
        cycle; a new commit of the same tree, such as an empty one), else a new render."""
        key = await self.renders.key(tree, self.settings.path)
        rendering = self.renders.get(key, sha)
        new_sha = self.renders.sha != sha
        if rendering is None:
            self.renders.clear()  # never two revisions in memory at once (the parse limits)
            files = await self.source.checkout(sha)
            rendering = await render_revision(files, self.settings.path, tools=self.settings.render)
            GITOPS_RENDERS.labels("rendered").inc()
            if rendering.outside:
                log.info(
                    "the render may read outside the repository: rendered again for each commit",
                    outside=rendering.outside[:10],
                )
        elif new_sha:
            GITOPS_RENDERS.labels("reused").inc()
            log.debug("render reused: same tree and tools", revision=sha[:12], tree=key.tree[:12])
        self.renders.put(key, sha, rendering)
        if new_sha:  # one checkout on disk at most: this revision's, if it was needed
            await self.source.forget_except({sha})
        return rendering

    async def _located(
        self, rendering: Rendering, sha: str, problems: Sequence[Problem | str]
    ) -> list[Problem | str]:
        """``problems`` at their sources' path:line (a clean render did not need them)."""
        try:
            return await rendering.locate(problems, lambda: self.source.checkout(sha))
        except (GitError, OSError) as exc:
            log.warning("problems could not be traced to their source files", error=str(exc))
            return list(problems)

    async def _commit(self, sha: str) -> tuple[states.Revision, str]:
        """The revision to record for ``sha``, and its root tree's sha."""
        if self._last_commit is None or self._last_commit.sha != sha:
            await self.source.fetch(sha)  # checked out only if it must be rendered
            self._last_commit = await self.source.commit(sha)
        commit = self._last_commit
        revision = states.Revision(
            sha=sha, author=commit.author, subject=commit.subject, time=_now()
        )
        return revision, commit.tree

    # --- applying ---

    async def _fetch(self, kind: Kind, namespace: str, name: str) -> JSONDict | None:
        resource = CONFIGMAPS if kind is Kind.CONFIGMAP else SECRETS
        return await self.rest.get_or_none(resource.item(namespace, name))

    async def _targets(
        self, manifests: Sequence[Manifest]
    ) -> tuple[dict[int, Target], list[Manifest]]:
        """Where each object goes (by ``id``), and the custom resources waiting for a CRD."""
        targets: dict[int, Target] = {}
        waiting: list[Manifest] = []
        refused: list[Problem] = []
        for manifest in manifests:
            try:
                targets[id(manifest)] = await self._target(manifest, manifests)
            except UnknownKind:
                if options.may_wait_for_crd(manifest):
                    waiting.append(manifest)
                else:
                    refused.append(Problem(manifest.path, manifest.line, missing_kind(manifest)))
        if refused:
            raise RevisionRefused(refused, reason="RevisionInvalid")
        return targets, waiting

    async def _apply(
        self,
        manifests: Sequence[Manifest],
        entries: dict[ObjectKey, Entry],
        *,
        fresh: bool,
        deferred: Sequence[Manifest] = (),
    ) -> Report:
        targets, waiting = await self._targets(manifests)
        ns = self.settings.default_namespace
        waiting_keys = {ObjectKey(m.group, m.kind, m.namespace or ns, m.name) for m in waiting} | {
            ObjectKey(m.group, m.kind, "", m.name) for m in waiting
        }
        wanted = {t.key for t in targets.values()} | waiting_keys
        plan = await self._plan_prune(manifests, entries, wanted)
        bodies = await stamp(
            manifests,
            hasher=self.hasher,
            fetch=self._fetch,
            default_namespace=self.settings.default_namespace,
            reload_all=self.reload_all,
            reload_on=self.reload_on,
        )
        index = {id(m): i for i, m in enumerate(manifests)}
        live = await live_objects(self.rest, (t.path for t in targets.values()))
        report = Report()
        gate = asyncio.Semaphore(self.settings.concurrency)
        applied: dict[ObjectKey, Entry] = {}
        refused: list[Problem] = []
        # An object that waited for its CRD is new to the cluster, not drift, when it comes.
        arriving = self._pending - waiting_keys

        async def one(manifest: Manifest) -> None:
            target = targets[id(manifest)]
            async with gate:
                known, found = entries.get(target.key), live.get(target.path)
                adopted = (
                    known.adopted
                    if known
                    else bool(found and not owning.applied_by(found, self.owner))
                )
                stamped = bodies.get(index[id(manifest)])
                body = owning.mark(stamped or manifest.obj, owner=self.owner, adopted=adopted)
                digest = digest_of(stamped) if stamped is not None else manifest.digest
                try:
                    await self._apply_one(
                        manifest,
                        body,
                        digest=f"{digest}:{adopted}",
                        path=target.path,
                        live=found,
                        fresh=fresh or target.key in arriving,
                        report=report,
                    )
                except ApiError as exc:
                    if exc.retriable:
                        raise
                    fields = options.immutable_fields(exc)
                    message = (
                        options.immutable_message(manifest, fields)
                        if fields is not None
                        else f"apply refused by the API server: {exc.message}"
                    )
                    refused.append(Problem(manifest.path, manifest.line, message))
                    return
                applied[target.key] = Entry(target.key, target.version, adopted)

        try:
            for stage in staged(m for m in manifests if id(m) in targets):
                done = await asyncio.gather(*(one(m) for m in stage), return_exceptions=True)
                failed = [r for r in done if isinstance(r, BaseException)]
                if failed:
                    raise failed[0]
                if refused:
                    raise RevisionRefused(sorted(refused), reason="ApplyFailed")
                await wait_established(
                    self.rest, [m.name for m in stage if m.kind == "CustomResourceDefinition"]
                )
                if deferred and stage_of(stage[0]) == Stage.NAMESPACES_AND_CRDS:
                    await self._dry_run_deferred(deferred, manifests)
        finally:
            # Whatever was written is ours, also when the revision fails part-way: recorded,
            # so a later revision without it prunes it.
            entries.update(applied)
        if plan is not None:
            await self._prune(plan, entries, report)
        self._pending = waiting_keys if waiting else set()
        self.state.pending = sorted(_name(m) for m in waiting)
        if waiting and fresh:
            log.warning("objects wait for their CRD", pending=self.state.pending)
        return report

    async def _plan_prune(
        self,
        manifests: Sequence[Manifest],
        entries: dict[ObjectKey, Entry],
        wanted: set[ObjectKey],
    ) -> pruning.Plan | None:
        """What pruning would delete, refused whole (before anything is applied) when it
        would remove more than the set share, or everything."""
        if not self.settings.prune:
            return None
        doomed = [entry for key, entry in entries.items() if key not in wanted]
        if not self.settings.force_prune and not manifests and entries:
            raise RevisionRefused(["the revision renders no objects; refusing to prune all"])
        if not doomed:
            return None
        plan = await pruning.plan(
            rest=self.rest,
            discovery=self.applier.discovery,
            doomed=doomed,
            inventory=entries.keys(),
            wanted=wanted,
            owner=self.owner,
            force=self.settings.force_prune,
        )
        removes, share = len(plan.removes), self.settings.prune_max_share
        if not self.settings.force_prune and removes > share * len(entries):
            inside = len(plan.removes - entries.keys())
            held = f" ({inside} of them inside Namespaces or CRDs it deletes)" if inside else ""
            raise RevisionRefused(
                [
                    f"the revision would prune {removes} of {len(entries)} objects{held}, more "
                    f"than --prune-max-share {share:.0%}; refused"
                ]
            )
        return plan

    async def _dry_run_deferred(
        self, deferred: Sequence[Manifest], manifests: Sequence[Manifest], within: float = 10.0
    ) -> None:
        """Dry-run the objects that had to wait for this revision's Namespaces and CRDs.

        Nothing else of the revision has been applied yet: if any is refused, the revision
        is, and only the namespaces and CRDs stay (in the inventory, so a later revision
        without them prunes them). An API server takes a moment to serve a CRD's new schema,
        so objects of a CRD this revision brings are tried again for ``within`` seconds."""
        deadline = time.monotonic() + within
        todo = list(deferred)
        while True:
            dry = await server_dry_run(self.applier, todo, concurrency=self.settings.concurrency)
            if not dry.problems:
                return
            failing = {(p.path, p.line) for p in dry.problems}
            todo = [m for m in todo if (m.path, m.line) in failing]
            if time.monotonic() > deadline or any(crd_for(manifests, m) is None for m in todo):
                log.warning("objects refused once their namespace or CRD existed; those stay")
                raise RevisionRefused(dry.problems, reason="RevisionInvalid")
            await asyncio.sleep(0.5)

    async def _target(self, manifest: Manifest, manifests: Sequence[Manifest]) -> Target:
        """Where the object goes; for a kind whose CRD this same revision brings (and the
        server does not serve yet), derived from that CRD."""
        try:
            return await self.applier.target(manifest)
        except UnknownKind:
            crd = crd_for(manifests, manifest)
            if crd is None:
                raise
            spec = crd.obj.get("spec") or {}
            return self.applier.target_at(
                manifest,
                plural=str((spec.get("names") or {}).get("plural")),
                namespaced=spec.get("scope") == "Namespaced",
            )

    async def _apply_one(
        self,
        manifest: Manifest,
        body: JSONDict,
        *,
        digest: str,
        path: str,
        live: JSONDict | None,
        fresh: bool,
        report: Report,
    ) -> None:
        """Write ``body`` only if the live object differs from what applying it would make.

        ``_verified`` remembers, per object, the body (by ``digest``) and the live version
        that were last found to agree: when neither moved, the object is in sync without any
        request, which is what makes an idle cycle cheap.
        """
        version = _version(live, body)
        if live is not None and self._verified.get(path) == (digest, version):
            self._accepted[_identity(manifest)] = manifest.digest
            report.unchanged += 1
            return
        name = _name(manifest)
        recreate = False
        try:
            if live is not None:
                preview = await self.applier.apply(manifest, body, dry_run=True)
                if comparable(preview) == comparable(live):
                    self._verified[path] = (digest, version)
                    self._accepted[_identity(manifest)] = manifest.digest
                    report.unchanged += 1
                    return
            if not fresh:  # the revision was applied before: the cluster moved, not git
                report.drifted.append(name)
                if self.settings.drift == "detect":
                    return
            result = await self.applier.apply(manifest, body, dry_run=False)
        except ApiError as exc:
            fields = options.immutable_fields(exc)
            if fields is None or live is None or not options.force(manifest):
                raise
            result = await self._recreate(manifest, body, path=path, live=live, fields=fields)
            recreate = True
        self._verified[path] = (digest, _version(result, body))
        self._accepted[_identity(manifest)] = manifest.digest
        if recreate:
            report.recreated.append(name)
            GITOPS_OBJECTS.labels("recreated").inc()
        elif not fresh:
            report.corrected.append(name)
            GITOPS_OBJECTS.labels("corrected").inc()
        elif live is None:
            report.created.append(name)
            GITOPS_OBJECTS.labels("created").inc()
        else:
            report.changed.append(name)
            GITOPS_OBJECTS.labels("changed").inc()

    async def _recreate(
        self,
        manifest: Manifest,
        body: JSONDict,
        *,
        path: str,
        live: JSONDict,
        fields: list[str],
        within: float = 60.0,
    ) -> JSONDict:
        """Delete the object that was checked (by UID) and create it as git has it: the way
        out of an immutable-field change the object asked for."""
        uid = (live.get("metadata") or {}).get("uid")
        log.warning(
            "recreating: an immutable field changed and the object allows it",
            object=_name(manifest),
            fields=fields,
        )
        try:
            await self.rest.request(
                "DELETE",
                path,
                body={"propagationPolicy": "Background", "preconditions": {"uid": uid}},
            )
        except ApiError as exc:
            if not exc.not_found:
                raise
        deadline = time.monotonic() + within
        while (found := await self.rest.get_or_none(path)) is not None:
            if (found.get("metadata") or {}).get("uid") != uid:
                break
            if time.monotonic() > deadline:
                raise ApiError(504, "Timeout", f"{_name(manifest)} not deleted in {within}s")
            await asyncio.sleep(0.2)
        return await self.applier.apply(manifest, body, dry_run=False)

    async def _prune(
        self, plan: pruning.Plan, entries: dict[ObjectKey, Entry], report: Report
    ) -> None:
        for entry in plan.gone:  # already absent: only the inventory still named it
            entries.pop(entry.key, None)
        for deletion in plan.deletions:
            refused = await pruning.delete(self.rest, deletion, owner=self.owner)
            if refused is not None:
                report.not_pruned.append(f"{deletion.entry.key}: {refused}")
                continue
            entries.pop(deletion.entry.key, None)
            report.pruned.append(str(deletion.entry.key))
            GITOPS_OBJECTS.labels("pruned").inc()
        report.not_pruned += [f"{entry.key}: {reason}" for entry, reason in plan.kept]
        if report.not_pruned:
            log.info("not pruned", objects=report.not_pruned[:LOG_NAMES])

    # --- reporting ---

    def _lists(self) -> tuple[list[str], ...]:
        """What an idle cycle can change in the state besides the times."""
        state = self.state
        return (state.not_pruned, state.pending, state.warnings, [str(e) for e in state.inventory])

    async def _save(self) -> None:
        self._state_object = await states.save(self.rest, self.settings.state_namespace, self.state)
        self._saved = self._lists()

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
        if self.settings.prune:
            self.state.not_pruned = report.not_pruned
        if fresh:
            self.state.history = (self._ancestry or ("", ""))[1]
            if self.state.last_applied is not None:
                GITOPS_LAST_APPLIED.remove(self.state.last_applied.sha)
            self.state.last_applied = commit
            GITOPS_LAST_APPLIED.labels(commit.sha).set(time.time())
        fields = report.fields(commit, seconds=seconds)
        changed = self._saved != self._lists()
        if fresh or report.writes or report.drifted or self._state_object is None or changed:
            await self._save()
        if fresh or report.writes:
            log_synced(fields)
            await self._event(warning=False, reason="Synced", message=report.summary(commit))
        elif report.drifted:
            log.warning("drift detected (not corrected: --drift detect)", **fields)
            await self._event(
                warning=True, reason="DriftDetected", message="; ".join(report.drifted[:20])
            )
        else:
            log.debug("in sync", **fields)
