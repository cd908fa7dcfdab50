"""The webhook receiver under hostile and failing clients (reloader.gitops.webhook).

The real app, served as ``reloader run`` serves it (``Servers.start`` with the webhook's
connection limits), on loopback; clients speak raw HTTP/1.1 over sockets so that they can
stall, lie about lengths and send bytes no HTTP library would.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from reloader.gitops.webhook import WebhookLimits, signature_ok, token_ok, webhook_app
from reloader.serving.http import Servers

SECRET = b"it is a secret to everybody"
BODY = b'{"ref": "refs/heads/main", "after": "0000000000000000000000000000000000000000"}'
FAST = WebhookLimits(header_timeout=0.5, body_timeout=0.5)

Header = tuple[bytes, bytes]


def _signed(body: bytes, secret: bytes = SECRET) -> bytes:
    return b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _head(headers: Sequence[Header], *, length: int | None = None) -> bytes:
    lines = [b"POST /hooks/git HTTP/1.1", b"Host: 127.0.0.1"]
    if length is not None:
        lines.append(b"Content-Length: %d" % length)
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@dataclass
class Hook:
    port: int
    trigger: asyncio.Event

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def send(self, data: bytes, *, within: float = 5.0) -> tuple[int, bytes]:
        """Send ``data`` and read the answer to the end: (status, whole response)."""
        reader, writer = await self.connect()
        try:
            writer.write(data)
            answer = await asyncio.wait_for(reader.read(), within)
        finally:
            writer.close()
        return _status(answer), answer

    async def post(self, body: bytes, *headers: Header) -> int:
        status, _ = await self.send(_head(headers, length=len(body)) + body)
        return status


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


@contextlib.asynccontextmanager
async def serving(limits: WebhookLimits = FAST) -> AsyncIterator[Hook]:
    port, trigger, servers = _free_port(), asyncio.Event(), Servers()
    await servers.start(
        webhook_app(SECRET, trigger, limits=limits),
        f"127.0.0.1:{port}",
        limits=limits.connections,
    )
    try:
        yield Hook(port, trigger)
    finally:
        await servers.close()


# --- who may trigger a sync ---


async def test_github_signature_triggers_a_sync() -> None:
    async with serving() as hook:
        assert await hook.post(BODY, (b"X-Hub-Signature-256", _signed(BODY))) == 202
        assert hook.trigger.is_set()


async def test_generic_signature_triggers_a_sync() -> None:
    async with serving() as hook:
        assert await hook.post(b"", (b"X-Signature", _signed(b""))) == 202
        assert hook.trigger.is_set()


async def test_uppercase_scheme_and_hex_are_accepted() -> None:
    upper = b"SHA256=" + _signed(BODY)[7:].upper()
    async with serving() as hook:
        assert await hook.post(BODY, (b"X-Hub-Signature-256", upper)) == 202


async def test_gitea_signature_triggers_a_sync() -> None:
    """Gitea's own header: the same HMAC, as bare hex."""
    async with serving() as hook:
        assert await hook.post(BODY, (b"X-Gitea-Signature", _signed(BODY)[7:])) == 202
        assert hook.trigger.is_set()


@pytest.mark.parametrize(
    "signature",
    [_signed(BODY), _signed(BODY, b"a guess")[7:], _signed(BODY)[7:-1], b"", b"zz" * 32],
)
async def test_wrong_or_prefixed_gitea_signature_is_refused(signature: bytes) -> None:
    async with serving() as hook:
        assert await hook.post(BODY, (b"X-Gitea-Signature", signature)) == 401
        assert not hook.trigger.is_set()


async def test_gitlab_token_triggers_a_sync() -> None:
    async with serving() as hook:
        assert await hook.post(BODY, (b"X-Gitlab-Token", SECRET)) == 202
        assert hook.trigger.is_set()


@pytest.mark.parametrize(
    "token",
    [b"a guess", b"", SECRET + b"x", SECRET[:-1], "é".encode(), b"\xff\xfe", SECRET.upper()],
)
async def test_wrong_gitlab_token_is_refused(token: bytes) -> None:
    async with serving() as hook:
        assert await hook.post(BODY, (b"X-Gitlab-Token", token)) == 401
        assert not hook.trigger.is_set()


