"""A real HTTP receiver on loopback, standing in for Slack, Teams, Google Chat, a raw webhook
or an HTTP proxy: it records every request and answers from a script the test writes."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Never answer (until the receiver stops)."""


@dataclass(frozen=True)
class Received:
    path: str
    url: str
    """As the request line named it (absolute when it came through as a proxy request)."""
    headers: dict[str, str]
    body: Any
    at: float


class Receiver:
    def __init__(self, script: Iterable[Reply] = (), *, then: Reply | None = None) -> None:
        self.script: deque[Reply] = deque(script)
        self.then = then or Reply()
        self.received: list[Received] = []
        self.port = 0
        self._closing = asyncio.Event()
        self._arrived = asyncio.Condition()

    def url(self, path: str = "/hooks/T000/B000/s3cr3t-t0ken") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        self.received.append(
            Received(request.path, str(request.url), dict(request.headers), body, time.time())
        )
        async with self._arrived:
            self._arrived.notify_all()
        reply = self.script.popleft() if self.script else self.then
        if reply.hang:
            await self._closing.wait()
        return web.Response(status=reply.status, headers=reply.headers, text="ok")

    async def wait_for(self, count: int, *, within: float) -> list[Received]:
        """The requests once there are ``count``; TimeoutError at the deadline."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received

    def close(self) -> None:
        self._closing.set()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def receiving(receiver: Receiver, *, port: int = 0) -> AsyncIterator[Receiver]:
    """Serve ``receiver`` on ``127.0.0.1:port`` (0: any free port) until the block ends."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver._handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        receiver.close()
        await runner.cleanup()
