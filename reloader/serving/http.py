"""Health probes and Prometheus metrics over HTTP, on the addresses controllers usually use.

``/healthz`` answers while the event loop runs; ``/readyz`` only once every initial list has
been processed, so a rolling update of reloader never hands over to a replica that would
mistake "not listed yet" for "deleted". Bind addresses follow controller-runtime: ``:8080``
is every interface, ``0`` disables the endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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


class Servers:
    """The HTTP servers of the process; ``close`` stops them all."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []

    async def start(self, app: web.Application, address: str) -> None:
        bind = parse_bind_address(address)
        if bind is None:
            return
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, bind[0], bind[1], shutdown_timeout=1.0).start()

    async def close(self) -> None:
        await asyncio.gather(*(r.cleanup() for r in self._runners), return_exceptions=True)
        self._runners.clear()
