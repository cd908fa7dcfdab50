"""Stakater Reloader's ALERT_* and METRICS_COUNT_BY_NAMESPACE variables, reloader's flags,
and ``--webhook-url`` become settings (reloader.cli.notifications)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reloader.cli import build_parser, main, settings_from
from reloader.core.settings import Settings

SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"


def _settings(env: dict[str, str], *args: str) -> Settings:
    return settings_from(build_parser(env).parse_args(["run", *args]))


def _main_with(env: dict[str, str]) -> int:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return main(["run"])


def test_alerts_are_off_by_default() -> None:
    settings = _settings({})
    assert settings.alerts.on_reload is False
    assert settings.alerts.sink == "raw"
    assert settings.reload_webhook_url is None
    assert settings.metrics_count_by_namespace is False


def test_stakaters_variables_work_unchanged() -> None:
    env = {
        "ALERT_ON_RELOAD": "true",
        "ALERT_SINK": "slack",
        "ALERT_WEBHOOK_URL": f" {SLACK_URL} ",
        "ALERT_WEBHOOK_PROXY": "http://proxy.internal:3128",
        "ALERT_ADDITIONAL_INFO": " cluster prod-eu ",
        "METRICS_COUNT_BY_NAMESPACE": "enabled",
    }
    settings = _settings(env)
    assert settings.alerts.on_reload is True
    assert settings.alerts.sink == "slack"
    assert settings.alerts.webhook_url == SLACK_URL
    assert settings.alerts.webhook_proxy == "http://proxy.internal:3128"
    assert settings.alerts.additional_info == "cluster prod-eu"
    assert settings.metrics_count_by_namespace is True


def test_reloader_flags_and_variables_win_over_stakaters(tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    url_file.write_text("https://chat.googleapis.com/v1/spaces/AAA/messages?key=K\n")
    env = {
        "ALERT_ON_RELOAD": "false",
        "RELOADER_ALERT_ON_RELOAD": "true",
        "ALERT_SINK": "slack",
        "ALERT_WEBHOOK_URL": SLACK_URL,
    }
    settings = _settings(env, "--alert-sink", "gchat", "--alert-webhook-url-file", str(url_file))
    assert settings.alerts.on_reload is True
    assert settings.alerts.sink == "gchat"
    assert settings.alerts.webhook_url == "https://chat.googleapis.com/v1/spaces/AAA/messages?key=K"


def test_alerts_without_a_url_are_refused() -> None:
    with pytest.raises(ValueError, match="need a webhook URL"):
        _settings({"ALERT_ON_RELOAD": "true"})


def test_an_unknown_sink_is_refused_naming_where_it_came_from() -> None:
    with pytest.raises(ValueError, match=r"unknown alert sink 'email'.*\(from ALERT_SINK\)"):
        _settings({"ALERT_SINK": "email"})


def test_a_bad_alert_url_is_refused_without_repeating_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = {"ALERT_ON_RELOAD": "true", "ALERT_WEBHOOK_URL": "hooks.slack.com/XXXXsecretXXXX"}
    with pytest.raises(SystemExit) as exited:
        _main_with(env)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "ALERT_WEBHOOK_URL" in err
    assert "XXXXsecretXXXX" not in err


def test_a_settings_repr_never_shows_a_webhook_url() -> None:
    env = {
        "ALERT_ON_RELOAD": "true",
        "ALERT_WEBHOOK_URL": SLACK_URL,
        "RELOADER_RELOAD_WEBHOOK_URL": "https://ci.example/hook/XXXXotherXXXX",
    }
    shown = repr(_settings(env))
    assert "XXXXsecretXXXX" not in shown
    assert "XXXXotherXXXX" not in shown


def test_webhook_url_reads_its_own_variable_not_the_gitops_receivers() -> None:
    assert _settings({"RELOADER_WEBHOOK_URL": "https://x.example/h"}).reload_webhook_url is None
    env = {"RELOADER_RELOAD_WEBHOOK_URL": "https://x.example/h"}
    assert _settings(env).reload_webhook_url == "https://x.example/h"
    flag = _settings(env, "--webhook-url", "http://y.example/h").reload_webhook_url
    assert flag == "http://y.example/h"


def test_a_webhook_url_that_is_no_url_is_refused() -> None:
    with pytest.raises(ValueError, match="--webhook-url must be an http"):
        _settings({}, "--webhook-url", "y.example/h")


@pytest.mark.parametrize("value", ["enabled", "true", "1"])
def test_metrics_by_namespace_accepts_stakaters_enabled(value: str) -> None:
    assert _settings({"METRICS_COUNT_BY_NAMESPACE": value}).metrics_count_by_namespace is True


def test_a_misspelt_boolean_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="ALERT_ON_RELOAD wants true or false"):
        _settings({"ALERT_ON_RELOAD": "ture", "ALERT_WEBHOOK_URL": SLACK_URL})
