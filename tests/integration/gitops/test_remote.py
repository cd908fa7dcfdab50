"""Remotes: one that is not there yet, and a git server over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import aiohttp
import pytest

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, eventually
from tests.integration.controller import ReloaderProcess, free_port
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    FAILED,
    GitRepo,
    data_of,
    event_with,
    is_applied,
)


async def _healthy(loop: ReloaderProcess) -> bool:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{loop.health_port}/healthz") as resp,
    ):
        return resp.status == 200


async def test_unreachable_remote_keeps_the_loop_alive_until_it_appears(
    rest: Rest, namespace: str, tmp_path: Path, start_loop: StartLoop
) -> None:
    missing = tmp_path / "not-pushed-yet"
    loop = await start_loop(url=f"file://{missing}")

    event = await eventually(
        partial(event_with, rest, namespace, "SourceUnavailable", "git"),
        within=10,
        what="a SourceUnavailable Event",
    )
    assert event["type"] == "Warning"
    assert any(
        line.get("event") == FAILED
        and any("git ls-remote failed" in error for error in line.get("errors") or ())
        for line in loop.logs()
    ), "no log line with the git error"

    async def failures(at_least: int) -> bool:
        return len([line for line in loop.logs() if line.get("event") == FAILED]) >= at_least

    await eventually(partial(failures, 3), within=10, what="the loop retrying")
    assert await _healthy(loop)
    assert loop.proc is not None
    assert loop.proc.returncode is None

    repo = GitRepo.init(missing)
    repo.put("cfg.yaml", configmap("cfg", {"v": "1"}))
    sha = repo.commit("at last")
    await eventually(
        partial(is_applied, rest, namespace, sha), within=10, what="the commit applied"
    )
    assert await data_of(rest, namespace, "cfg") == {"v": "1"}


@pytest.fixture
async def git_daemon(tmp_path: Path) -> AsyncIterator[tuple[Path, int]]:
    """``git daemon`` serving (and accepting pushes to) the repositories under a directory."""
    root = tmp_path / "served"
    root.mkdir()
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        "git",
        "daemon",
        "--reuseaddr",
        f"--base-path={root}",
        "--export-all",
        "--listen=127.0.0.1",
        f"--port={port}",
        "--enable=receive-pack",
        str(root),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # `git` runs git-daemon as a child: kill the whole group
    )

    async def accepting() -> bool:
        if proc.returncode is not None:
            raise AssertionError(f"git daemon exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    try:
        await eventually(accepting, within=10, what="git daemon accepting connections")
        yield root, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def test_syncs_from_a_git_server_over_loopback(
    rest: Rest,
    namespace: str,
    tmp_path: Path,
    start_loop: StartLoop,
    git_daemon: tuple[Path, int],
) -> None:
    root, port = git_daemon
    GitRepo.init(root / "team.git", bare=True)
    url = f"git://127.0.0.1:{port}/team.git"
    work = GitRepo.init(tmp_path / "clone")
    work.git("remote", "add", "origin", url)
    work.put("cfg.yaml", configmap("cfg", {"v": "1"}))
    first = work.commit("first")
    work.git("push", "--quiet", "origin", "main")

    await start_loop(url=url)
    await eventually(partial(is_applied, rest, namespace, first), within=10, what="first applied")

    work.put("cfg.yaml", configmap("cfg", {"v": "2"}))
    second = work.commit("second")
    work.git("push", "--quiet", "origin", "main")
    await eventually(partial(is_applied, rest, namespace, second), within=10, what="push applied")
    assert await data_of(rest, namespace, "cfg") == {"v": "2"}


async def test_a_workdir_kept_from_another_remote_follows_the_new_git_url(
    rest: Rest, namespace: str, tmp_path: Path, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("cfg.yaml", configmap("cfg", {"v": "old remote"}))
    old = repo.commit("on the old remote")
    loop = await start_loop()
    await eventually(partial(is_applied, rest, namespace, old), within=10, what="old applied")
    assert await loop.stop() == 0

    moved = GitRepo.init(tmp_path / "moved")
    moved.put("cfg.yaml", configmap("cfg", {"v": "new remote"}))
    new = moved.commit("on the new remote")
    await start_loop(url=moved.url)  # the same --git-workdir
    await eventually(partial(is_applied, rest, namespace, new), within=10, what="new applied")
    assert await data_of(rest, namespace, "cfg") == {"v": "new remote"}
