"""Logs and metrics: the process-wide observability state, configured once at start."""
