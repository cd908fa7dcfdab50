"""Stakater Reloader's flags: filters and aliases taken, what cannot work refused (exit 2)."""

from __future__ import annotations

import pytest

from reloader.cli import build_parser, main, settings_from
from reloader.core.references import Kind
from reloader.core.settings import Settings


def _settings(*args: str, env: dict[str, str] | None = None) -> Settings:
    return settings_from(build_parser(env or {}).parse_args(["run", *args]))


def test_filters_are_off_by_default() -> None:
    settings = _settings()
    assert settings.namespaces_to_ignore == ()
    assert settings.resource_label_selector is None
    assert settings.ignored_resources == frozenset()
    assert settings.ignored_workload_kinds == frozenset()
    assert settings.notes == ()


def test_stakaters_filter_flags_are_taken() -> None:
    settings = _settings(
        "--namespaces-to-ignore=kube-system,kube-public",
        "--resource-label-selector=reload:yes",
        "--resources-to-ignore=Secrets",
        "--ignored-workload-types=jobs,cronjobs",
    )
    assert settings.namespaces_to_ignore == ("kube-system", "kube-public")
    assert settings.resource_label_selector == "reload=yes"
    assert settings.ignored_resources == {Kind.SECRET}
    assert settings.ignored_workload_kinds == {"Job", "CronJob"}


def test_list_flags_repeat_and_read_their_variables() -> None:
    env = {
        "RELOADER_NAMESPACES_TO_IGNORE": "a,b",
        "RELOADER_NAMESPACE_SELECTOR": "team:x",
        "RELOADER_RESOURCES_TO_IGNORE": "configmaps",
        "RELOADER_IGNORED_WORKLOAD_TYPES": "jobs",
        "RELOADER_RESOURCE_LABEL_SELECTOR": "app in (a,b)",
        "RELOADER_NAMESPACES": "n1,n2",
    }
    settings = _settings(env=env)
    assert settings.namespaces_to_ignore == ("a", "b")
    assert settings.namespace_selector == "team=x"
    assert settings.ignored_resources == {Kind.CONFIGMAP}
    assert settings.ignored_workload_kinds == {"Job"}
    assert settings.resource_label_selector == "app in (a,b)"
    assert settings.namespaces == ("n1", "n2")
    # Given on the command line, a list replaces its variable; repeated, it accumulates.
    flagged = _settings("--namespace-selector", "team:y", "--namespace-selector", "env:p", env=env)
    assert flagged.namespace_selector == "team=y,env=p"
    assert flagged.namespaces_to_ignore == ("a", "b")


def test_namespaces_is_a_comma_list_of_namespace() -> None:
    settings = _settings("--namespaces=a,b", "--namespace", "c", "--namespaces", "a")
    assert settings.namespaces == ("c", "a", "b")


def test_namespace_and_namespace_selector_together_mean_both() -> None:
    settings = _settings("--namespace", "a", "--namespace-selector", "team:x")
    assert settings.namespaces == ("a",)
    assert settings.namespace_selector == "team=x"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--namespace-selector=team in prod"], "--namespace-selector: 'team in prod'"),
        (["--resource-label-selector=a:b:c"], "--resource-label-selector: 'a:b:c'"),
        (["--namespaces-to-ignore=a,metadata.name=b"], "not a namespace name"),
        (["--resources-to-ignore=pods"], "accepts configmaps, secrets"),
        (["--resources-to-ignore=configmaps,secrets"], "not both"),
        (["--ignored-workload-types=pods"], "--ignored-workload-types accepts"),
        (["--namespace=a", "--namespaces-to-ignore=a"], "leaves none of --namespace"),
        (["--enable-ha=maybe"], "--enable-ha wants true or false"),
    ],
)
def test_a_bad_filter_is_a_usage_error_naming_the_flag(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--enable-ha"], ["--enable-ha=true"], ["--enable-ha", "true"]])
def test_enable_ha_is_leader_elect(args: list[str]) -> None:
    assert _settings(*args).leader_elect is True
    assert _settings("--enable-ha=false").leader_elect is False
    assert _settings(env={"RELOADER_ENABLE_HA": "true"}).leader_elect is True


@pytest.mark.parametrize(
    ("args", "note"),
    [
        (["--reload-strategy=env-vars"], "--reload-strategy=env-vars: reloader always writes"),
        (["--reload-strategy", "annotations"], "--reload-strategy=annotations: reloader"),
        (["--reload-on-create=false"], "--reload-on-create=false: creating a ConfigMap"),
        (["--reload-on-create"], "--reload-on-create=true: creating a ConfigMap"),
        (["--reload-on-delete=true"], "--reload-on-delete=true: deleting an object"),
        (["--sync-after-restart"], "--sync-after-restart=true: reloader is level-triggered"),
    ],
)
def test_flags_asking_for_what_reloader_always_does_are_accepted_and_explained(
    args: list[str], note: str
) -> None:
    notes = _settings(*args).notes
    assert len(notes) == 1
    assert notes[0].startswith(note)


def test_an_unknown_reload_strategy_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--reload-strategy=restart"])
    assert exit_.value.code == 2
    assert "--reload-strategy" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--is-openshift=true"], "DeploymentConfigs"),
        (["--enable-pprof"], "pprof"),
        (["--enable-csi-integration=true"], "CSI"),
        (["--auto-annotation=example.com/auto"], "annotation names are fixed"),
        (["--ignore-annotation", "x/ignore"], "annotation names are fixed"),
    ],
)
def test_stakater_flags_that_cannot_work_are_refused_saying_why(
    args: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "is a Stakater Reloader flag that reloader does not support" in err
    assert why in err


def test_an_annotation_flag_naming_stakaters_default_is_harmless() -> None:
    settings = _settings("--auto-annotation=reloader.stakater.com/auto")
    assert settings.notes == ()


@pytest.mark.parametrize(
    ("given", "fmt"),
    [("json", "json"), ("", "console"), ("text", "console"), ("console", "console")],
)
def test_stakaters_log_formats_are_understood(given: str, fmt: str) -> None:
    assert _settings(f"--log-format={given}").log_format == fmt


@pytest.mark.parametrize(
    ("given", "level"),
    [
        ("trace", "debug"),
        ("warn", "warning"),
        ("fatal", "error"),
        ("panic", "error"),
        ("info", "info"),
    ],
)
def test_stakaters_log_levels_map_to_the_nearest(given: str, level: str) -> None:
    assert _settings(f"--log-level={given}").log_level == level


def test_an_unknown_log_level_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--log-level=loud"])
    assert exit_.value.code == 2
    assert "--log-level" in capsys.readouterr().err
