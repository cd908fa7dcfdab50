"""Fixtures of the GitOps loop tests: a git repository per test and the loop pointed at it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.integration.conftest import StartReloader
from tests.integration.controller import ReloaderProcess
from tests.integration.gitops.support import GitRepo

StartLoop = Callable[..., Awaitable[ReloaderProcess]]


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """An empty repository (branch ``main``) the test writes manifests to and commits."""
    return GitRepo.init(tmp_path / "repo")


@pytest.fixture
def start_loop(
    start_reloader: StartReloader, namespace: str, tmp_path: Path, repo: GitRepo
) -> StartLoop:
    """Start ``reloader run --git-url`` on ``repo``, polling every second, state and objects in
    the test's namespace; ``args`` come last, so they override these defaults."""

    async def start(*args: str, url: str | None = None) -> ReloaderProcess:
        return await start_reloader(
            "--git-url",
            url or repo.url,
            "--sync-interval",
            "1s",
            "--state-namespace",
            namespace,
            "--git-workdir",
            str(tmp_path / "work"),
            "--default-namespace",
            namespace,
            *args,
        )

    return start
