"""What a reload looks like to a chat service or a webhook receiver: pure formatting.

Each sink gets the body its service accepts: Slack and Google Chat a ``text``, Microsoft
Teams a MessageCard (a superset of the ``{"text": ...}`` Stakater Reloader posts, which
Teams' incoming webhooks accept), and ``raw`` a JSON object a program can read. Only names and
keyed hashes enter a message, never a ConfigMap's or Secret's values: the controller does not
even hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

JSON = dict[str, Any]


class Sink(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    GCHAT = "gchat"
    RAW = "raw"


def parse_sink(text: str) -> Sink:
    """Stakater Reloader's ``ALERT_SINK``, trimmed and case-blind; empty (its default) and its
    documented ``webhook`` mean ``raw``. Anything else is refused rather than guessed."""
    value = text.strip().lower()
    if value in ("", "webhook"):
        return Sink.RAW
    try:
        return Sink(value)
    except ValueError:
        choices = ", ".join(s.value for s in Sink)
        raise ValueError(f"unknown alert sink {text!r}: use one of {choices}") from None


@dataclass(frozen=True)
class Reload:
    """One reload, as far as anyone outside the cluster is told."""

    kind: str
    namespace: str
    name: str
    changed: tuple[str, ...]
    """``Kind/name`` of each ConfigMap or Secret whose content changed."""
    old_hash: str | None
    new_hash: str
    at: float
    """Unix time of the reload."""

    @property
    def workload(self) -> str:
        return f"{self.kind}/{self.name}"


def _time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def text(reload: Reload, *, additional_info: str = "", bold: str = "*") -> str:
    """One line for people; ``bold`` is the sink's strong-emphasis mark ("" for none)."""

    def b(value: str) -> str:
        return f"{bold}{value}{bold}"

    changed = ", ".join(b(c) for c in reload.changed) or "its configuration"
    line = (
        f"reloader rolled {b(reload.workload)} in namespace {b(reload.namespace)} for changed "
        f"{changed} (config hash {reload.old_hash or 'none'} -> {reload.new_hash})"
    )
    info = additional_info.strip()
    return f"{info} : {line}" if info else line  # Stakater Reloader's "info : message"


def description(reload: Reload) -> JSON:
    """The change as data: the ``raw`` alert's fields and the ``--webhook-url`` body."""
    return {
        "kind": reload.kind,
        "namespace": reload.namespace,
        "name": reload.name,
        "changed": list(reload.changed),
        "oldHash": reload.old_hash,
        "newHash": reload.new_hash,
        "time": _time(reload.at),
    }


def payload(sink: Sink, reload: Reload, *, additional_info: str = "") -> JSON:
    """The JSON body to POST to ``sink``'s webhook for ``reload``."""
    if sink is Sink.RAW:
        return {
            **description(reload),
            "text": text(reload, additional_info=additional_info, bold=""),
            "additionalInfo": additional_info.strip() or None,
        }
    if sink is Sink.TEAMS:
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": f"reloader rolled {reload.workload} in {reload.namespace}",
            "themeColor": "2EB886",
            "text": text(reload, additional_info=additional_info, bold="**"),
        }
    return {"text": text(reload, additional_info=additional_info)}  # Slack, Google Chat


def webhook_body(reload: Reload) -> JSON:
    """What ``--webhook-url`` receives instead of a rollout. ``webhook`` is the one field
    Stakater Reloader sends, kept so that receivers written for it still match."""
    return {"webhook": "update successful", **description(reload)}
