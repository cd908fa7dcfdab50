"""Pull requests on a forge (GitHub, GitLab, Gitea) for a pushed image bump.

CI runs the bump on every build, so opening a request must be idempotent: the open request
from the same head branch into the same base is found first and its title and body updated,
rather than a second one opened. Pipelines racing past the lookup are settled afterwards:
GitHub and GitLab refuse a second open request for one head and base (the loser looks again
and updates), while Gitea checks and inserts without a lock and opens them all; so after
opening, the open requests are listed again, the oldest kept and the others closed. Everyone
keeps the oldest it sees, and the last to look sees all, so one stays open.

What each forge wants is built by a pure ``Dialect`` (paths, query, body, how a listed request
is recognised), so it is unit-tested without a network; one small loop sends it, through
aiohttp, under one deadline for the whole exchange. Redirects are not followed (a token must
not travel to another host), and the token never enters an error or a log line: forge
messages are cut short and scrubbed of it before they are shown.
"""

from __future__ import annotations

import asyncio
import json
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

JSONDict = dict[str, Any]
FORGES: Final = ("github", "gitlab", "gitea")
DEFAULT_URLS: Final = {"github": "https://api.github.com", "gitlab": "https://gitlab.com"}
PAGE_SIZE: Final = 50
MAX_PAGES: Final = 20
"""Open requests looked through for ours: a thousand is more than any repository keeps open."""
MESSAGE_CAP: Final = 300
EDIT_ATTEMPTS: Final = 5


class ForgeError(Exception):
    """The forge refused or could not be reached; the message says what to do, never the token."""


@dataclass(frozen=True)
class Wanted:
    """The request to open or update, the same on every forge."""

    repository: str
    head: str
    base: str
    title: str
    body: str


@dataclass(frozen=True)
class Call:
    """One API call: a path below the API root (already escaped), a query and a JSON body."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: JSONDict | None = None

    def url(self, root: str) -> URL:
        query = f"?{urlencode(self.query)}" if self.query else ""
        return URL(root.rstrip("/") + self.path + query, encoded=True)


def _segment(text: str) -> str:
    return quote(text, safe="")


class Dialect(ABC):
    """How one forge spells listing, opening and updating a request from ``head`` to ``base``."""

    noun = "pull request"
    scopes = ""

    def __init__(self, wanted: Wanted) -> None:
        self.wanted = wanted

    @abstractmethod
    def headers(self, token: str) -> dict[str, str]: ...

    @abstractmethod
    def list_open(self, page: int) -> Call: ...

    @abstractmethod
    def is_ours(self, item: JSONDict) -> bool:
        """Whether a listed open request is from our head branch (of this repository) to base."""

    @abstractmethod
    def create(self) -> Call: ...

    @abstractmethod
    def update(self, item: JSONDict) -> Call: ...

    @abstractmethod
    def close(self, item: JSONDict) -> Call:
        """Close a duplicate opened by a racing pipeline."""

    @abstractmethod
    def number(self, item: JSONDict) -> int:
        """The request's number in its repository (the older, the lower)."""

    @abstractmethod
    def web_url(self, item: JSONDict) -> str: ...


