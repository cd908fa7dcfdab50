"""Flags and their environment variables become one Settings object."""

from __future__ import annotations

import pytest

from reloader.cli import build_parser, main, settings_from


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


def test_hash_key_secret_needs_namespace_and_name() -> None:
    with pytest.raises(ValueError, match="namespace/name"):
        settings_from(build_parser({}).parse_args(["run", "--hash-key-secret", "justaname"]))


def test_bad_duration_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser({}).parse_args(["run", "--debounce", "soon"])
    assert "invalid duration 'soon'" in capsys.readouterr().err


# --- values that cannot work are refused at start, naming the flag ---


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], env: dict[str, str]) -> str:
    with pytest.raises(SystemExit) as exited:
        settings_from(build_parser(env).parse_args(["run", *argv]))
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--apply-concurrency", "0"),
        ("--apply-concurrency", "-3"),
        ("--apply-concurrency", "many"),
        ("--workers", "0"),
        ("--sync-interval", "0"),
        ("--sync-interval", "0s"),
        ("--sync-interval", "-5"),
        ("--debounce", "-1"),
        ("--leader-elect-lease-duration", "0"),
        ("--leader-elect-renew-deadline", "-2s"),
        ("--leader-elect-retry-period", "0ms"),
        ("--prune-max-share", "0"),
        ("--prune-max-share", "1.5"),
        ("--prune-max-share", "-0.1"),
        ("--prune-max-share", "nan"),
        ("--prune-max-share", "half"),
    ],
)
def test_value_that_cannot_work_is_a_usage_error_naming_the_flag(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused([f"{flag}={value}"], capsys, {})
    assert f"argument {flag}:" in err
    assert repr(value) in err


@pytest.mark.parametrize(
    ("variable", "flag"),
    [
        ("RELOADER_APPLY_CONCURRENCY", "--apply-concurrency"),
        ("RELOADER_SYNC_INTERVAL", "--sync-interval"),
        ("RELOADER_PRUNE_MAX_SHARE", "--prune-max-share"),
        ("RELOADER_WORKERS", "--workers"),
    ],
)
def test_environment_variable_that_cannot_work_is_a_usage_error_naming_both(
    variable: str, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused([], capsys, {variable: "0"})
    assert f"argument {flag}:" in err
    assert f"(from {variable})" in err


def test_unparsable_environment_variable_is_a_usage_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = _refused([], capsys, {"RELOADER_AUTO_RELOAD_ALL": "maybe"})
    assert "argument --auto-reload-all:" in err
    assert "RELOADER_AUTO_RELOAD_ALL" in err


def test_flag_overrides_a_bad_environment_variable() -> None:
    args = build_parser({"RELOADER_APPLY_CONCURRENCY": "0"}).parse_args(
        ["run", "--apply-concurrency", "4"]
    )
    assert args.apply_concurrency == 4


@pytest.mark.parametrize(
    ("argv", "attribute", "expected"),
    [
        (["--apply-concurrency", "1"], "apply_concurrency", 1),
        (["--sync-interval", "500ms"], "sync_interval", 0.5),
        (["--debounce", "0"], "debounce", 0.0),
        (["--prune-max-share", "1"], "prune_max_share", 1.0),
        (["--prune-max-share", "0.01"], "prune_max_share", 0.01),
    ],
)
def test_edge_values_that_work_are_accepted(
    argv: list[str], attribute: str, expected: float
) -> None:
    settings = settings_from(build_parser({}).parse_args(["run", *argv]))
    assert getattr(settings, attribute) == pytest.approx(expected)


def test_main_exits_2_on_a_value_that_cannot_work(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--apply-concurrency", "0", "--git-url", "file:///nowhere"])
    assert exited.value.code == 2
    assert "--apply-concurrency" in capsys.readouterr().err


# --- no credentials in --git-url ---


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cr3t-TOKEN@git.example.com/org/repo.git",
        "https://s3cr3t-TOKEN:x-oauth-basic@github.com/org/repo",
        "https://:s3cr3t-TOKEN@git.example.com/org/repo",
        "http://user:s3cr3t-TOKEN@git.example.com:8080/repo",
        "ssh://git:s3cr3t-TOKEN@git.example.com/repo",
        "HTTPS://user:s3cr3t-TOKEN@git.example.com/repo",
    ],
)
def test_git_url_with_a_password_is_refused_without_repeating_it(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--git-url", url])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--git-url" in err
    assert "--git-token-file" in err
    assert "RELOADER_GIT_TOKEN" in err
    assert "s3cr3t-TOKEN" not in err


def test_git_url_with_a_password_from_the_environment_is_refused() -> None:
    env = {"RELOADER_GIT_URL": "https://user:s3cr3t-TOKEN@git.example.com/repo"}
    with pytest.raises(ValueError, match="--git-token-file") as refused:
        settings_from(build_parser(env).parse_args(["run"]))
    assert "s3cr3t-TOKEN" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "ssh://git@git.example.com/org/repo.git",
        "git@github.com:org/repo.git",
        "https://user@git.example.com/org/repo.git",
        "https://git.example.com/org/repo.git",
        "https://user:@git.example.com/org/repo.git",
        "file:///srv/git/repo",
        "/srv/git/repo",
    ],
)
def test_git_url_with_a_user_name_only_is_allowed(url: str) -> None:
    settings = settings_from(build_parser({}).parse_args(["run", "--git-url", url]))
    assert settings.git_url == url
