"""Remotes that need credentials: https with a token, ssh with a key and known_hosts.

Real servers on loopback (see ``servers.py``), the real git CLI, and the loop against the
real API server: the credential is used, is never logged, and a wrong one is reported as
the source being unavailable while the last applied revision stays in force.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import aiohttp
import asyncssh
import pytest

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, eventually
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.servers import (
    HttpsGitServer,
    SshGitServer,
    https_git_server,
    ssh_git_server,
)
from tests.integration.gitops.support import (
    STATE,
    GitRepo,
    data_of,
    event_with,
    is_applied,
    reloader_status,
)

TOKEN = "tok-3f9a1c77e2b54d0e8a6b"


def _published(root: Path, work: Path) -> GitRepo:
    """A bare repository ``team.git`` under ``root`` and a clone of it to commit in."""
    GitRepo.init(root / "team.git", bare=True)
    clone = GitRepo.init(work)
    clone.git("remote", "add", "origin", str(root / "team.git"))
    return clone


def _push(clone: GitRepo, data: dict[str, str], message: str) -> str:
    clone.put("cfg.yaml", configmap("cfg", data))
    sha = clone.commit(message)
    clone.git("push", "--quiet", "origin", "main")
    return sha


@pytest.fixture
async def https_server(tmp_path: Path) -> AsyncIterator[HttpsGitServer]:
    root = tmp_path / "https-served"
    root.mkdir()
    async with https_git_server(root, TOKEN) as server:
        yield server


@pytest.fixture
async def ssh_server(tmp_path: Path) -> AsyncIterator[SshGitServer]:
    root = tmp_path / "ssh-served"
    root.mkdir()
    async with ssh_git_server(root) as server:
        yield server


async def test_https_with_a_token_file_syncs_and_a_rotated_token_is_picked_up(
    rest: Rest,
    namespace: str,
    *,
    kubeconfig: str,
    tmp_path: Path,
    start_loop: StartLoop,
    https_server: HttpsGitServer,
) -> None:
    clone = _published(https_server.root, tmp_path / "clone")
    first = _push(clone, {"v": "1"}, "first")
    token_file = tmp_path / "token"
    token_file.write_text("an-expired-token\n")

    loop = await start_loop(
        "--git-token-file",
        str(token_file),
        "--git-ca-file",
        str(https_server.ca_file),
        url=https_server.url("team.git"),
    )
    event = await eventually(
        partial(event_with, rest, namespace, "SourceUnavailable", "git ls-remote failed"),
        within=15,
        what="a SourceUnavailable Event for the refused token",
    )
    assert "Authentication failed" in event["message"], event["message"]
    assert https_server.refused > 0
    assert await data_of(rest, namespace, "cfg") is None

    token_file.write_text(TOKEN + "\n")  # the mounted Secret is updated in place
    await eventually(
        partial(is_applied, rest, namespace, first), within=15, what="first applied over https"
    )
    second = _push(clone, {"v": "2"}, "second")
    await eventually(partial(is_applied, rest, namespace, second), within=15, what="second")
    assert await data_of(rest, namespace, "cfg") == {"v": "2"}
    assert https_server.fetched_by, "the server saw no authenticated request"
    log = loop.log_path.read_text()
    assert TOKEN not in log, "the token reached the log"
    assert "an-expired-token" not in log, "the old token reached the log"
    # Nor anything else a reader of the cluster or the metrics can see.
    events = json.dumps(await rest.get(f"/api/v1/namespaces/{namespace}/events"))
    state = json.dumps(await rest.get(f"/api/v1/namespaces/{namespace}/configmaps/{STATE}"))
    _, status = await reloader_status(kubeconfig, namespace, "--output", "json")
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{loop.metrics_port}/metrics") as resp,
    ):
        metrics = await resp.text()
    assert "Authentication failed" in events  # what was looked at holds the failure
    for where, text in (("Events", events), ("state", state), ("status", status)):
        for token in (TOKEN, "an-expired-token"):
            assert token not in text, f"a token reached the {where}"
    assert TOKEN not in metrics
    assert "an-expired-token" not in metrics


async def test_https_without_the_ca_is_refused_as_untrusted(
    rest: Rest,
    namespace: str,
    tmp_path: Path,
    start_loop: StartLoop,
    https_server: HttpsGitServer,
) -> None:
    clone = _published(https_server.root, tmp_path / "clone")
    _push(clone, {"v": "1"}, "first")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)

    await start_loop("--git-token-file", str(token_file), url=https_server.url("team.git"))
    event = await eventually(
        partial(event_with, rest, namespace, "SourceUnavailable", "git ls-remote failed"),
        within=15,
        what="a SourceUnavailable Event for the unknown certificate authority",
    )
    assert "certificate" in event["message"].lower(), event["message"]
    assert not https_server.fetched_by, "git sent the token to a server it could not verify"


async def test_ssh_with_a_key_as_a_secret_mounts_it_and_known_hosts_syncs(
    rest: Rest,
    namespace: str,
    tmp_path: Path,
    start_loop: StartLoop,
    ssh_server: SshGitServer,
) -> None:
    clone = _published(ssh_server.root, tmp_path / "clone")
    first = _push(clone, {"v": "1"}, "first")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(ssh_server.known_hosts_line())
    assert ssh_server.client_key_file.stat().st_mode & 0o077, "the key should be group-readable"

    loop = await start_loop(
        "--git-ssh-key-file",
        str(ssh_server.client_key_file),
        "--git-known-hosts-file",
        str(known_hosts),
        url=ssh_server.url("team.git"),
    )
    await eventually(
        partial(is_applied, rest, namespace, first), within=15, what="first applied over ssh"
    )
    second = _push(clone, {"v": "2"}, "second")
    await eventually(partial(is_applied, rest, namespace, second), within=15, what="second")
    assert await data_of(rest, namespace, "cfg") == {"v": "2"}
    assert any("git-upload-pack" in command for command in ssh_server.fetched)
    key_text = ssh_server.client_key_file.read_text()
    body = "".join(key_text.splitlines()[1:-1])
    assert body[:40] not in loop.log_path.read_text(), "the private key reached the log"


async def test_ssh_refuses_a_host_whose_key_is_not_known(
    rest: Rest,
    namespace: str,
    tmp_path: Path,
    start_loop: StartLoop,
    ssh_server: SshGitServer,
) -> None:
    clone = _published(ssh_server.root, tmp_path / "clone")
    _push(clone, {"v": "1"}, "first")
    known_hosts = tmp_path / "known_hosts"
    impostor = asyncssh.generate_private_key("ssh-ed25519")
    known_hosts.write_text(ssh_server.known_hosts_line(impostor))

    await start_loop(
        "--git-ssh-key-file",
        str(ssh_server.client_key_file),
        "--git-known-hosts-file",
        str(known_hosts),
        url=ssh_server.url("team.git"),
    )
    event = await eventually(
        partial(event_with, rest, namespace, "SourceUnavailable", "git ls-remote failed"),
        within=15,
        what="a SourceUnavailable Event for the changed host key",
    )
    assert "host key" in event["message"].lower(), event["message"]
    assert not ssh_server.fetched, "git talked to a host it could not verify"
    assert await data_of(rest, namespace, "cfg") is None
