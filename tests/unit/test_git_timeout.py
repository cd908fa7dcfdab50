"""``--git-timeout``: from the flag (or its variable) to every git command the source runs.

The last tests put a stand-in ``git`` on PATH that records how it was called, to show the
deadline reaches git's own stall limits and ssh's, as a second line of defence.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from reloader.cli import build_parser, settings_from
from reloader.cli.running import sync_settings
from reloader.core.settings import Settings
from reloader.gitops.source import GitError, GitSource, GitTimeout


def _settings(*argv: str, env: dict[str, str] | None = None) -> Settings:
    args = build_parser(env or {}).parse_args(["run", "--git-url", "file:///r", *argv])
    return settings_from(args)


def test_the_git_timeout_defaults_to_a_minute() -> None:
    assert _settings().git_timeout == pytest.approx(60.0)
    assert sync_settings(_settings()).git_timeout == pytest.approx(60.0)


def test_the_git_timeout_is_a_duration_that_reaches_the_sync_settings() -> None:
    settings = _settings("--git-timeout", "1m30s")
    assert settings.git_timeout == pytest.approx(90.0)
    assert sync_settings(settings).git_timeout == pytest.approx(90.0)


def test_the_git_timeout_reads_its_environment_variable() -> None:
    assert _settings(env={"RELOADER_GIT_TIMEOUT": "250ms"}).git_timeout == pytest.approx(0.25)


@pytest.mark.parametrize("value", ["0", "0s", "-5", "-1s", "soon"])
def test_a_git_timeout_that_cannot_work_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _settings(f"--git-timeout={value}")
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --git-timeout:" in err
    assert repr(value) in err


def test_settings_refuse_a_git_timeout_of_zero() -> None:
    with pytest.raises(ValueError, match="--git-timeout must be more than zero"):
        Settings(git_url="file:///r", git_timeout=0)


def test_a_source_refuses_a_timeout_of_zero(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="more than zero"):
        GitSource(url="file:///r", ref="main", workdir=tmp_path, timeout=0)


# --- what git is given ---

RECORDER = """#!{python}
import json, os, sys
with open({log!r}, "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "ssh": os.environ.get("GIT_SSH_COMMAND")}}))
    out.write("\\n")
if "ls-remote" in sys.argv:
    {on_ls_remote}
"""


def _fake_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_ls_remote: str) -> Path:
    """A ``git`` first on PATH that logs each call; ``on_ls_remote`` is its Python for it."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    script = RECORDER.format(python=sys.executable, log=str(log), on_ls_remote=on_ls_remote)
    (bin_dir / "git").write_text(script)
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return log


def _calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


async def test_git_gets_stall_limits_derived_from_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = "a" * 40
    log = _fake_git(tmp_path, monkeypatch, f"print('{sha}\\trefs/heads/main')")
    source = GitSource(url="https://git.example/r", ref="main", workdir=tmp_path / "w", timeout=12)
    assert await source.remote_revision() == sha
    for call in _calls(log):
        argv = call["argv"]
        assert isinstance(argv, list)
        assert argv[:4] == ["-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=12"]
        ssh = shlex.split(str(call["ssh"]))
        assert "ConnectTimeout=12" in ssh
        assert "ServerAliveInterval=4" in ssh
        assert "ServerAliveCountMax=3" in ssh


async def test_stall_limits_are_capped_for_a_long_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _fake_git(tmp_path, monkeypatch, "print('b' * 40 + '\\trefs/heads/main')")
    source = GitSource(url="https://git.example/r", ref="main", workdir=tmp_path / "w", timeout=600)
    await source.remote_revision()
    call = _calls(log)[-1]
    assert "http.lowSpeedTime=30" in call["argv"]  # type: ignore[operator]
    assert "ConnectTimeout=30" in shlex.split(str(call["ssh"]))


async def test_a_git_that_hangs_is_ended_at_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_git(tmp_path, monkeypatch, "import time; time.sleep(60)")
    source = GitSource(url="https://git.example/r", ref="main", workdir=tmp_path / "w", timeout=1)
    with pytest.raises(GitTimeout, match=r"^git ls-remote timed out after 1s"):
        await source.remote_revision()


async def test_gits_own_stall_limit_reads_as_a_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    too_slow = (
        "sys.stderr.write('fatal: unable to access \\'https://user:pw@git.example/r/\\': "
        "Operation too slow. Less than 1000 bytes/sec transferred the last 12 seconds\\n'); "
        "sys.exit(128)"
    )
    _fake_git(tmp_path, monkeypatch, too_slow)
    source = GitSource(url="https://git.example/r", ref="main", workdir=tmp_path / "w", timeout=12)
    with pytest.raises(GitTimeout, match=r"^git ls-remote timed out: .*Operation too slow") as e:
        await source.remote_revision()
    assert "pw" not in str(e.value), "user info in a URL is masked"
    assert isinstance(e.value, GitError)
