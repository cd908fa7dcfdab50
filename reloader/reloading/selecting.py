"""Which namespaces reloader acts in, when ``--namespace-selector`` decides it.

A selector used to start six watches per selected namespace: 500 namespaces were 3,000
watches, each an open connection and an API server watcher. Instead the resources are watched
once, cluster-wide (or once per ``--namespace``), and indexed whatever their namespace;
this one watch of Namespaces, filtered by the selector on the server, only says where to act.
A namespace that becomes selected is reconciled at once from the index (no list, no new
watch); one that stops being selected is no longer reconciled, and its objects stay indexed
(a digest each), so selecting it again costs nothing either.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from reloader.kube.rest import JSONDict
from reloader.kube.watching import ObjectKey
from reloader.telemetry.logging import get_logger

log = get_logger("selecting")


class Selection:
    """The selected namespaces, kept by the Namespace watch (a ``Sink``).

    ``allowed`` narrows it further (``--namespace``: act where both pick). ``on_selected``
    runs for each namespace selected after the first list, and once with all of them when
    that list is in (one pass over the index instead of one per namespace).
    """

    def __init__(
        self,
        *,
        allowed: Collection[str] = (),
        on_selected: Callable[[set[str]], None],
    ) -> None:
        self.allowed = frozenset(allowed)
        self.on_selected = on_selected
        self.names: set[str] = set()
        self.listed = False

    def __contains__(self, namespace: object) -> bool:
        return namespace in self.names

    def synced_first(self) -> None:
        """The first list is in: what it selected can be acted on."""
        self.listed = True
        self.on_selected(set(self.names))

    def _select(self, name: str) -> None:
        if name in self.names or (self.allowed and name not in self.allowed):
            return
        self.names.add(name)
        log.info("watching", namespace=name, via="namespace selector")
        if self.listed:
            self.on_selected({name})

    def _deselect(self, name: str) -> None:
        if name in self.names:
            self.names.discard(name)
            log.info("stopped watching", namespace=name, via="namespace selector")

    def upsert(self, obj: JSONDict) -> None:
        name = obj["metadata"]["name"]
        if obj["metadata"].get("deletionTimestamp") is None:
            self._select(name)
        else:
            self._deselect(name)  # terminating: rolling anything in it now is pointless

    def delete(self, obj: JSONDict) -> None:
        # A label removed reaches a selector watch as a DELETED event too.
        self._deselect(obj["metadata"]["name"])

    def synced(self, present: set[ObjectKey]) -> None:
        for name in self.names - {name for _, name in present}:
            self._deselect(name)