@pytest.mark.parametrize(
    "signature",
    [
        b"sha256=" + "é".encode() * 32,  # non-ASCII (UTF-8)
        b"sha256=\xff\xfe\xfd",  # not UTF-8 at all
        b"sha256=abc",  # odd number of hex digits
        b"sha256=zz" + b"0" * 62,  # not hex
        b"sha256=",
        b"sha256",
        b"",
        b"=",
        b"sha1=" + hashlib.sha1(BODY).hexdigest().encode(),  # another scheme
        b"md5=" + _signed(BODY)[7:],  # the right digits under another scheme
        _signed(BODY)[:-2],  # truncated
        _signed(BODY, b"a guess"),
        _signed(BODY + b" "),  # signs another body
    ],
)
@pytest.mark.parametrize("header", [b"X-Hub-Signature-256", b"X-Signature"])
async def test_malformed_or_wrong_signature_is_401_never_500(
    header: bytes, signature: bytes
) -> None:
    async with serving() as hook:
        assert await hook.post(BODY, (header, signature)) == 401
        assert not hook.trigger.is_set()


async def test_request_without_credentials_is_refused_without_reading_its_body() -> None:
    async with serving() as hook:
        started = time.monotonic()
        # Announces a body it never sends: answered at once all the same.
        status, _ = await hook.send(_head([], length=1000))
        assert status == 401
        assert time.monotonic() - started < FAST.body_timeout
        assert not hook.trigger.is_set()


@pytest.mark.parametrize(
    "secret_header",
    [(b"X-Hub-Signature-256", b"sha256=" + b"0" * 64), (b"X-Gitlab-Token", b"nope")],
)
def test_checks_never_raise_on_odd_input(secret_header: Header) -> None:
    _, value = secret_header
    text = value.decode("utf-8", "surrogateescape") + "\ud800"
    assert not signature_ok(SECRET, BODY, text)
    assert not token_ok(SECRET, text)


async def test_github_ping_answers_pong_without_a_sync() -> None:
    async with serving() as hook:
        headers = [(b"X-Hub-Signature-256", _signed(BODY)), (b"X-GitHub-Event", b"ping")]
        status, answer = await hook.send(_head(headers, length=len(BODY)) + BODY)
        assert status == 200
        assert answer.endswith(b"pong\n")
        assert not hook.trigger.is_set()


# --- coalescing ---


async def test_deliveries_while_a_sync_is_pending_set_one_trigger() -> None:
    async with serving() as hook:
        signature = (b"X-Hub-Signature-256", _signed(BODY))
        answers = [
            (await hook.send(_head([signature], length=len(BODY)) + BODY))[1] for _ in range(3)
        ]
        assert answers[0].endswith(b"sync triggered\n")
        assert all(a.endswith(b"sync already pending\n") for a in answers[1:])
        assert hook.trigger.is_set()


async def test_a_replayed_delivery_causes_at_most_one_more_sync() -> None:
    async with serving() as hook:
        signature = (b"X-Hub-Signature-256", _signed(BODY))
        assert await hook.post(BODY, signature) == 202
        hook.trigger.clear()  # what the loop does just before it syncs
        for _ in range(5):  # the same signed delivery, replayed during that sync
            assert await hook.post(BODY, signature) == 202
        assert hook.trigger.is_set()  # one more sync; setting an Event twice is setting it once


# --- what one request may cost ---


async def test_oversized_content_length_is_413_before_any_body_is_read() -> None:
    async with serving() as hook:
        started = time.monotonic()
        head = _head([(b"X-Hub-Signature-256", _signed(BODY))], length=10**12)
        status, _ = await hook.send(head)  # and no body at all: nothing to wait for
        assert status == 413
        assert time.monotonic() - started < FAST.body_timeout
        assert not hook.trigger.is_set()


async def test_chunked_body_over_the_limit_is_cut_while_reading() -> None:
    limits = WebhookLimits(max_body=4096, header_timeout=0.5, body_timeout=2.0)
    chunk = b"x" * 1024
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
    head = _head([(b"Transfer-Encoding", b"chunked"), (b"X-Signature", _signed(chunk * 8))])
    async with serving(limits) as hook:
        status, _ = await hook.send(head + body)
        assert status == 413
        assert not hook.trigger.is_set()


async def test_chunked_body_under_the_limit_is_accepted() -> None:
    head = _head([(b"Transfer-Encoding", b"chunked"), (b"X-Signature", _signed(BODY))])
    async with serving() as hook:
        status, _ = await hook.send(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY))
        assert status == 202


async def test_stalled_body_is_answered_and_closed_within_the_body_timeout() -> None:
    async with serving() as hook:
        head = _head([(b"X-Hub-Signature-256", _signed(BODY))], length=len(BODY))
        started = time.monotonic()
        status, _ = await hook.send(head + BODY[:10])  # ... and the rest never comes
        elapsed = time.monotonic() - started
        print(f"stalled body closed after {elapsed:.2f} s (body timeout {FAST.body_timeout} s)")
        assert status == 408
        assert FAST.body_timeout * 0.9 <= elapsed < FAST.body_timeout + 1.0
        assert not hook.trigger.is_set()