class GitHub(Dialect):
    """GitHub's REST API; ``head`` is filtered as ``owner:branch`` by the forge itself."""

    scopes = "a fine-grained token with Pull requests: write, or a classic token with repo"

    @property
    def _repo(self) -> str:
        owner, name = self.wanted.repository.split("/")
        return f"/repos/{_segment(owner)}/{_segment(name)}/pulls"

    def headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def list_open(self, page: int) -> Call:
        owner = self.wanted.repository.split("/")[0]
        query = {"state": "open", "head": f"{owner}:{self.wanted.head}", "base": self.wanted.base}
        return Call("GET", self._repo, {**query, "per_page": str(PAGE_SIZE), "page": str(page)})

    def is_ours(self, item: JSONDict) -> bool:
        head, base = item.get("head") or {}, item.get("base") or {}
        repo = (head.get("repo") or {}).get("full_name")
        same_repo = repo is None or str(repo).lower() == self.wanted.repository.lower()
        refs = (head.get("ref"), base.get("ref")) == (self.wanted.head, self.wanted.base)
        return refs and same_repo

    def create(self) -> Call:
        w = self.wanted
        body = {"title": w.title, "head": w.head, "base": w.base, "body": w.body}
        return Call("POST", self._repo, body=body)

    def update(self, item: JSONDict) -> Call:
        body = {"title": self.wanted.title, "body": self.wanted.body}
        return Call("PATCH", f"{self._repo}/{self.number(item)}", body=body)

    def close(self, item: JSONDict) -> Call:
        return Call("PATCH", f"{self._repo}/{self.number(item)}", body={"state": "closed"})

    def number(self, item: JSONDict) -> int:
        return int(item["number"])

    def web_url(self, item: JSONDict) -> str:
        return str(item["html_url"])


class Gitea(GitHub):
    """Gitea speaks GitHub's shapes, but filters lists by base only: the head is matched here."""

    scopes = "a token with the write:repository scope"

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}", "Accept": "application/json"}

    def list_open(self, page: int) -> Call:
        query = {"state": "open", "base_branch": self.wanted.base}
        return Call("GET", self._repo, {**query, "limit": str(PAGE_SIZE), "page": str(page)})


class GitLab(Dialect):
    """GitLab's merge requests; the project is named by its URL-encoded full path."""

    noun = "merge request"
    scopes = "a token with the api scope"

    @property
    def _project(self) -> str:
        return f"/projects/{_segment(self.wanted.repository)}/merge_requests"

    def headers(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token, "Accept": "application/json"}

    def list_open(self, page: int) -> Call:
        w = self.wanted
        query = {"state": "opened", "source_branch": w.head, "target_branch": w.base}
        return Call("GET", self._project, {**query, "per_page": str(PAGE_SIZE), "page": str(page)})

    def is_ours(self, item: JSONDict) -> bool:
        source, target = item.get("source_project_id"), item.get("target_project_id")
        return (
            item.get("source_branch") == self.wanted.head
            and item.get("target_branch") == self.wanted.base
            and source == target
        )

    def create(self) -> Call:
        w = self.wanted
        body = {
            "source_branch": w.head,
            "target_branch": w.base,
            "title": w.title,
            "description": w.body,
        }
        return Call("POST", self._project, body=body)

    def update(self, item: JSONDict) -> Call:
        body = {"title": self.wanted.title, "description": self.wanted.body}
        return Call("PUT", f"{self._project}/{self.number(item)}", body=body)

    def close(self, item: JSONDict) -> Call:
        return Call("PUT", f"{self._project}/{self.number(item)}", body={"state_event": "close"})

    def number(self, item: JSONDict) -> int:
        return int(item["iid"])

    def web_url(self, item: JSONDict) -> str:
        return str(item["web_url"])


DIALECTS: Final[dict[str, type[Dialect]]] = {"github": GitHub, "gitlab": GitLab, "gitea": Gitea}


def api_root(forge: str, url: str | None) -> str:
    """The API root for ``--forge-url``, which may name the forge's web address instead."""
    if forge not in DIALECTS:
        raise ForgeError(f"unknown forge {forge!r}: use one of {', '.join(FORGES)}")
    given = (url or DEFAULT_URLS.get(forge, "")).rstrip("/")
    if not given:
        raise ForgeError(f"--forge-url is required for {forge} (its web address, e.g. https://…)")
    if not given.startswith(("http://", "https://")):
        raise ForgeError(f"--forge-url {given!r} must start with http:// or https://")
    if forge == "github":  # GitHub Enterprise Server serves its API under /api/v3
        if given in ("https://github.com", "https://api.github.com"):
            return "https://api.github.com"
        return given if given.endswith("/api/v3") else given + "/api/v3"
    suffix = "/api/v4" if forge == "gitlab" else "/api/v1"
    return given if given.endswith(suffix) else given + suffix


