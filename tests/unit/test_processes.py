"""Running a tool: a deadline ends its whole process group, output is capped, stdin is fed.

Real processes (``sh``, ``sleep``, ``cat``), since what is proven here is how they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import pytest

from reloader.processes.running import Failed, NotStarted, TimedOut, run


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def _gone(pid: int, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _pid_in(path: Path) -> int:
    return int(path.read_text().split()[0])


def _written(path: Path) -> bool:
    return path.exists() and bool(path.read_text().strip())


async def _wait_for_file(path: Path) -> None:
    while True:
        if _written(path):
            return
        await asyncio.sleep(0.02)


# A child that starts a grandchild holding stdout and stderr open, writes its pid, and waits.
HOLDS_THE_PIPES = "sleep 1000 & echo $! > {pids}; wait"


async def test_the_deadline_kills_the_group_though_a_grandchild_holds_the_pipes(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    started = time.monotonic()
    with pytest.raises(TimedOut, match=r"sh timed out after 1s") as raised:
        await run(["sh", "-c", HOLDS_THE_PIPES.format(pids=pids)], time_limit=1.0)
    took = time.monotonic() - started
    assert 1.0 <= took < 2.0, f"returned after {took:.2f}s"
    assert raised.value.program == "sh"
    assert await _gone(_pid_in(pids)), "the grandchild sleep outlived the deadline"


async def test_what_a_tool_leaves_running_in_its_group_is_ended_when_it_exits(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    started = time.monotonic()
    done = await run(["sh", "-c", f"sleep 1000 & echo $! > {pids}; echo started"], time_limit=30.0)
    assert time.monotonic() - started < 2.5, "waited for the grandchild's pipes"
    assert done.ok
    assert done.stdout == b"started\n"
    assert await _gone(_pid_in(pids)), "the background sleep outlived the tool"


async def test_cancelling_the_caller_kills_the_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    task = asyncio.create_task(
        run(["sh", "-c", HOLDS_THE_PIPES.format(pids=pids)], time_limit=60.0)
    )
    await asyncio.wait_for(_wait_for_file(pids), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 3)
    assert await _gone(_pid_in(pids))


async def test_a_flood_of_output_is_capped_and_reported() -> None:
    done = await run(
        ["sh", "-c", "head -c 50000000 /dev/zero; head -c 3000000 /dev/zero >&2"],
        time_limit=30.0,
        output_limit=1000,
    )
    assert done.ok
    assert done.stdout == b"\0" * 1000
    assert len(done.stderr) == 1000
    assert done.stdout_truncated
    assert done.stderr_truncated


async def test_output_within_the_cap_is_whole_and_not_marked_truncated() -> None:
    done = await run(["sh", "-c", "printf 12345"], time_limit=10.0, output_limit=5)
    assert done.stdout == b"12345"
    assert not done.stdout_truncated


async def test_a_nonzero_exit_is_a_value_and_check_raises_with_what_it_said() -> None:
    done = await run(["sh", "-c", "echo first >&2; echo 'it broke' >&2; exit 3"], time_limit=10.0)
    assert not done.ok
    assert done.returncode == 3
    assert done.stderr_lines() == ["first", "it broke"]
    with pytest.raises(Failed, match=r"^sh exited with status 3: first / it broke$"):
        done.check()


async def test_a_tool_killed_by_a_signal_says_so() -> None:
    done = await run(["sh", "-c", "kill -TERM $$"], time_limit=10.0)
    assert done.returncode < 0
    assert done.status == "was killed by SIGTERM"


async def test_stdin_is_fed_and_closed() -> None:
    payload = os.urandom(3 << 20)  # more than a pipe holds: fed as the tool reads
    done = await run(["cat"], time_limit=30.0, stdin=payload, output_limit=4 << 20)
    assert done.stdout == payload


async def test_a_tool_that_does_not_read_its_stdin_is_no_error() -> None:
    done = await run(["true"], time_limit=10.0, stdin=b"x" * (4 << 20))
    assert done.ok


async def test_without_stdin_the_tool_reads_end_of_file() -> None:
    done = await run(["cat"], time_limit=10.0)
    assert done.ok
    assert done.stdout == b""


async def test_cwd_and_env_are_the_tools(tmp_path: Path) -> None:
    done = await run(
        ["/bin/sh", "-c", 'pwd; echo "$ONLY"; echo "${HOME:-unset}"'],
        time_limit=10.0,
        cwd=tmp_path,
        env={"ONLY": "this", "PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.decode().splitlines() == [str(tmp_path), "this", "unset"]


async def test_a_missing_program_is_not_started() -> None:
    with pytest.raises(NotStarted, match=r"^no-such-tool could not be started: No such file"):
        await run(["/nonexistent/no-such-tool", "--secret=s3cr3t"], time_limit=10.0)


async def test_a_failure_names_the_program_never_its_arguments() -> None:
    with pytest.raises(TimedOut) as raised:
        await run(["sh", "-c", "sleep 5", "token=s3cr3t"], time_limit=0.2)
    assert "s3cr3t" not in str(raised.value)


async def test_the_time_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="more than zero"):
        await run(["true"], time_limit=0)


async def test_many_runs_leak_no_file_descriptors() -> None:
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        await run(["true"], time_limit=10.0, stdin=b"x")
    with contextlib.suppress(TimedOut):
        await run(["sleep", "5"], time_limit=0.1)
    await asyncio.sleep(0.1)  # transports close their files on the next loop iteration
    assert len(os.listdir("/proc/self/fd")) <= before


async def test_without_pidfds_the_exit_is_polled_and_the_deadline_still_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", refused)
    assert (await run(["sh", "-c", "exit 4"], time_limit=10.0)).returncode == 4
    pids = tmp_path / "pids"
    with pytest.raises(TimedOut):
        await run(["sh", "-c", HOLDS_THE_PIPES.format(pids=pids)], time_limit=0.5)
    assert await _gone(_pid_in(pids))
