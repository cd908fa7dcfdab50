"""Webhook deliveries to a standby reach the leader (reloader.gitops.forwarding).

The pure parts (the receiver's decision, the URL read from a Lease, the answer to the sender,
the headers sent on, the Lease annotation, the advertised address) are tested as functions;
then two real receivers on loopback, a standby and a leader, with the Lease as a dict: the
whole path but the API server, which the integration test covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import aiohttp
import pytest

from reloader.cli import build_parser, settings_from
from reloader.core import names
from reloader.gitops.forwarding import Forwarder, Route, leader_url, route, verdict
from reloader.gitops.webhook import (
    GENERIC,
    GITHUB,
    GITLAB,
    WebhookLimits,
    forwarded_headers,
    receiver_url,
    signature_ok,
    webhook_app,
)
from reloader.kube.leasing import LeaderElector, LeaseConfig
from reloader.kube.rest import JSONDict, Rest
from reloader.serving.http import Servers

SECRET = b"it is a secret to everybody"
BODY = b'{"ref": "refs/heads/main"}'


def _signed(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _lease(url: object = "http://10.0.0.7:9292/hooks/git", holder: str = "pod-a") -> JSONDict:
    annotations = {} if url is None else {names.WEBHOOK_URL: url}
    return {"metadata": {"annotations": annotations}, "spec": {"holderIdentity": holder}}


# --- the receiver's decision ---


@pytest.mark.parametrize(
    ("leading", "forwarded", "expected"),
    [
        (True, False, Route.TRIGGER),  # the leader, or no election at all
        (True, True, Route.TRIGGER),  # a standby forwarded it: the leader syncs
        (False, False, Route.FORWARD),  # a standby passes it on
        (False, True, Route.REFUSE),  # never forwarded twice (a stale URL, not a loop)
    ],
)
def test_only_the_leader_triggers_and_nothing_is_forwarded_twice(
    leading: bool, forwarded: bool, expected: Route
) -> None:
    assert route(leading=leading, forwarded=forwarded) is expected


# --- where the leader is ---


def test_the_url_the_holder_advertises_is_where_deliveries_go() -> None:
    assert leader_url(_lease()) == "http://10.0.0.7:9292/hooks/git"
    assert (
        leader_url(_lease("http://[fd00::7]:9292/hooks/git")) == "http://[fd00::7]:9292/hooks/git"
    )


@pytest.mark.parametrize(
    "lease",
    [
        None,  # no Lease yet
        {},
        _lease(holder=""),  # released: nobody leads
        _lease(url=None),  # a leader that knows no address of its own
        _lease(url=""),
        _lease(url=7),
        _lease(url="10.0.0.7:9292"),  # no scheme
        _lease(url="file:///etc/passwd"),
        _lease(url="gopher://10.0.0.7:70/"),
        _lease(url="http://10.0.0.7/hooks/git"),  # no port: not one we wrote
        _lease(url="http://10.0.0.7:99999/hooks/git"),
        _lease(url="http://user:pw@10.0.0.7:9292/hooks/git"),
        {"metadata": {"annotations": None}, "spec": {"holderIdentity": "pod-a"}},
        {"metadata": {"annotations": {names.WEBHOOK_URL: "http://a:1/"}}, "spec": None},
    ],
)
def test_no_usable_url_means_no_leader_to_forward_to(lease: JSONDict | None) -> None:
    assert leader_url(lease) is None


# --- the answer to the sender ---


@pytest.mark.parametrize("status", [200, 202, 204])
def test_a_delivery_the_leader_accepted_is_accepted(status: int) -> None:
    answer = verdict(status, "sync triggered\n")
    assert answer.status == 202
    assert "sync triggered" in answer.text


@pytest.mark.parametrize("status", [301, 401, 413, 500, 503])
def test_a_delivery_the_leader_refused_is_a_bad_gateway(status: int) -> None:
    answer = verdict(status, "x" * 10_000 + "\r\n")
    assert answer.status == 502
    assert str(status) in answer.text
    assert len(answer.text) < 400
    assert "\n" not in answer.text


# --- what is sent on ---


@pytest.mark.parametrize("header", [GITHUB, GENERIC])
def test_a_signature_is_forwarded_as_it_came(header: str) -> None:
    incoming = {header: _signed(BODY), "X-GitHub-Event": "push", "Content-Type": "a/b", "X": "y"}
    sent = forwarded_headers((header, incoming[header]), secret=SECRET, body=BODY, headers=incoming)
    assert sent == {header: _signed(BODY), "X-GitHub-Event": "push", "Content-Type": "a/b"}


def test_a_gitlab_token_is_not_sent_on_but_a_signature_of_the_body() -> None:
    incoming = {GITLAB: SECRET.decode()}
    sent = forwarded_headers((GITLAB, SECRET.decode()), secret=SECRET, body=BODY, headers=incoming)
    assert GITLAB not in sent
    assert SECRET.decode() not in "".join(sent.values())
    assert signature_ok(SECRET, BODY, sent[GENERIC])


def test_the_advertised_url_is_the_receiver_at_that_address() -> None:
    assert receiver_url("10.0.0.7:9292") == "http://10.0.0.7:9292/hooks/git"
    assert leader_url(_lease(receiver_url("[fd00::7]:9292"))) is not None


# --- the annotation rides on the Lease writes ---


def _elector(annotations: dict[str, str | None] | None) -> LeaderElector:
    config = LeaseConfig(namespace="ns", name="lease", identity="me")
    return LeaderElector(cast(Rest, None), config, annotations=annotations)


def test_the_holder_writes_its_url_and_keeps_other_annotations() -> None:
    lease = _lease("http://old:1/hooks/git")
    lease["metadata"]["annotations"]["other"] = "kept"
    _elector({names.WEBHOOK_URL: "http://new:2/hooks/git"})._annotate(lease, holding=True)
    assert lease["metadata"]["annotations"] == {
        names.WEBHOOK_URL: "http://new:2/hooks/git",
        "other": "kept",
    }


def test_a_holder_without_an_address_clears_its_predecessors() -> None:
    lease = _lease("http://old:1/hooks/git")
    _elector({names.WEBHOOK_URL: None})._annotate(lease, holding=True)
    assert leader_url(lease) is None


def test_releasing_takes_the_url_off() -> None:
    lease = _lease("http://mine:1/hooks/git")
    _elector({names.WEBHOOK_URL: "http://mine:1/hooks/git"})._annotate(lease, holding=False)
    assert names.WEBHOOK_URL not in lease["metadata"]["annotations"]


def test_an_elector_with_nothing_to_advertise_leaves_the_metadata_alone() -> None:
    lease: JSONDict = {"metadata": {"name": "lease"}, "spec": {}}
    _elector(None)._annotate(lease, holding=True)
    _elector(None)._annotate(lease, holding=False)
    assert lease == {"metadata": {"name": "lease"}, "spec": {}}


# --- the advertised address from flags and the environment ---


def _advertise(argv: list[str]) -> str | None:
    return settings_from(build_parser({}).parse_args(["run", *argv])).webhook_advertise_address


@pytest.mark.parametrize("value", ["10.0.0.7:9292", "[fd00::7]:9292", "reloader-0.reloader:1"])
def test_the_flag_names_the_address(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_IP", "10.0.0.9")
    assert _advertise(["--webhook-advertise-address", value]) == value
    assert leader_url(_lease(receiver_url(value))) == receiver_url(value)


@pytest.mark.parametrize(
    ("pod_ip", "bind", "expected"),
    [
        ("10.0.0.7", ":9292", "10.0.0.7:9292"),
        ("10.0.0.7", "0.0.0.0:8443", "10.0.0.7:8443"),
        ("fd00::7", ":9292", "[fd00::7]:9292"),
        ("", ":9292", None),  # no POD_IP: nothing advertised
        ("10.0.0.7", "0", None),  # no webhook
        ("10.0.0.7", "127.0.0.1:0", None),  # a port only the kernel knows
    ],
)
def test_by_default_the_pod_ip_and_the_webhook_port(
    pod_ip: str, bind: str, expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_IP", pod_ip)
    monkeypatch.setenv("RELOADER_WEBHOOK_SECRET", "s")
    assert _advertise(["--webhook-bind-address", bind]) == expected


@pytest.mark.parametrize(
    "value",
    [":9292", "10.0.0.7", "10.0.0.7:0", "10.0.0.7:70000", "10.0.0.7:http", "[]:1", "fd00::7:9292"],
)
def test_an_address_no_replica_could_dial_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser({}).parse_args(["run", "--webhook-advertise-address", value])
    assert "--webhook-advertise-address" in capsys.readouterr().err


# --- a standby and a leader on loopback ---


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Elector(LeaderElector):
    """An elector whose Lease is a dict (or an error) instead of the API server's."""

    def __init__(self, *, leading: bool, lease: JSONDict | Exception | None = None) -> None:
        super().__init__(cast(Rest, None), LeaseConfig(namespace="ns", name="lease", identity="x"))
        self.leading, self.lease = leading, lease

    async def read(self) -> JSONDict | None:
        if isinstance(self.lease, Exception):
            raise self.lease
        return self.lease


