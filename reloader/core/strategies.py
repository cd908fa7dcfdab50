"""How each kind of workload is reloaded, chosen from the workload alone.

Most kinds roll when their pod-template hash changes, so one merge patch is the whole reload.
Two kinds cannot work that way. A Job's pod template is immutable: it is deleted and created
again carrying the new hash. An Argo Rollout may ask (``rollout-strategy: restart``) to have
its pods restarted in place rather than go through its canary or blue-green steps; and a
Rollout that takes its template from another workload (``spec.workloadRef``) has no template
to write, so it is always restarted. Either way the decision stays level-triggered: a
restarted Rollout keeps the hash it runs with in its record, and that record is what
``deciding.decide`` compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from reloader.core import names


class Strategy(StrEnum):
    PATCH = "patch"
    """Write the pod-template hash: the workload's own controller rolls it."""
    RECREATE = "recreate"
    """A Job: delete it and create it again with the new hash (its template is immutable)."""
    RESTART = "restart"
    """An Argo Rollout: set ``spec.restartAt``; its pods restart, no new revision."""
    OWNED = "owned"
    """A Job another controller (a CronJob) runs: reloading its owner is what counts."""


ROLLOUT = "rollout"
RESTART = "restart"


def _annotations(node: Mapping[str, Any] | None) -> Mapping[str, str]:
    meta = (node or {}).get("metadata") or {}
    found: Mapping[str, str] = meta.get("annotations") or {}
    return found


def _controlled(obj: Mapping[str, Any]) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return any(isinstance(r, dict) and r.get("controller") is True for r in refs)


def strategy_of(obj: Mapping[str, Any]) -> tuple[Strategy, str | None]:
    """The strategy for workload ``obj``, and a problem to report when an annotation is bad.

    ``rollout-strategy`` is read from the Rollout, then from its pod template (as Stakater
    Reloader reads its annotations); an unknown value is reported and ignored (``rollout``,
    Stakater's default, applies).
    """
    kind = obj.get("kind")
    if kind == "Job":
        return (Strategy.OWNED if _controlled(obj) else Strategy.RECREATE), None
    if kind != "Rollout":
        return Strategy.PATCH, None
    spec = obj.get("spec") or {}
    raw = _annotations(obj).get(names.ROLLOUT_STRATEGY)
    if raw is None:
        raw = _annotations(spec.get("template")).get(names.ROLLOUT_STRATEGY)
    problem = None
    if raw not in (None, ROLLOUT, RESTART):
        problem = (
            f"annotation {names.ROLLOUT_STRATEGY}: want {ROLLOUT!r} or {RESTART!r}, "
            f"got {raw!r}, which is ignored"
        )
    if spec.get("workloadRef"):
        return Strategy.RESTART, problem  # no template of its own to write a hash into
    return (Strategy.RESTART if raw == RESTART else Strategy.PATCH), problem
