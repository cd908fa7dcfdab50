"""Health probes and Prometheus metrics over HTTP, on the addresses controllers usually use.

``/healthz`` answers while the event loop runs; ``/readyz`` only once every initial list has
been processed, so a rolling update of reloader never hands over to a replica that would
mistake "not listed yet" for "deleted". Bind addresses follow controller-runtime: ``:8080``
is every interface, ``0`` disables the endpoint.

A server that strangers can reach (the git webhook) is started with ``ConnectionLimits``:
aiohttp accepts any number of connections and, depending on its version, waits for a request
head forever, so a few hundred idle or trickling sockets would hold memory and file
descriptors indefinitely. The guard sits between the listening socket and aiohttp's protocol:
over the cap a connection gets a 503 and is closed before aiohttp sees it; a head not complete
within ``header_timeout`` closes it; no connection outlives ``lifetime``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler


def parse_bind_address(address: str) -> tuple[str, int] | None:
    """``host:port`` (empty host: all interfaces), or None for ``0`` (disabled)."""
    if address.strip() in ("0", ""):
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid bind address {address!r}: use host:port, :port or 0")
    return (host.strip("[]") or "0.0.0.0", int(port))


def health_app(ready: Callable[[], bool]) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="initial lists not processed yet\n")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def metrics_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler())
    return app


@dataclass(frozen=True)
class ConnectionLimits:
    """Bounds on the connections of one server (see the module docstring)."""

    max_connections: int
    header_timeout: float
    """Seconds from accepting a connection to the end of its request head."""
    lifetime: float
    """Seconds after which any connection is cut, whatever it is doing."""


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\nbusy\n"
)
_HEAD_END = b"\r\n\r\n"


class _Gate:
    """Protocol factory for the listening socket: counts connections and wraps aiohttp's."""

    def __init__(self, inner: Callable[[], asyncio.Protocol], limits: ConnectionLimits) -> None:
        self.inner, self.limits, self.open = inner, limits, 0

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self)


class _Guarded(asyncio.Protocol):
    """One connection: admitted under the cap, then handed to aiohttp with two deadlines."""

    def __init__(self, gate: _Gate) -> None:
        self.gate = gate
        self.inner: asyncio.Protocol | None = None
        self.timers: list[asyncio.TimerHandle] = []
        self.head: asyncio.TimerHandle | None = None
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        limits = self.gate.limits
        if self.gate.open >= limits.max_connections:
            transport.write(_BUSY)
            transport.close()
            return
        self.gate.open += 1
        loop = asyncio.get_running_loop()
        self.head = loop.call_later(limits.header_timeout, transport.close)
        self.timers = [self.head, loop.call_later(limits.lifetime, transport.abort)]
        self.inner = self.gate.inner()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if self.head is not None:
            seen = self.tail + data
            if _HEAD_END in seen:
                self.head.cancel()
                self.head = None
            else:
                self.tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is None:
            return
        self.gate.open -= 1
        for timer in self.timers:
            timer.cancel()
        self.inner.connection_lost(exc)


class Servers:
    """The HTTP servers of the process; ``close`` stops them all."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []
        self._listeners: list[asyncio.Server] = []

    async def start(
        self, app: web.Application, address: str, *, limits: ConnectionLimits | None = None
    ) -> None:
        bind = parse_bind_address(address)
        if bind is None:
            return
        if limits is None:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            self._runners.append(runner)
            await web.TCPSite(runner, bind[0], bind[1], shutdown_timeout=1.0).start()
            return
        # aiohttp's low-level server is a protocol factory: listen ourselves, through the gate.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runners.append(runner)
        assert runner.server is not None  # set by setup()
        gate = _Gate(runner.server, limits)
        loop = asyncio.get_running_loop()
        self._listeners.append(await loop.create_server(gate, bind[0], bind[1], reuse_address=True))

    async def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        await asyncio.gather(*(r.cleanup() for r in self._runners), return_exceptions=True)
        self._runners.clear()
        self._listeners.clear()
