"""What happens after each reload attempt besides the Event and the log line: Stakater
Reloader's counters, and an alert for a rollout.

One object so that the reconciler makes one call per outcome; everything here returns at once
(alerts are queued, ``alerting.sending``), so a reload never waits for anyone outside.
"""

from __future__ import annotations

from reloader.alerting.messages import Reload
from reloader.alerting.sending import AlertSender
from reloader.telemetry.metrics import RELOAD_EXECUTED, RELOAD_EXECUTED_BY_NAMESPACE


class Announcer:
    def __init__(self, *, alerts: AlertSender | None = None, by_namespace: bool = False) -> None:
        self.alerts, self.by_namespace = alerts, by_namespace

    def reloaded(self, reload: Reload, *, rolled: bool) -> None:
        """A reload took effect: the workload rolled, or ``--webhook-url`` accepted the call
        (then no alert: nothing rolled, and the URL's owner knows already)."""
        self._count(success=True, namespace=reload.namespace)
        if rolled and self.alerts is not None:
            self.alerts.submit(reload)

    def failed(self, namespace: str) -> None:
        self._count(success=False, namespace=namespace)

    def _count(self, *, success: bool, namespace: str) -> None:
        RELOAD_EXECUTED.labels("true" if success else "false").inc()
        if self.by_namespace:
            RELOAD_EXECUTED_BY_NAMESPACE.inc(success=success, namespace=namespace)
