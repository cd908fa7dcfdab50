"""Integration fixtures: one real cluster for the session, a fresh namespace for every test."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest
from kubernetes_asyncio.client import Configuration

from reloader.kube.clients import connect, load_configuration
from reloader.kube.rest import ApiError, Rest
from tests.integration.cluster import ensure_cluster, eventually
from tests.integration.controller import ReloaderProcess


async def _dumped(proc: ReloaderProcess) -> bool:
    """Whether the threads' stacks (faulthandler's) and the tasks' are in the log."""
    log = proc.log_path.read_text()
    return "most recent call first" in log and "--- <Task" in log


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    return ensure_cluster()


@pytest.fixture(scope="session")
async def admin_configuration(kubeconfig: str) -> Configuration:
    return await load_configuration(kubeconfig)


@pytest.fixture(scope="session")
async def rest(admin_configuration: Configuration) -> AsyncIterator[Rest]:
    async with connect(admin_configuration) as client:
        yield client


@pytest.fixture
async def namespace(rest: Rest, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A namespace of this test's own, deleted afterwards (without waiting for it to go)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{slug}-{secrets.token_hex(3)}"
    await rest.request(
        "POST", "/api/v1/namespaces", body={"metadata": {"name": name, "labels": {"test": "1"}}}
    )
    try:
        yield name
    finally:
        try:
            await rest.request("DELETE", f"/api/v1/namespaces/{name}")
        except ApiError as exc:
            if not exc.not_found:
                raise


StartReloader = Callable[..., Awaitable[ReloaderProcess]]


@pytest.fixture
async def start_reloader(
    kubeconfig: str, namespace: str, tmp_path: Path
) -> AsyncIterator[StartReloader]:
    """Start ``reloader run`` scoped to the test's namespace; stopped (and its log shown) after."""
    started: list[ReloaderProcess] = []

    async def start(*args: str, scoped: bool = True) -> ReloaderProcess:
        """``scoped=False`` leaves out ``--namespace`` (pass a selector in ``args``)."""
        proc = ReloaderProcess(
            kubeconfig=kubeconfig,
            namespace=namespace,
            log_dir=tmp_path,
            args=list(args),
            scoped=scoped,
        )
        started.append(proc)
        await proc.start()
        return proc

    try:
        yield start
    finally:
        for proc in started:
            try:
                await proc.stop()
            except TimeoutError:  # never leave a process behind; say why in the log shown
                print("--- reloader did not stop within 15 s of SIGTERM; stacks, then killed ---")
                with contextlib.suppress(ProcessLookupError):
                    proc.signal(signal.SIGUSR2)  # its asyncio tasks
                    proc.signal(signal.SIGUSR1)  # its threads
                with contextlib.suppress(AssertionError):
                    await eventually(partial(_dumped, proc), within=5, what="the stacks in the log")
                with contextlib.suppress(ProcessLookupError, TimeoutError):
                    await proc.stop(signal.SIGKILL)
            except ProcessLookupError:
                pass
            print(f"--- log of {' '.join(proc.args) or 'reloader run'} ---")
            print(proc.log_path.read_text())


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
