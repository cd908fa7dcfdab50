"""Prometheus metrics of the process. Module-level global state, on purpose and only here.

prometheus-client keeps a process-wide registry; defining every metric in one module keeps
their names, labels and help texts reviewable together, and lets any layer record without
importing the HTTP server that exposes them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

RELOADS = Counter(
    "reloader_reloads_total",
    "Workload reload decisions that wrote to the API server, by workload kind and result.",
    ["kind", "result"],
)
REACTION = Histogram(
    "reloader_reaction_seconds",
    "Time from seeing a ConfigMap/Secret change to the workload's template patched.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WATCH_RESTARTS = Counter(
    "reloader_watch_restarts_total",
    "Lists and watches restarted before a watch's timeout, by resource and reason: expired "
    "(410 Gone, relist), closed (the server ended the watch early), error (request failed). "
    "Restarts without a healthy watch between back off up to 30 s.",
    ["resource", "reason"],
)
OBJECTS_TRACKED = Gauge(
    "reloader_objects_tracked",
    "Objects whose digest or reference set is held in memory, by kind.",
    ["kind"],
)
INVALID_ANNOTATIONS = Counter(
    "reloader_invalid_annotations_total",
    "Malformed reloader annotations found on workloads.",
)

GITOPS_SYNCS = Counter(
    "reloader_gitops_syncs_total",
    "GitOps sync cycles by result (applied, unchanged, failed).",
    ["result"],
)
GITOPS_SYNC_SECONDS = Histogram(
    "reloader_gitops_sync_duration_seconds",
    "Duration of GitOps sync cycles.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
GITOPS_OBJECTS = Counter(
    "reloader_gitops_objects_total",
    "Objects the GitOps loop wrote, by action (created, changed, pruned, corrected).",
    ["action"],
)
GITOPS_DRIFT = Gauge(
    "reloader_gitops_drifted_objects",
    "Objects found different from git at the last check (corrected unless --drift detect).",
)
GITOPS_LAST_APPLIED = Gauge(
    "reloader_gitops_last_applied_timestamp_seconds",
    "When the last revision was applied; its sha is the label.",
    ["revision"],
)
GITOPS_LAST_CYCLE = Gauge(
    "reloader_gitops_last_cycle_timestamp_seconds",
    "When the last GitOps sync cycle ended, whatever its result: alert when it is older than a "
    "few intervals (a stalled loop).",
)
GITOPS_ERRORS = Gauge(
    "reloader_gitops_revision_errors",
    "Problems (path:line) found in the last attempted revision; 0 when it was valid.",
)
GITOPS_SUSPENDED = Gauge(
    "reloader_gitops_suspended",
    "1 while the GitOps loop is suspended (`reloader suspend`): git is still polled, nothing is "
    "applied, pruned or corrected.",
)
GITOPS_REVISION_HEALTHY = Gauge(
    "reloader_gitops_revision_healthy",
    "1 when what the last applied revision declares became healthy within --health-timeout, 0 "
    "when something did not (reloader status names it).",
)
GITOPS_RENDERS = Counter(
    "reloader_gitops_renders_total",
    "Revisions rendered (kustomize build, or files read), and renders reused for a new commit "
    "whose tree, tools and decryption key were unchanged (an empty commit), by result.",
    ["result"],
)

# --- Stakater Reloader's names, so its dashboards and alerts keep working unchanged ---
RELOAD_EXECUTED = Counter(
    "reloader_reload_executed_total",
    "Reloads attempted (a rollout, or a call of --webhook-url), by success (Stakater "
    "Reloader's metric).",
    ["success"],
)
for _success in ("true", "false"):
    RELOAD_EXECUTED.labels(_success)  # both series exist from the start, as in Stakater


class _ReloadsByNamespace(Collector):
    """``reloader_reload_executed_total_by_namespace``, exported under Stakater's exact name.

    prometheus-client appends ``_total`` to a counter whose name does not end in it (this one
    ends in ``_by_namespace``), so the samples are exported as an untyped family of that exact
    name; ``rate()`` and ``increase()`` work on it as on a counter. Empty unless enabled
    (``--metrics-count-by-namespace``): one series per namespace can be many.
    """

    NAME = "reloader_reload_executed_total_by_namespace"

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def inc(self, *, success: bool, namespace: str) -> None:
        key = ("true" if success else "false", namespace)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0.0) + 1

    def collect(self) -> Iterator[Metric]:
        family = Metric(
            self.NAME,
            "Reloads attempted, by success and namespace (Stakater Reloader's metric; only "
            "with --metrics-count-by-namespace).",
            "unknown",
        )
        with self._lock:
            counts = sorted(self._counts.items())
        for (success, namespace), value in counts:
            family.add_sample(self.NAME, {"success": success, "namespace": namespace}, value)
        yield family


RELOAD_EXECUTED_BY_NAMESPACE = _ReloadsByNamespace()
REGISTRY.register(RELOAD_EXECUTED_BY_NAMESPACE)

ALERTS_SENT = Counter(
    "reloader_alerts_sent_total",
    "Alerts on reload that the sink accepted (2xx), by sink.",
    ["sink"],
)
ALERTS_FAILED = Counter(
    "reloader_alerts_failed_total",
    "Alerts on reload given up after their last attempt (network errors, 5xx, 429 until the "
    "attempts ran out, or another refusal), by sink.",
    ["sink"],
)
ALERTS_DROPPED = Counter(
    "reloader_alerts_dropped_total",
    "Alerts on reload dropped unsent because the queue was full (the oldest goes first), or "
    "still queued at shutdown, by sink.",
    ["sink"],
)
