"""Per-object sync options, read from the object as written in git.

They follow the names Flux and Argo CD users already write, beside our own, so a repository
moved over keeps its meaning: ``kustomize.toolkit.fluxcd.io/force: enabled`` and
``argocd.argoproj.io/sync-options: SkipDryRunOnMissingResource=true`` work unchanged.
"""

from __future__ import annotations

from reloader.core import names
from reloader.core.manifests import Manifest
from reloader.kube.rest import ApiError

_IMMUTABLE = ("field is immutable", "may not change once set", "is immutable", "are forbidden")


def _annotations(manifest: Manifest) -> dict[str, object]:
    annotations = (manifest.obj.get("metadata") or {}).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _sync_options(manifest: Manifest) -> set[str]:
    value = _annotations(manifest).get(names.ARGO_SYNC_OPTIONS)
    return {o.strip() for o in value.split(",")} if isinstance(value, str) else set()


def force(manifest: Manifest) -> bool:
    """Whether an immutable-field change may be applied by deleting and creating the object."""
    annotations = _annotations(manifest)
    return (
        annotations.get(names.FORCE) == "true"
        or annotations.get(names.FLUX_FORCE) == "enabled"
        or bool({"Replace=true", "Force=true"} & _sync_options(manifest))
    )


def may_wait_for_crd(manifest: Manifest) -> bool:
    """Whether a custom resource whose CRD is not served yet waits instead of refusing."""
    return _annotations(manifest).get(
        names.SKIP_DRY_RUN_ON_MISSING
    ) == "true" or "SkipDryRunOnMissingResource=true" in _sync_options(manifest)


def immutable_fields(exc: ApiError) -> list[str] | None:
    """The fields an update may not change, if that is why the server refused it."""
    if exc.status != 422:
        return None
    causes = [c for c in exc.causes if any(p in str(c.get("message")) for p in _IMMUTABLE)]
    if causes:
        return sorted({str(c.get("field") or "?") for c in causes})
    if any(p in exc.message for p in _IMMUTABLE):
        return ["?"]
    return None


def immutable_message(manifest: Manifest, fields: list[str]) -> str:
    what = ", ".join(f for f in fields if f != "?") or "a field"
    return (
        f"{what} of {manifest.kind} {manifest.name!r} cannot be changed in place (immutable); "
        f'annotate it in git with {names.FORCE}: "true" to let the loop delete and create it '
        "again, or delete it by hand"
    )
