"""A real Gitea on loopback for the tests: the forge pull requests are opened on and webhooks
come from, built from its Go module by hack/build-gitea.

One instance per test session (sqlite in a temporary directory, offline, no mailer), started in
its own process group and stopped with it; an admin user and an API token made the way an
operator would (``gitea admin user create``, then the API). Each test makes repositories of its
own names, so tests never see each other's pull requests. Every wait has a deadline, and a Gitea
that does not come up fails the test with its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.cluster import REPO, stop_group
from tests.integration.controller import free_port

USER, EMAIL = "reloader-ci", "reloader-ci@example.com"
SCOPES = ["write:repository", "write:user", "write:issue"]


def gitea_paths() -> tuple[Path, Path]:
    """The Gitea binary and its share directory (templates/, options/).

    ``RELOADER_TEST_GITEA`` names a binary built elsewhere (its ``../share`` beside it);
    otherwise hack/build-gitea builds it once (a no-op when cached) and says where.
    """
    given = os.environ.get("RELOADER_TEST_GITEA")
    if given:
        binary = Path(given)
    else:
        done = subprocess.run(
            [str(REPO / "hack" / "build-gitea")], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"hack/build-gitea failed:\n{done.stderr[-4000:]}")
        binary = Path(done.stdout.strip()) / "gitea"
    share = binary.parent.parent / "share"
    if not binary.is_file() or not (share / "templates").is_dir():
        raise AssertionError(f"no Gitea at {binary} (with {share}/templates): run hack/build-gitea")
    return binary, share


def app_ini(*, root: Path, share: Path, port: int) -> str:
    """A private instance: loopback only, sqlite, no mail, no outbound calls but webhooks to
    loopback (where the loop's receiver listens)."""
    return f"""\
APP_NAME = reloader tests
RUN_MODE = prod
RUN_USER = {getpass.getuser()}
WORK_PATH = {root}

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = {port}
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:{port}/
STATIC_ROOT_PATH = {share}
APP_DATA_PATH = {root}/data
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = {root}/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = {root}/repositories
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = {secrets.token_hex(32)}
INTERNAL_TOKEN = {secrets.token_urlsafe(64)}
PASSWORD_HASH_ALGO = pbkdf2_v1

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
ENABLE_NOTIFY_MAIL = false

[mailer]
ENABLED = false

[webhook]
ALLOWED_HOST_LIST = loopback
DELIVER_TIMEOUT = 10

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[actions]
ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = console
LEVEL = Info
"""


class ApiAnswerError(AssertionError):
    """Gitea answered a fixture's call with an error; carries the status for tests to check."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"Gitea answered {status}: {text[:2000]}")
        self.status = status


@dataclass
class Gitea:
    """A running instance: its address, its admin and the admin's API token."""

    port: int
    token: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def clone_url(self, repository: str) -> str:
        return f"{self.url}/{repository}.git"

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> Any:
        """One API call as the admin (or with ``token``), within 30 s; JSON back or None."""
        headers = {"Authorization": f"token {token or self.token}"}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            http.request(method, self.api + path, json=body, headers=headers) as resp,
        ):
            text = await resp.text()
            if resp.status >= 300:
                raise ApiAnswerError(resp.status, text)
            return await resp.json(content_type=None) if text.strip() else None

    async def create_repository(self, name: str) -> str:
        """An empty public repository of the admin's; its ``OWNER/NAME``."""
        await self.call("POST", "/user/repos", {"name": name, "default_branch": "main"})
        return f"{USER}/{name}"

    async def add_push_webhook(self, repository: str, *, url: str, secret: str) -> int:
        """A Gitea-type webhook on push events, signed with ``secret``; its id."""
        hook = await self.call(
            "POST",
            f"/repos/{repository}/hooks",
            {
                "type": "gitea",
                "active": True,
                "events": ["push"],
                "config": {"url": url, "content_type": "json", "secret": secret},
            },
        )
        return int(hook["id"])

    async def open_pulls(self, repository: str) -> list[dict[str, Any]]:
        pulls: list[dict[str, Any]] = await self.call(
            "GET", f"/repos/{repository}/pulls?state=open&limit=50"
        )
        return pulls

    async def merge(self, repository: str, index: int) -> None:
        await self.call("POST", f"/repos/{repository}/pulls/{index}/merge", {"Do": "merge"})


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-8000:]


async def _answers(url: str, proc: asyncio.subprocess.Process, log_path: Path) -> bool:
    if proc.returncode is not None:
        raise AssertionError(f"Gitea exited with {proc.returncode}:\n{_tail(log_path)}")
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
            http.get(f"{url}/api/v1/version") as resp,
        ):
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def _run(binary: Path, *args: str, env: dict[str, str], within: float) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(binary),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise AssertionError(f"gitea {args[0]} {args[1]} did not finish within {within}s") from None
    text = out.decode(errors="replace")
    assert proc.returncode == 0, f"gitea {' '.join(args[:3])} failed:\n{text}"
    return text


def _prepare(root: Path) -> tuple[Path, int, Path]:
    """The binary, a free port, and the instance's app.ini written under ``root``."""
    binary, share = gitea_paths()
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    ini = root / "app.ini"
    ini.write_text(app_ini(root=root, share=share, port=port))
    return binary, port, ini


@contextlib.asynccontextmanager
async def running_gitea(root: Path, *, ready_within: float = 90.0) -> AsyncIterator[Gitea]:
    """Gitea started under ``root``, with an admin and a token; stopped (group and all) after."""
    binary, port, ini = _prepare(root)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(root / "home"),
        "GITEA_WORK_DIR": str(root),
        "GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT": "true",  # CI containers run as root
    }
    common = ["--config", str(ini), "--work-path", str(root), "--custom-path", str(root / "custom")]
    log_path = root / "gitea.log"
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            str(binary), "web", *common, env=env, stdout=log, stderr=log, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + ready_within
        while not await _answers(url, proc, log_path):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Gitea did not answer on {url} within {ready_within}s:\n" + _tail(log_path)
                )
            await asyncio.sleep(0.2)
        password = secrets.token_urlsafe(18)
        await _run(
            binary,
            "admin",
            "user",
            "create",
            *common,
            "--username",
            USER,
            "--email",
            EMAIL,
            "--password",
            password,
            "--admin",
            "--must-change-password=false",
            env=env,
            within=60,
        )
        token = await _create_token(url, password)
        yield Gitea(port=port, token=token, log_path=log_path)
    finally:
        await stop_group(proc)


async def _create_token(url: str, password: str) -> str:
    auth = {"Authorization": aiohttp.encode_basic_auth(USER, password)}
    name = f"ci-{secrets.token_hex(4)}"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.post(
            f"{url}/api/v1/users/{USER}/tokens", json={"name": name, "scopes": SCOPES}, headers=auth
        ) as resp,
    ):
        text = await resp.text()
        assert resp.status == 201, f"creating an API token: {resp.status} {text}"
        body = await resp.json()
    token: str = body["sha1"]
    return token


@pytest.fixture(scope="session")
async def gitea(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gitea]:
    """One Gitea for the session; tests make repositories of their own names."""
    async with running_gitea(tmp_path_factory.mktemp("gitea")) as forge:
        yield forge
