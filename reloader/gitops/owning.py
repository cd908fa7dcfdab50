"""Ownership marks: what the loop writes on every object it applies, and reads before a DELETE.

The inventory says what the loop applied, but it lives in a ConfigMap that others may be
able to patch. So deletion also needs proof on the live object itself: the owner label,
with this loop's value, which only the loop's applies put there. An object that existed
before git declared it is taken over ("adopted") and carries a second mark; git dropping
it later does not delete it unless it opts in, because nobody asked the loop to create it.
"""

from __future__ import annotations

from reloader.core import names
from reloader.kube.rest import JSONDict

OPT_OUT = (names.PRUNE, names.FLUX_PRUNE)


def mark(body: JSONDict, *, owner: str, adopted: bool) -> JSONDict:
    """``body`` with the owner label (and the adopted mark); the original is not changed."""
    meta = dict(body.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), names.GITOPS_OWNER: owner}
    if adopted:
        meta["annotations"] = {**(meta.get("annotations") or {}), names.GITOPS_ADOPTED: "true"}
    return {**body, "metadata": meta}


def _meta(live: JSONDict, field: str) -> dict[str, str]:
    value = (live.get("metadata") or {}).get(field)
    return value if isinstance(value, dict) else {}


def applied_by(live: JSONDict, owner: str) -> bool:
    """Whether this loop created ``live`` (it carries our label and was not adopted)."""
    labels, annotations = _meta(live, "labels"), _meta(live, "annotations")
    return labels.get(names.GITOPS_OWNER) == owner and names.GITOPS_ADOPTED not in annotations


def refusal(live: JSONDict, *, owner: str, adopted: bool) -> str | None:
    """Why the loop must not delete ``live`` (None when it may)."""
    labels, annotations = _meta(live, "labels"), _meta(live, "annotations")
    found = labels.get(names.GITOPS_OWNER)
    if found != owner:
        mark_ = "no owner label" if found is None else f"owner label {found!r}"
        return f"it has {mark_} ({names.GITOPS_OWNER}={owner} proves the loop applied it)"
    argo = {o.strip() for o in str(annotations.get(names.ARGO_SYNC_OPTIONS, "")).split(",")}
    if any(annotations.get(key) == "disabled" for key in OPT_OUT) or "Prune=false" in argo:
        return f"it opts out ({names.PRUNE}: disabled)"
    if (adopted or names.GITOPS_ADOPTED in annotations) and annotations.get(
        names.PRUNE
    ) != "enabled":
        return (
            "it existed before git declared it (adopted); annotate it "
            f'{names.PRUNE}: "enabled" to let the loop delete it'
        )
    return None
