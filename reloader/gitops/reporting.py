"""What a sync did, told where people look: one log line (or a few) and one Event.

The log is the audit trail, so every object written is named; a line must stay short enough
for log pipelines (container runtimes split lines at 16 KiB), so past ``LOG_NAMES`` objects
the names follow on lines of their own. The Event is for ``kubectl get events``: counts first,
then the names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reloader.gitops.state import Revision
from reloader.telemetry.logging import get_logger

log = get_logger("gitops")
LOG_NAMES = 100


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    not_pruned: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def writes(self) -> int:
        done = (self.created, self.changed, self.corrected, self.pruned, self.recreated)
        return sum(len(names) for names in done)

    def fields(self, commit: Revision, *, seconds: float) -> dict[str, object]:
        return {
            "revision": commit.sha[:12],
            "author": commit.author,
            "subject": commit.subject,
            "created": self.created,
            "changed": self.changed,
            "pruned": self.pruned,
            "corrected": self.corrected,
            "recreated": self.recreated,
            "drifted": self.drifted,
            "unchanged": self.unchanged,
            "seconds": round(seconds, 3),
        }

    def summary(self, commit: Revision) -> str:
        """The Synced Event's message: counts, then the objects by action."""
        counts = (
            f"revision {commit.sha[:12]} ({commit.subject!r} by {commit.author}): "
            f"{len(self.created)} created, {len(self.changed)} changed, "
            f"{len(self.pruned)} pruned, {len(self.corrected)} corrected"
            + (f", {len(self.recreated)} recreated" if self.recreated else "")
        )
        details = "; ".join(
            f"{action}: {', '.join(names)}"
            for action, names in (
                ("created", self.created),
                ("changed", self.changed),
                ("pruned", self.pruned),
                ("corrected", self.corrected),
                ("recreated (an immutable field changed)", self.recreated),
            )
            if names
        )
        return f"{counts}. {details}"


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