@dataclass
class Replica:
    port: int
    trigger: asyncio.Event
    elector: _Elector

    @property
    def url(self) -> str:
        return receiver_url(f"127.0.0.1:{self.port}")

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url, data=body, headers=headers) as resp,
        ):
            return resp.status, await resp.text()


@contextlib.asynccontextmanager
async def replicas() -> AsyncIterator[tuple[Replica, Replica]]:
    """(standby, leader), the standby's Lease naming the leader's receiver."""
    servers = Servers()
    made = []
    for leading in (False, True):
        port, trigger, elector = _free_port(), asyncio.Event(), _Elector(leading=leading)
        forwarder = Forwarder(elector, timeout=1.0, lease_timeout=0.5)
        limits = WebhookLimits()  # served as `reloader run` serves it
        await servers.start(
            webhook_app(SECRET, trigger, limits=limits, forwarder=forwarder),
            f"127.0.0.1:{port}",
            limits=limits.connections,
        )
        made.append(Replica(port, trigger, elector))
    standby, leader = made
    standby.elector.lease = leader.elector.lease = _lease(leader.url)
    try:
        yield standby, leader
    finally:
        await servers.close()


@pytest.mark.parametrize(
    "headers",
    [
        {GITHUB: _signed(BODY), "X-GitHub-Event": "push"},
        {GENERIC: _signed(BODY)},
        {GITLAB: SECRET.decode()},
    ],
)
async def test_a_delivery_to_the_standby_triggers_the_leader(headers: dict[str, str]) -> None:
    async with replicas() as (standby, leader):
        status, text = await standby.post(BODY, headers)
        assert (status, leader.trigger.is_set()) == (202, True), text
        assert "forwarded to the leader: sync triggered" in text
        assert not standby.trigger.is_set()


