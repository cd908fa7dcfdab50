"""Prometheus metrics of the process. Module-level global state, on purpose and only here.

prometheus-client keeps a process-wide registry; defining every metric in one module keeps
their names, labels and help texts reviewable together, and lets any layer record without
importing the HTTP server that exposes them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
