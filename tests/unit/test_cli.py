"""Flags and their environment variables become one Settings object."""

from __future__ import annotations

import pytest

from reloader.cli import build_parser, settings_from


def test_defaults_follow_controller_conventions() -> None:
    settings = settings_from(build_parser({}).parse_args(["run"]))
    assert settings.metrics_bind_address == ":8080"
    assert settings.health_probe_bind_address == ":8081"
    assert settings.namespaces == ()
    assert settings.debounce == pytest.approx(0.1)
    assert (settings.hash_key_namespace, settings.hash_key_name) == (
        "reloader",
        "reloader-hash-key",
    )
    assert settings.auto_reload_all is False


def test_every_flag_reads_its_environment_variable() -> None:
    env = {
        "KUBECONFIG": "/tmp/kc",
        "RELOADER_NAMESPACE": "a,b",
        "RELOADER_DEBOUNCE": "2s",
        "RELOADER_AUTO_RELOAD_ALL": "true",
        "RELOADER_METRICS_BIND_ADDRESS": "0",
        "RELOADER_LOG_FORMAT": "console",
        "RELOADER_HASH_KEY_SECRET": "ops/key",
        "RELOADER_WORKERS": "3",
    }
    settings = settings_from(build_parser(env).parse_args(["run"]))
    assert settings.kubeconfig == "/tmp/kc"
    assert settings.namespaces == ("a", "b")
    assert settings.debounce == pytest.approx(2.0)
    assert settings.auto_reload_all is True
    assert settings.metrics_bind_address == "0"
    assert settings.log_format == "console"
    assert (settings.hash_key_namespace, settings.hash_key_name) == ("ops", "key")
    assert settings.workers == 3


def test_flag_beats_environment_variable() -> None:
    settings = settings_from(
        build_parser({"RELOADER_DEBOUNCE": "2s"}).parse_args(["run", "--debounce", "250ms"])
    )
    assert settings.debounce == pytest.approx(0.25)


def test_namespace_flag_repeats() -> None:
    settings = settings_from(
        build_parser({}).parse_args(["run", "--namespace", "a", "--namespace", "b"])
    )
    assert settings.namespaces == ("a", "b")


def test_namespace_and_selector_together_are_refused() -> None:
    with pytest.raises(ValueError, match="either --namespace or --namespace-selector"):
        settings_from(
            build_parser({}).parse_args(["run", "--namespace", "a", "--namespace-selector", "x=y"])
        )


def test_hash_key_secret_needs_namespace_and_name() -> None:
    with pytest.raises(ValueError, match="namespace/name"):
        settings_from(build_parser({}).parse_args(["run", "--hash-key-secret", "justaname"]))


def test_bad_duration_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser({}).parse_args(["run", "--debounce", "soon"])
    assert "invalid duration 'soon'" in capsys.readouterr().err