async def test_an_unauthenticated_delivery_is_refused_by_the_standby_itself() -> None:
    async with replicas() as (standby, leader):
        standby.elector.lease = RuntimeError("the Lease must not even be read")
        assert (await standby.post(BODY, {GITHUB: _signed(BODY, b"a guess")}))[0] == 401
        assert (await standby.post(BODY, {GITLAB: "a guess"}))[0] == 401
        assert (await standby.post(BODY, {}))[0] == 401
        assert not leader.trigger.is_set()


async def test_a_forwarded_delivery_is_checked_again_by_the_leader() -> None:
    async with replicas() as (_, leader):
        forged = {GITHUB: _signed(BODY, b"a guess"), names.WEBHOOK_FORWARDED: "1"}
        assert (await leader.post(BODY, forged))[0] == 401
        assert not leader.trigger.is_set()


async def test_a_forwarded_delivery_to_a_standby_is_refused_not_forwarded_again() -> None:
    async with replicas() as (standby, leader):
        standby.elector.lease = _lease(standby.url)  # a stale URL pointing back at itself
        status, text = await standby.post(BODY, {GITHUB: _signed(BODY)})
        assert status == 502
        assert "503" in text
        assert not standby.trigger.is_set()
        assert not leader.trigger.is_set()


async def test_no_advertised_leader_is_unavailable() -> None:
    async with replicas() as (standby, _):
        standby.elector.lease = _lease(url=None)
        status, text = await standby.post(BODY, {GITHUB: _signed(BODY)})
        assert status == 503
        assert "the leader could not be reached" in text


async def test_a_lease_that_cannot_be_read_is_unavailable() -> None:
    async with replicas() as (standby, _):
        standby.elector.lease = OSError("connection refused")
        status, text = await standby.post(BODY, {GITHUB: _signed(BODY)})
        assert status == 503
        assert "the leader could not be reached" in text


async def test_a_leader_that_does_not_answer_is_a_bad_gateway() -> None:
    async with replicas() as (standby, _):
        standby.elector.lease = _lease(receiver_url(f"127.0.0.1:{_free_port()}"))
        status, text = await standby.post(BODY, {GITHUB: _signed(BODY)})
        assert status == 502
        assert "the leader could not be reached" in text


async def test_a_silent_leader_costs_the_standby_at_most_its_timeout() -> None:
    with socket.socket() as silent:  # the kernel accepts connections; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        async with replicas() as (standby, _):
            standby.elector.lease = _lease(receiver_url(f"127.0.0.1:{port}"))
            started = asyncio.get_running_loop().time()
            status, _ = await standby.post(BODY, {GITHUB: _signed(BODY)})
            took = asyncio.get_running_loop().time() - started
    assert status == 502
    assert took < 2.0  # the forwarder's total timeout is 1 s here
