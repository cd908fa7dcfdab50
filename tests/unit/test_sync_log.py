"""The "synced" log line stays short for a large revision, and the audit trail stays whole."""

from __future__ import annotations

from structlog.testing import capture_logs

from reloader.gitops.reporting import LOG_NAMES, log_synced


def _fields(created: int, changed: int) -> dict[str, object]:
    return {
        "revision": "0123456789ab",
        "created": [f"ConfigMap/ns/c-{i}" for i in range(created)],
        "changed": [f"Deployment/ns/d-{i}" for i in range(changed)],
        "pruned": [],
        "unchanged": 3,
    }


def test_a_small_sync_is_one_line_with_every_name() -> None:
    with capture_logs() as logs:
        log_synced(_fields(2, 1))
    assert [line["event"] for line in logs] == ["synced"]
    assert logs[0]["created"] == ["ConfigMap/ns/c-0", "ConfigMap/ns/c-1"]
    assert logs[0]["counts"] == {"created": 2, "changed": 1, "pruned": 0}


def test_a_large_sync_lists_its_objects_on_lines_of_bounded_size() -> None:
    created, changed = 2 * LOG_NAMES + 5, 7
    with capture_logs() as logs:
        log_synced(_fields(created, changed))
    summary, *parts = logs
    assert summary["event"] == "synced"
    assert "created" not in summary
    assert summary["counts"] == {"created": created, "changed": changed, "pruned": 0}
    assert summary["unchanged"] == 3
    assert all(part["event"] == "synced objects" for part in parts)
    assert all(len(part["objects"]) <= LOG_NAMES for part in parts)
    listed = [name for part in parts if part["action"] == "created" for name in part["objects"]]
    assert listed == _fields(created, changed)["created"]
    assert [len(p["objects"]) for p in parts if p["action"] == "changed"] == [changed]
