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
    concurrency: int = 32,
    accepted: Callable[[Manifest], bool] = lambda _: False,
) -> list[Problem]:
    """Dry-run every object, a few at a time (dry runs persist nothing, so no stage order).

    An object in a namespace that the revision itself creates cannot be dry-run before that
    namespace exists: it is let through, and once the server has said the namespace is
    missing, the rest of its objects are not sent (each such answer costs the server a
    live lookup). ``accepted`` names objects the server took exactly as written before.
    """
    declared = {m.name for m in manifests if m.kind == "Namespace" and m.group == ""}
    absent: set[str] = set()
    problems: list[Problem] = []
    gate = asyncio.Semaphore(concurrency)

    async def check(manifest: Manifest) -> None:
        if accepted(manifest):
            return
        async with gate:
            if (manifest.namespace or applier.default_namespace) in absent:
                return
            try:
                await applier.apply(manifest, manifest.obj, dry_run=True)
            except UnknownKind as exc:
                if not _crd_in(manifests, manifest):
                    problems.append(Problem(manifest.path, manifest.line, str(exc)))
            except ApiError as exc:
                missing = _MISSING_NAMESPACE.search(exc.message)
                if exc.not_found and missing and missing.group(1) in declared:
                    absent.add(missing.group(1))
                else:
                    problems.append(
                        Problem(manifest.path, manifest.line, f"server dry-run: {exc.message}")
                    )

    await asyncio.gather(*(check(m) for stage in staged(manifests) for m in stage))
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
