"""Validate a revision: offline (syntax, structure, duplicates) and with a server dry-run.

One function serves both ``reloader validate`` (a pull request's CI) and the sync loop, so
what CI accepts is exactly what the loop will accept. All problems are collected, never just
the first: a reviewer fixes them in one round.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reloader.core import names
from reloader.core.manifests import Manifest, Problem
from reloader.core.ordering import staged
from reloader.gitops import options
from reloader.gitops.applying import Applier, UnknownKind, crd_for
from reloader.kube.rest import ApiError

_MISSING_NAMESPACE = re.compile(r'namespaces "([^"]+)" not found')


@dataclass
class DryRun:
    problems: list[Problem] = field(default_factory=list)
    deferred: list[Manifest] = field(default_factory=list)
    """Objects that cannot be dry-run before the revision's own Namespace or CRD exists (or
    is updated: a custom resource may use what its CRD's new version adds)."""
    pending: list[Manifest] = field(default_factory=list)
    """Custom resources whose CRD is nowhere yet, that asked to wait for it."""


def missing_kind(manifest: Manifest) -> str:
    return (
        f"the API server serves no kind {manifest.kind} in {manifest.api_version}, and no "
        "CustomResourceDefinition in this revision does: fix the apiVersion, add the CRD to "
        "the revision or install it first, or annotate the object "
        f'{names.SKIP_DRY_RUN_ON_MISSING}: "true" to let it wait for its CRD'
    )


async def server_dry_run(
    applier: Applier,
    manifests: Sequence[Manifest],
    *,
    concurrency: int = 32,
    accepted: Callable[[Manifest], bool] = lambda _: False,
) -> DryRun:
    """Dry-run every object, a few at a time (dry runs persist nothing, so no stage order).

    An object in a namespace that the revision itself creates, or of a kind whose CRD it
    brings, cannot be dry-run before that exists: it is deferred, and once the server has
    said a namespace is missing, the rest of its objects are not sent (each such answer costs
    the server a live lookup). ``accepted`` names objects the server took exactly as written
    before.
    """
    declared = {m.name for m in manifests if m.kind == "Namespace" and m.group == ""}
    absent: set[str] = set()
    result = DryRun()
    gate = asyncio.Semaphore(concurrency)

    async def check(manifest: Manifest) -> None:
        if accepted(manifest):
            return
        async with gate:
            if (manifest.namespace or applier.default_namespace) in absent:
                result.deferred.append(manifest)
                return
            try:
                await applier.apply(manifest, manifest.obj, dry_run=True)
            except UnknownKind:
                if crd_for(manifests, manifest) is not None:
                    result.deferred.append(manifest)
                elif options.may_wait_for_crd(manifest):
                    result.pending.append(manifest)
                else:
                    result.problems.append(
                        Problem(manifest.path, manifest.line, missing_kind(manifest))
                    )
            except ApiError as exc:
                missing = _MISSING_NAMESPACE.search(exc.message)
                immutable = options.immutable_fields(exc)
                if exc.not_found and missing and missing.group(1) in declared:
                    absent.add(missing.group(1))
                    result.deferred.append(manifest)
                elif immutable is not None and options.force(manifest):
                    pass  # applied by deleting and creating it again
                elif immutable is not None:
                    message = options.immutable_message(manifest, immutable)
                    result.problems.append(Problem(manifest.path, manifest.line, message))
                elif exc.status not in (401, 403) and crd_for(manifests, manifest) is not None:
                    # Perhaps valid under the schema this revision brings: checked again
                    # once its CRD is applied (SSA answers 500 for a field not declared).
                    result.deferred.append(manifest)
                else:
                    result.problems.append(
                        Problem(manifest.path, manifest.line, f"server dry-run: {exc.message}")
                    )

    await asyncio.gather(*(check(m) for stage in staged(manifests) for m in stage))
    result.problems.sort()
    return result
