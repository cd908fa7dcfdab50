"""Fixtures of the GitOps loop tests: a git repository per test and the loop pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
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


@pytest.fixture
async def silent_remote() -> AsyncIterator[int]:
    """A port on 127.0.0.1 that accepts connections, reads, and never writes back."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
