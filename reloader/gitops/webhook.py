"""A webhook that makes the loop sync at once, so polling can be slow without changes being slow.

Only authenticated requests count, with the one shared secret: GitHub's
``X-Hub-Signature-256: sha256=<hex>`` or the generic ``X-Signature: sha256=<hex>`` (HMAC-SHA256
of the raw body), Gitea's ``X-Gitea-Signature: <hex>`` (the same HMAC without the prefix; Gitea
sends GitHub's header too), or GitLab's ``X-Gitlab-Token: <secret>``; every comparison is
constant-time on bytes, and anything malformed (another scheme, odd or non-hex digits,
non-ASCII) is a 401, never a 500. The body is otherwise ignored: the loop asks git what changed.

The port faces strangers, so each request costs a bounded amount before it is trusted: a
Content-Length over the limit is refused (413) before a byte of body is read, a chunked body is
cut at the limit while reading, a request without credentials or with a wrong GitLab token is
refused before its body is read, the body must arrive within ``body_timeout`` (408), at most
``max_requests`` bodies are read at once (beyond, 503 at once), and every connection serves
one request. The request head is bounded by ``ConnectionLimits`` where the server is started
(``serving.http``): connection count, head timeout, lifetime.

Triggers coalesce, and a replay is harmless: the trigger is an ``asyncio.Event``, so any number
of deliveries while a sync is pending set it once; the loop clears it just before each sync,
so deliveries during a sync cause exactly one more. A replayed delivery (a signed body can be
resent by whoever captured it; delivery ids are not signed, so they cannot be used to drop
replays) therefore causes at most one extra sync per sync, and a sync of an unchanged
revision asks git for its sha and writes nothing.

With leader election, every replica receives (the Service selects them all) and only the
leader syncs: a standby authenticates a delivery the same way, then hands it to
``forwarding``, which posts it to the leader's receiver and answers with its verdict; a
delivery marked as forwarded is triggered only by the leader, never forwarded again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from reloader.core import names
from reloader.gitops.forwarding import Forwarder, Route, route
from reloader.serving.http import ConnectionLimits
from reloader.telemetry.logging import get_logger

log = get_logger("webhook")
MAX_BODY = 1024 * 1024
GITHUB, GENERIC, GITLAB = "X-Hub-Signature-256", "X-Signature", "X-Gitlab-Token"
GITEA = "X-Gitea-Signature"
HOOK_PATH = "/hooks/git"


@dataclass(frozen=True)
class WebhookLimits:
    """What one request may cost before it is trusted."""

    max_body: int = MAX_BODY
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_requests: int = 4
    """Bodies read and verified at once (so at most ``max_requests * max_body`` buffered)."""
    max_connections: int = 64

    @property
    def connections(self) -> ConnectionLimits:
        return ConnectionLimits(
            max_connections=self.max_connections,
            header_timeout=self.header_timeout,
            lifetime=self.header_timeout + self.body_timeout + 5.0,
        )


def signature_ok(secret: bytes, body: bytes, header: str) -> bool:
    """Whether ``header`` is ``sha256=<hex>`` of the HMAC of ``body``; never raises."""
    scheme, sep, digest = header.strip().partition("=")
    if not sep or scheme.strip().lower() != "sha256":
        return False
    try:
        given = bytes.fromhex(digest.strip())
    except ValueError:  # odd length, not hex, or not ASCII
        return False
    return hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).digest(), given)


def gitea_signature_ok(secret: bytes, body: bytes, header: str) -> bool:
    """Whether a Gitea ``X-Gitea-Signature`` (bare hex) is the HMAC of ``body``; never raises."""
    return signature_ok(secret, body, "sha256=" + header)  # a prefixed value is not hex: False


def token_ok(secret: bytes, header: str) -> bool:
    """Whether a GitLab ``X-Gitlab-Token`` equals the shared secret; never raises."""
    try:
        given = header.encode("utf-8")
    except UnicodeError:  # a lone surrogate decoded from invalid UTF-8
        return False
    return hmac.compare_digest(secret, given)


def _refuse(status: int, text: str, request: web.Request) -> web.Response:
    log.warning("webhook refused", status=status, reason=text, remote=request.remote)
    return _answer(status, text)


def _answer(status: int, text: str) -> web.Response:
    response = web.Response(status=status, text=text + "\n")
    response.force_close()  # one request per connection: the head deadline covers them all
    return response


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past ``limit`` (chunked bodies have no length)."""
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _credential(headers: Mapping[str, str]) -> tuple[str, str] | None:
    known = (GITHUB, GENERIC, GITLAB, GITEA)
    return next(((h, headers[h]) for h in known if h in headers), None)


