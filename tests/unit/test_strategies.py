"""How each workload is reloaded: patch, recreate (Jobs) or restart (Argo Rollouts)."""

from __future__ import annotations

from typing import Any

import pytest

from reloader.core import names
from reloader.core.strategies import Strategy, strategy_of
from reloader.kube.patching import build_patch
from reloader.kube.writing import restart_time
from reloader.reloading.index import Index


def rollout(
    annotations: dict[str, str] | None = None,
    *,
    template_annotations: dict[str, str] | None = None,
    workload_ref: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if workload_ref:
        spec["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    else:
        spec["template"] = {"metadata": {"annotations": template_annotations or {}}}
    return {"kind": "Rollout", "metadata": {"annotations": annotations or {}}, "spec": spec}


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "CronJob"])
def test_template_kinds_are_patched(kind: str) -> None:
    assert strategy_of({"kind": kind, "metadata": {}}) == (Strategy.PATCH, None)


def test_a_job_is_recreated() -> None:
    assert strategy_of({"kind": "Job", "metadata": {}}) == (Strategy.RECREATE, None)


def test_a_job_a_cronjob_controls_is_left_to_the_cronjob() -> None:
    owner = {"kind": "CronJob", "name": "nightly", "uid": "u", "controller": True}
    job = {"kind": "Job", "metadata": {"ownerReferences": [owner]}}
    assert strategy_of(job) == (Strategy.OWNED, None)
    owner["controller"] = False  # only an owner that controls it takes it over
    assert strategy_of(job) == (Strategy.RECREATE, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, Strategy.PATCH), ("rollout", Strategy.PATCH), ("restart", Strategy.RESTART)],
)
def test_rollout_strategy_annotation(value: str | None, expected: Strategy) -> None:
    annotations = {} if value is None else {names.ROLLOUT_STRATEGY: value}
    assert strategy_of(rollout(annotations)) == (expected, None)


def test_rollout_strategy_is_read_from_the_template_when_the_rollout_has_none() -> None:
    restart = {names.ROLLOUT_STRATEGY: "restart"}
    assert strategy_of(rollout(template_annotations=restart))[0] is Strategy.RESTART
    on_both = rollout({names.ROLLOUT_STRATEGY: "rollout"}, template_annotations=restart)
    assert strategy_of(on_both)[0] is Strategy.PATCH


@pytest.mark.parametrize("value", ["Restart", "recreate", ""])
def test_an_unknown_rollout_strategy_is_reported_and_rolls(value: str) -> None:
    strategy, problem = strategy_of(rollout({names.ROLLOUT_STRATEGY: value}))
    assert strategy is Strategy.PATCH
    assert problem is not None
    assert names.ROLLOUT_STRATEGY in problem
    assert repr(value) in problem


def test_a_rollout_without_a_template_of_its_own_is_restarted() -> None:
    assert strategy_of(rollout(workload_ref=True)) == (Strategy.RESTART, None)
    explicit = rollout({names.ROLLOUT_STRATEGY: "rollout"}, workload_ref=True)
    assert strategy_of(explicit)[0] is Strategy.RESTART


def test_a_restart_patch_sets_restart_at_and_the_record_and_no_template_hash() -> None:
    patch = build_patch(
        "Rollout", record="r", template_hash=None, restart_at="2026-11-30T00:00:00Z"
    )
    assert patch == {
        "metadata": {"annotations": {names.OBSERVED: "r"}},
        "spec": {"restartAt": "2026-11-30T00:00:00Z"},
    }


def test_a_rollout_patch_writes_the_template_hash() -> None:
    patch = build_patch("Rollout", record="r", template_hash="h")
    assert patch["spec"] == {"template": {"metadata": {"annotations": {names.CONFIG_HASH: "h"}}}}


def test_restart_time_is_the_next_whole_second() -> None:
    assert restart_time(1_796_000_000.0) == "2026-11-30T00:53:21Z"
    assert restart_time(1_796_000_000.999) == "2026-11-30T00:53:21Z"


def test_an_unknown_strategy_is_an_invalid_annotation_of_the_workload() -> None:
    index = Index(auto_reload_all=False)
    body = rollout({names.AUTO: "true", names.ROLLOUT_STRATEGY: "restrat"})
    body["metadata"].update(name="web", namespace="apps")
    workload, _ = index.put_workload(body)
    assert workload.strategy is Strategy.PATCH
    assert any("restrat" in error for error in workload.policy.errors)
    assert workload.policy.active
