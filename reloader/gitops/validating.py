"""Validate a revision: offline (syntax, structure, duplicates) and with a server dry-run.

One function serves both ``reloader validate`` (a pull request's CI) and the sync loop, so
what CI accepts is exactly what the loop will accept. All problems are collected, never just
the first: a reviewer fixes them in one round.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence

from reloader.core.manifests import Manifest, Problem
from reloader.core.ordering import staged
from reloader.gitops.applying import Applier, UnknownKind
from reloader.kube.rest import ApiError

_MISSING_NAMESPACE = re.compile(r'namespaces "([^"]+)" not found')


async def server_dry_run(
    applier: Applier,
    manifests: Sequence[Manifest],
    *,
    concurrency: int = 8,
    accepted: Callable[[Manifest], bool] = lambda _: False,
) -> list[Problem]:
    """Dry-run every object, stage by stage, a few at a time. An object in a namespace that
    the revision itself creates cannot be dry-run before that namespace exists: let through.
    ``accepted`` names objects the server took exactly as written before (not asked again)."""
    declared = {m.name for m in manifests if m.kind == "Namespace" and m.group == ""}
    problems: list[Problem] = []
    gate = asyncio.Semaphore(concurrency)

    async def check(manifest: Manifest) -> None:
        if accepted(manifest):
            return
        async with gate:
            try:
                await applier.apply(manifest, manifest.obj, dry_run=True)
            except UnknownKind as exc:
                if not _crd_in(manifests, manifest):
                    problems.append(Problem(manifest.path, manifest.line, str(exc)))
            except ApiError as exc:
                missing = _MISSING_NAMESPACE.search(exc.message)
                if not (exc.not_found and missing and missing.group(1) in declared):
                    problems.append(
                        Problem(manifest.path, manifest.line, f"server dry-run: {exc.message}")
                    )

    for stage in staged(manifests):
        await asyncio.gather(*(check(m) for m in stage))
    return sorted(problems)


def _crd_in(manifests: Sequence[Manifest], manifest: Manifest) -> bool:
    """Whether the revision defines the CRD that serves ``manifest``'s kind."""
    for crd in manifests:
        if crd.kind != "CustomResourceDefinition":
            continue
        spec = crd.obj.get("spec") or {}
        if (
            spec.get("group") == manifest.group
            and (spec.get("names") or {}).get("kind") == manifest.kind
        ):
            return True
    return False
