"""Ownership marks: only an object carrying this loop's label, not adopted, may be pruned."""

from __future__ import annotations

from typing import Any

from reloader.core import names
from reloader.gitops.owning import applied_by, mark, refusal


def obj(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Any:
    return {"metadata": {"name": "a", "labels": labels or {}, "annotations": annotations or {}}}


def test_mark_adds_the_label_without_changing_the_original() -> None:
    body = obj({"app": "web"})
    marked = mark(body, owner="gitops", adopted=False)
    assert marked["metadata"]["labels"] == {"app": "web", names.GITOPS_OWNER: "gitops"}
    assert names.GITOPS_OWNER not in body["metadata"]["labels"]
    assert names.GITOPS_ADOPTED not in marked["metadata"]["annotations"]
    adopted = mark(body, owner="gitops", adopted=True)
    assert adopted["metadata"]["annotations"][names.GITOPS_ADOPTED] == "true"


def test_an_object_without_our_label_is_never_deleted() -> None:
    reason = refusal(obj(), owner="gitops", adopted=False)
    assert reason is not None
    assert "no owner label" in reason
    other = refusal(obj({names.GITOPS_OWNER: "other"}), owner="gitops", adopted=False)
    assert other is not None
    assert "'other'" in other


def test_our_object_may_be_deleted_unless_it_opts_out() -> None:
    ours = {names.GITOPS_OWNER: "gitops"}
    assert refusal(obj(ours), owner="gitops", adopted=False) is None
    for key in (names.PRUNE, names.FLUX_PRUNE):
        assert refusal(obj(ours, {key: "disabled"}), owner="gitops", adopted=False) is not None
    argo = {names.ARGO_SYNC_OPTIONS: "Validate=false, Prune=false"}
    assert refusal(obj(ours, argo), owner="gitops", adopted=False) is not None


def test_an_adopted_object_needs_an_opt_in() -> None:
    ours = {names.GITOPS_OWNER: "gitops"}
    marked = {names.GITOPS_ADOPTED: "true"}
    for live, adopted in ((obj(ours), True), (obj(ours, marked), False)):
        reason = refusal(live, owner="gitops", adopted=adopted)
        assert reason is not None
        assert "adopted" in reason
    opted = obj(ours, {**marked, names.PRUNE: "enabled"})
    assert refusal(opted, owner="gitops", adopted=True) is None


def test_applied_by_tells_created_from_adopted() -> None:
    ours = {names.GITOPS_OWNER: "gitops"}
    assert applied_by(obj(ours), "gitops")
    assert not applied_by(obj(ours, {names.GITOPS_ADOPTED: "true"}), "gitops")
    assert not applied_by(obj(), "gitops")
