"""A webhook that makes the loop sync at once, so polling can be slow without changes being slow.

Only signed requests count: HMAC-SHA256 of the raw body with a shared secret, in GitHub's
``X-Hub-Signature-256: sha256=<hex>`` or the generic ``X-Signature: sha256=<hex>``, compared
in constant time. The body is otherwise ignored: the loop asks git what changed, so a forged
or replayed payload can at most cause one extra, harmless, sync.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from aiohttp import web

from reloader.telemetry.logging import get_logger

log = get_logger("webhook")
MAX_BODY = 1024 * 1024
HEADERS = ("X-Hub-Signature-256", "X-Signature")


def signature_ok(secret: bytes, body: bytes, header: str) -> bool:
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not digest:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest.strip().lower())


def webhook_app(secret: bytes, trigger: asyncio.Event) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        header = next((request.headers[h] for h in HEADERS if h in request.headers), None)
        if header is None:
            log.warning("webhook refused: no signature header", remote=request.remote)
            return web.Response(status=401, text="missing X-Hub-Signature-256 or X-Signature\n")
        if not signature_ok(secret, body, header):
            log.warning("webhook refused: bad signature", remote=request.remote)
            return web.Response(status=401, text="bad signature\n")
        if request.headers.get("X-GitHub-Event") == "ping":
            return web.Response(text="pong\n")
        trigger.set()
        log.info("webhook accepted; syncing now", remote=request.remote)
        return web.Response(status=202, text="sync triggered\n")

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/hooks/git", receive)
    return app