def check_repository(forge: str, repository: str) -> None:
    """``OWNER/NAME`` (GitLab also takes nested groups, ``GROUP/SUB/NAME``)."""
    parts = repository.split("/")
    nested_ok = forge == "gitlab"
    if len(parts) < 2 or (len(parts) > 2 and not nested_ok) or not all(p.strip() for p in parts):
        shape = "GROUP/NAME (or GROUP/SUBGROUP/NAME)" if nested_ok else "OWNER/NAME"
        raise ForgeError(f"--repository {repository!r} must be {shape}")


def hint(status: int, dialect: Dialect, root: str) -> str:
    """What to do about an error answer, in the user's terms (flags, scopes, branches)."""
    w = dialect.wanted
    if status == 401:
        return f"the token was refused: check that it is current and is {dialect.scopes}"
    if status == 403:
        return f"the token may not do this on {w.repository}: it needs to be {dialect.scopes}"
    if status == 404:
        return (
            f"repository {w.repository} (or its branch {w.head} or {w.base}) not found at "
            f"{root}: check --repository (OWNER/NAME), --forge-url, that the token can see the "
            "repository, and that both branches exist (was the head branch pushed?)"
        )
    if status in (409, 422):
        return (
            f"the forge refused the {dialect.noun}: check that branch {w.head} was pushed, that "
            f"it has commits {w.base} lacks, and that {w.base} exists"
        )
    if status >= 500:
        return "the forge failed; retry later"
    if 300 <= status < 400:
        return "the API answered with a redirect, which is not followed: pass the final --forge-url"
    return ""


def forge_message(payload: Any, token: str) -> str:
    """The forge's own words about an error, short and without the token."""
    if isinstance(payload, dict):
        found = payload.get("message") or payload.get("error") or payload.get("errors") or ""
        text = found if isinstance(found, str) else json.dumps(found)
        details = payload.get("errors") if "message" in payload else None
        if details:
            text += " " + json.dumps(details)
    else:
        text = str(payload)
    text = " ".join(text.split())
    if token:
        text = text.replace(token, "***")
    return text[:MESSAGE_CAP] + ("…" if len(text) > MESSAGE_CAP else "")