def receiver_url(address: str) -> str:
    """The URL of the receiver served at ``host:port`` (what a leader advertises)."""
    return f"http://{address}{HOOK_PATH}"


def forwarded_headers(
    credential: tuple[str, str], *, secret: bytes, body: bytes, headers: Mapping[str, str]
) -> dict[str, str]:
    """The headers a standby sends the leader: the credential it checked (a GitLab token, being
    the secret itself, becomes the HMAC of the body), the event and the content type."""
    header, value = credential
    if header == GITLAB:
        header, value = GENERIC, "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    kept = {h: headers[h] for h in ("Content-Type", "X-GitHub-Event") if h in headers}
    return {**kept, header: value}


def webhook_app(
    secret: bytes,
    trigger: asyncio.Event,
    *,
    limits: WebhookLimits | None = None,
    forwarder: Forwarder | None = None,
) -> web.Application:
    """The receiver; ``forwarder`` (with leader election) passes a standby's deliveries on."""
    bounds = limits or WebhookLimits()
    reading = asyncio.Semaphore(bounds.max_requests)

    async def receive(request: web.Request) -> web.Response:
        length = request.content_length
        if length is not None and length > bounds.max_body:
            return _refuse(413, f"body over {bounds.max_body} bytes", request)
        credential = _credential(request.headers)
        if credential is None:
            return _refuse(401, f"missing {GITHUB}, {GENERIC}, {GITEA} or {GITLAB}", request)
        header, value = credential
        if header == GITLAB and not token_ok(secret, value):
            return _refuse(401, "bad token", request)
        if reading.locked():
            return _refuse(503, "busy; retry later", request)
        async with reading:  # held while forwarding too: the body is alive until then
            try:
                async with asyncio.timeout(bounds.body_timeout):
                    body = await _read_capped(request, bounds.max_body)
            except TimeoutError:
                return _refuse(408, "body not received in time", request)
            if body is None:
                return _refuse(413, f"body over {bounds.max_body} bytes", request)
            verified = gitea_signature_ok if header == GITEA else signature_ok
            if header != GITLAB and not verified(secret, body, value):
                return _refuse(401, "bad signature", request)
            if request.headers.get("X-GitHub-Event") == "ping":
                return _answer(200, "pong")
            forwarded = names.WEBHOOK_FORWARDED in request.headers
            decision = route(leading=forwarder is None or forwarder.leading, forwarded=forwarded)
            if decision is Route.REFUSE:
                return _refuse(503, "forwarded to a replica that does not lead", request)
            if decision is Route.FORWARD:
                assert forwarder is not None
                sent = forwarded_headers(
                    credential, secret=secret, body=body, headers=request.headers
                )
                answer = await forwarder.forward(body, sent)
                return _answer(answer.status, answer.text)
        if trigger.is_set():
            log.info(
                "webhook accepted; a sync is already pending",
                remote=request.remote,
                forwarded=forwarded,
            )
            return _answer(202, "sync already pending")
        trigger.set()
        log.info("webhook accepted; syncing now", remote=request.remote, forwarded=forwarded)
        return _answer(202, "sync triggered")

    app = web.Application(
        client_max_size=bounds.max_body,
        handler_args={
            "keepalive_timeout": bounds.header_timeout,  # idle connections, where aiohttp can
            "lingering_time": 0,  # a refused body is not drained: the connection just closes
            "auto_decompress": False,  # the signature covers the bytes sent; no zip bombs
            "max_headers": 32,
            "max_field_size": 2048,
            "read_bufsize": 16 * 1024,
        },
    )
    app.router.add_post(HOOK_PATH, receive)
    return app
