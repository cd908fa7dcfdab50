"""The suspension as stored on the state ConfigMap, and the flags that set it and bound health."""

from __future__ import annotations

import pytest

from reloader.cli import build_parser, settings_from
from reloader.core import names
from reloader.gitops.state import Revision, State, Suspension


def _configmap(annotations: dict[str, str]) -> dict[str, object]:
    return {"metadata": {"name": "reloader-gitops", "annotations": annotations}}


def test_a_configmap_without_the_annotations_is_not_suspended() -> None:
    assert Suspension.of(None) is None
    assert Suspension.of(_configmap({})) is None
    assert Suspension.of(_configmap({"other": "x"})) is None


def test_the_annotations_make_a_suspension() -> None:
    found = Suspension.of(
        _configmap(
            {
                names.GITOPS_SUSPENDED_BY: "alice",
                names.GITOPS_SUSPENDED_AT: "2026-11-30T06:00:00Z",
                names.GITOPS_SUSPENDED_REASON: "hotfix INC-42",
            }
        )
    )
    assert found == Suspension(by="alice", at="2026-11-30T06:00:00Z", reason="hotfix INC-42")


def test_a_suspension_without_its_author_still_holds() -> None:
    found = Suspension.of(_configmap({names.GITOPS_SUSPENDED_AT: "2026-11-30T06:00:00Z"}))
    assert found is not None
    assert found.by == "unknown"


def test_health_and_the_held_revision_survive_a_round_trip() -> None:
    state = State(health="Unhealthy", unhealthy=["Deployment/a/b: 0 of 1 available"])
    state.held = Revision(sha="abc")
    again = State.from_data(state.to_data())
    assert again.health == "Unhealthy"
    assert again.unhealthy == ["Deployment/a/b: 0 of 1 available"]
    assert again.held == Revision(sha="abc")


def test_a_state_from_before_health_reads_as_unchecked() -> None:
    old = State.from_data({"status.json": '{"last_result": "Applied"}'})
    assert (old.health, old.unhealthy, old.held) == ("", [], None)


def test_suspend_needs_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser({}).parse_args(["suspend"])
    assert exited.value.code == 2
    assert "--reason" in capsys.readouterr().err


def test_suspend_and_resume_find_the_state_namespace_like_status() -> None:
    env = {"RELOADER_STATE_NAMESPACE": "ops"}
    args = build_parser(env).parse_args(["suspend", "--reason", "hotfix"])
    assert (args.command, args.reason, args.state_namespace) == ("suspend", "hotfix", "ops")
    args = build_parser({}).parse_args(["resume", "--state-namespace", "x"])
    assert (args.command, args.state_namespace) == ("resume", "x")


def test_health_timeout_defaults_to_two_minutes_and_zero_disables_it() -> None:
    assert settings_from(build_parser({}).parse_args(["run"])).health_timeout == 120.0
    argv = ["run", "--health-timeout", "0"]
    assert settings_from(build_parser({}).parse_args(argv)).health_timeout == 0.0
    env = {"RELOADER_HEALTH_TIMEOUT": "5s"}
    assert settings_from(build_parser(env).parse_args(["run"])).health_timeout == 5.0