@dataclass(frozen=True, kw_only=True)
class _Client:
    """One exchange with one forge: sends a dialect's calls and turns answers into values."""

    http: aiohttp.ClientSession
    forge: str
    root: str
    token: str
    dialect: Dialect

    async def send(self, call: Call) -> tuple[int, Any]:
        async with self.http.request(
            call.method,
            call.url(self.root),
            json=call.body,
            headers=self.dialect.headers(self.token),
            allow_redirects=False,
        ) as resp:
            raw = await resp.read()
            try:
                payload: Any = json.loads(raw) if raw else None
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            return resp.status, payload

    def error(self, call: Call, status: int, payload: Any) -> ForgeError:
        said = forge_message(payload, self.token)
        advice = hint(status, self.dialect, self.root)
        text = f"{self.forge} answered {status} to {call.method} {call.path}"
        return ForgeError(text + (f": {said}" if said else "") + (f"; {advice}" if advice else ""))

    def not_json(self, call: Call) -> ForgeError:
        return ForgeError(
            f"{self.forge} answered {call.method} {call.path} with something unexpected (not "
            f"the JSON of its API): check that --forge-url ({self.root}) is the forge's API"
        )

    async def expect(self, call: Call) -> Any:
        status, payload = await self.send(call)
        if not 200 <= status < 300:
            raise self.error(call, status, payload)
        return payload

    def url_of(self, call: Call, payload: Any) -> str:
        try:
            return self.dialect.web_url(payload)
        except (KeyError, TypeError):
            raise self.not_json(call) from None

    async def open_ours(self) -> list[JSONDict]:
        """Our open requests, oldest first (more than one only after a race on Gitea)."""
        ours: list[JSONDict] = []
        for page in range(1, MAX_PAGES + 1):
            call = self.dialect.list_open(page)
            items = await self.expect(call)
            if not isinstance(items, list):
                raise self.not_json(call)
            try:
                ours += [i for i in items if isinstance(i, dict) and self.dialect.is_ours(i)]
                ours.sort(key=self.dialect.number)
            except (KeyError, TypeError, ValueError):
                raise self.not_json(call) from None
            if len(items) < PAGE_SIZE:
                break
        return ours

    async def open_or_update(self) -> str:
        ours = await self.open_ours()
        if not ours:
            call = self.dialect.create()
            status, payload = await self.send(call)
            if 200 <= status < 300:
                url = self.url_of(call, payload)
                ours = await self.open_ours()  # did a racing pipeline open one too?
                if len(ours) <= 1:
                    return url
            elif status in (409, 422):  # it did, and the forge refused ours
                ours = await self.open_ours()
                if not ours:
                    raise self.error(call, status, payload)
            else:
                raise self.error(call, status, payload)
        oldest, *duplicates = ours
        for duplicate in duplicates:
            await self.changed(self.dialect.close(duplicate))
        call = self.dialect.update(oldest)
        return self.url_of(call, await self.changed(call))

    async def changed(self, call: Call) -> Any:
        """Send an edit; Gitea answers 409 while another edit of the request is in flight,
        and an edit is idempotent, so it is sent again (a few times, jittered)."""
        for attempt in range(EDIT_ATTEMPTS):
            status, payload = await self.send(call)
            if 200 <= status < 300:
                return payload
            if status != 409 or attempt == EDIT_ATTEMPTS - 1:
                break
            await asyncio.sleep(0.2 * (attempt + 1) * (0.5 + random.random()))
        if status == 409:
            raise ForgeError(
                f"{self.forge} answered 409 to {call.method} {call.path} {EDIT_ATTEMPTS} times: "
                f"the {self.dialect.noun} kept being changed by someone else; retry"
            )
        raise self.error(call, status, payload)


async def open_or_update_pull_request(
    *,
    forge: str,
    api_url: str,
    token: str,
    repository: str,
    head: str,
    base: str,
    title: str,
    body: str,
    timeout: float,  # noqa: ASYNC109  (the agreed signature; it bounds the whole exchange)
) -> str:
    """Open a pull (merge) request from ``head`` into ``base`` of ``repository``
    (``OWNER/NAME``), or update the title and body of the one already open for ``head``;
    return its web URL. ``forge`` is github, gitlab or gitea; ``api_url`` its API root (or its
    web address: see ``api_root``). Raises ``ForgeError``; the whole exchange ends within
    ``timeout`` seconds."""
    root = api_root(forge, api_url or None)
    check_repository(forge, repository)
    if not token.strip():
        raise ForgeError("no forge token: pass --forge-token-file or set RELOADER_FORGE_TOKEN")
    dialect = DIALECTS[forge](Wanted(repository, head, base, title, body))
    limits = aiohttp.ClientTimeout(total=timeout)
    try:
        async with (
            asyncio.timeout(timeout),
            aiohttp.ClientSession(
                timeout=limits, trust_env=True, headers={"User-Agent": "reloader"}
            ) as http,
        ):
            client = _Client(
                http=http, forge=forge, root=root, token=token.strip(), dialect=dialect
            )
            return await client.open_or_update()
    except TimeoutError:
        raise ForgeError(
            f"{forge} at {root} did not answer within {timeout:g}s; retry, or raise the timeout"
        ) from None
    except aiohttp.ClientError as exc:
        said = str(exc).replace(token, "***") if token else str(exc)
        raise ForgeError(f"cannot reach {forge} at {root}: {said}") from None