async def test_stalled_request_head_is_closed_within_the_header_timeout() -> None:
    async with serving() as hook:
        started = time.monotonic()
        _, answer = await hook.send(b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Sig")
        elapsed = time.monotonic() - started
        print(f"stalled head closed after {elapsed:.2f} s (header timeout {FAST.header_timeout})")
        assert answer == b""
        assert elapsed < FAST.header_timeout + 1.0


async def test_trickled_request_head_is_closed_within_the_header_timeout() -> None:
    async with serving() as hook:
        reader, writer = await hook.connect()
        started = time.monotonic()
        writer.write(b"POST /hooks/git HTTP/1.1\r\n")
        with contextlib.suppress(ConnectionError):
            while not reader.at_eof() and time.monotonic() - started < 5:
                writer.write(b"X-A: b\r\n")  # a header line every 50 ms, never the blank line
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(1), 0.05)
        elapsed = time.monotonic() - started
        writer.close()
        assert elapsed < FAST.header_timeout + 1.0


async def test_requests_over_the_concurrency_bound_get_503_at_once() -> None:
    limits = WebhookLimits(max_requests=2, header_timeout=2.0, body_timeout=3.0)
    head = _head([(b"X-Hub-Signature-256", _signed(BODY))], length=len(BODY))
    async with serving(limits) as hook:
        stalled = [await hook.connect() for _ in range(2)]
        for _, writer in stalled:
            writer.write(head + BODY[:5])  # each holds a body-reading slot
        await asyncio.sleep(0.2)
        started = time.monotonic()
        assert await hook.post(BODY, (b"X-Hub-Signature-256", _signed(BODY))) == 503
        assert time.monotonic() - started < 1.0
        for _, writer in stalled:
            writer.close()
        await asyncio.sleep(0.2)
        assert await hook.post(BODY, (b"X-Hub-Signature-256", _signed(BODY))) == 202


async def test_connections_over_the_cap_get_503_before_the_app_sees_them() -> None:
    limits = WebhookLimits(max_connections=5, header_timeout=3.0, body_timeout=3.0)
    async with serving(limits) as hook:
        idle = [await hook.connect() for _ in range(5)]
        await asyncio.sleep(0.1)
        status, answer = await hook.send(b"")
        assert status == 503
        assert b"Retry-After: 1" in answer
        for _, writer in idle:
            writer.close()
        await asyncio.sleep(0.2)
        assert await hook.post(BODY, (b"X-Gitlab-Token", SECRET)) == 202


async def test_every_answer_closes_the_connection() -> None:
    async with serving() as hook:
        _, answer = await hook.send(_head([(b"X-Gitlab-Token", SECRET)], length=0))
        assert b"Connection: close" in answer


# --- memory under a crowd ---

# The crowd runs in a child process, so that only the server's memory is measured here.
CROWD = """
import socket, sys
port, count, size, head = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if head == "unsigned":
    data = b"POST /hooks/git HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 1048576\\r\\n\\r\\n"
    data += b"x" * size
else:
    pad = b"".join(b"X-Pad-%d: %s\\r\\n" % (i, b"p" * 1000) for i in range(31))
    data = (b"POST /hooks/git HTTP/1.1\\r\\n" + pad)[:size]
held = []
for _ in range(count):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(0.5)
    try:
        sock.sendall(data)
    except OSError:
        pass
    held.append(sock)
print("ready", flush=True)
sys.stdin.read()
"""


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.parametrize(
    ("kind", "size", "what"),
    [
        ("unsigned", 64 * 1024, "unsigned POSTs announcing 1 MiB, sending 64 KiB"),
        ("head", 30 * 1024, "request heads of 30 KiB, never finished"),
    ],
)
async def test_150_concurrent_unsigned_connections_cost_only_a_few_mib(
    kind: str, size: int, what: str
) -> None:
    limits = WebhookLimits(header_timeout=5.0, body_timeout=5.0)
    async with serving(limits) as hook:
        await hook.post(BODY, (b"X-Gitlab-Token", SECRET))  # warm up code paths once
        before = _rss_kib()
        crowd = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CROWD,
            str(hook.port),
            "150",
            str(size),
            kind,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert crowd.stdout is not None
            assert await asyncio.wait_for(crowd.stdout.readline(), 30) == b"ready\n"
            await asyncio.sleep(0.3)
            grown = _rss_kib() - before
        finally:
            crowd.kill()
            await crowd.wait()
        print(f"150 connections ({what}): server VmRSS grew {grown / 1024:.1f} MiB")
        assert grown < 8 * 1024, f"VmRSS grew {grown} KiB"
        await asyncio.sleep(0.2)
        assert await hook.post(BODY, (b"X-Gitlab-Token", SECRET)) == 202
