"""What each forge is asked, and how its answers are read (reloader.imaging.forges).

Pure request building and parsing only; the exchange itself is proven against a real Gitea in
tests/integration/imaging/test_pull_request.py.
"""

from __future__ import annotations

import pytest

from reloader.imaging.forges import (
    MESSAGE_CAP,
    Call,
    Dialect,
    ForgeError,
    Gitea,
    GitHub,
    GitLab,
    Wanted,
    api_root,
    check_repository,
    forge_message,
    hint,
    open_or_update_pull_request,
)

WANTED = Wanted("team/deploy", "bump/app-2.0", "main", "Bump app to 2.0", "- app: 1.0 -> 2.0")
TOKEN = "s3cr3t-token-value"


# --- where the API is ---


@pytest.mark.parametrize(
    ("forge", "url", "root"),
    [
        ("github", None, "https://api.github.com"),
        ("github", "https://github.com/", "https://api.github.com"),
        ("github", "https://api.github.com/", "https://api.github.com"),
        ("github", "https://ghe.example/api/v3", "https://ghe.example/api/v3"),
        ("github", "https://ghe.example", "https://ghe.example/api/v3"),
        ("gitlab", None, "https://gitlab.com/api/v4"),
        ("gitlab", "https://git.example/", "https://git.example/api/v4"),
        ("gitlab", "https://git.example/api/v4", "https://git.example/api/v4"),
        ("gitea", "http://127.0.0.1:3000", "http://127.0.0.1:3000/api/v1"),
        ("gitea", "https://gitea.example/sub/api/v1/", "https://gitea.example/sub/api/v1"),
    ],
)
def test_api_root_takes_the_web_address_or_the_api_root(
    forge: str, url: str | None, root: str
) -> None:
    assert api_root(forge, url) == root


@pytest.mark.parametrize(
    ("forge", "url", "says"),
    [
        ("gitea", None, "--forge-url is required for gitea"),
        ("bitbucket", None, "unknown forge 'bitbucket'"),
        ("gitea", "gitea.example", "must start with http:// or https://"),
    ],
)
def test_api_root_refuses_what_it_cannot_use(forge: str, url: str | None, says: str) -> None:
    with pytest.raises(ForgeError, match=says):
        api_root(forge, url)


@pytest.mark.parametrize(
    ("forge", "repository", "ok"),
    [
        ("github", "team/deploy", True),
        ("gitea", "team/deploy", True),
        ("gitlab", "group/sub/deploy", True),
        ("github", "group/sub/deploy", False),
        ("gitea", "deploy", False),
        ("gitlab", "group//deploy", False),
        ("github", "/deploy", False),
        ("gitea", "team/ ", False),
    ],
)
def test_repository_must_be_owner_slash_name(forge: str, repository: str, ok: bool) -> None:
    if ok:
        check_repository(forge, repository)
    else:
        with pytest.raises(ForgeError, match="--repository"):
            check_repository(forge, repository)


# --- what each forge is asked ---


def test_github_lists_open_pulls_by_owner_head_and_base() -> None:
    call = GitHub(WANTED).list_open(2)
    assert (call.method, call.path) == ("GET", "/repos/team/deploy/pulls")
    assert call.query == {
        "state": "open",
        "head": "team:bump/app-2.0",
        "base": "main",
        "per_page": "50",
        "page": "2",
    }


def test_github_opens_and_updates_with_title_and_body() -> None:
    create = GitHub(WANTED).create()
    assert (create.method, create.path) == ("POST", "/repos/team/deploy/pulls")
    assert create.body == {
        "title": "Bump app to 2.0",
        "head": "bump/app-2.0",
        "base": "main",
        "body": "- app: 1.0 -> 2.0",
    }
    update = GitHub(WANTED).update({"number": 7})
    assert (update.method, update.path) == ("PATCH", "/repos/team/deploy/pulls/7")
    assert update.body == {"title": "Bump app to 2.0", "body": "- app: 1.0 -> 2.0"}


@pytest.mark.parametrize(
    ("dialect", "item", "method", "path", "body"),
    [
        (GitHub(WANTED), {"number": 9}, "PATCH", "/repos/team/deploy/pulls/9", {"state": "closed"}),
        (Gitea(WANTED), {"number": 9}, "PATCH", "/repos/team/deploy/pulls/9", {"state": "closed"}),
        (
            GitLab(WANTED),
            {"iid": 9, "id": 1234},
            "PUT",
            "/projects/team%2Fdeploy/merge_requests/9",
            {"state_event": "close"},
        ),
    ],
)
def test_a_duplicate_is_closed_by_its_number_in_the_repository(
    dialect: Dialect, item: dict[str, int], method: str, path: str, body: dict[str, str]
) -> None:
    assert dialect.number(item) == 9
    close = dialect.close(item)
    assert (close.method, close.path, close.body) == (method, path, body)


def test_gitea_filters_lists_by_base_and_pages_with_limit() -> None:
    call = Gitea(WANTED).list_open(1)
    assert (call.method, call.path) == ("GET", "/repos/team/deploy/pulls")
    assert call.query == {"state": "open", "base_branch": "main", "limit": "50", "page": "1"}
    assert Gitea(WANTED).create().body == GitHub(WANTED).create().body


def test_gitlab_names_the_project_by_its_encoded_path() -> None:
    nested = GitLab(Wanted("group/sub/deploy", "bump/x", "main", "t", "b"))
    call = nested.list_open(1)
    assert call.path == "/projects/group%2Fsub%2Fdeploy/merge_requests"
    assert call.query["source_branch"] == "bump/x"
    assert call.query["target_branch"] == "main"
    assert call.query["state"] == "opened"
    assert nested.create().body == {
        "source_branch": "bump/x",
        "target_branch": "main",
        "title": "t",
        "description": "b",
    }
    update = nested.update({"iid": 12, "id": 9999})
    assert (update.method, update.path) == (
        "PUT",
        "/projects/group%2Fsub%2Fdeploy/merge_requests/12",
    )


def test_url_keeps_encoded_slashes_and_encodes_the_query() -> None:
    call = Call("GET", "/projects/a%2Fb/merge_requests", {"source_branch": "bump/x y"})
    url = call.url("https://git.example/api/v4/")
    assert str(url) == (
        "https://git.example/api/v4/projects/a%2Fb/merge_requests?source_branch=bump%2Fx+y"
    )


@pytest.mark.parametrize(
    ("dialect", "header", "value"),
    [
        (GitHub(WANTED), "Authorization", f"Bearer {TOKEN}"),
        (Gitea(WANTED), "Authorization", f"token {TOKEN}"),
        (GitLab(WANTED), "PRIVATE-TOKEN", TOKEN),
    ],
)
def test_each_forge_gets_the_token_its_way(dialect: Dialect, header: str, value: str) -> None:
    assert dialect.headers(TOKEN)[header] == value


# --- which open request is ours ---


def _pull(head: str, base: str, repo: str | None = "team/deploy") -> dict[str, object]:
    head_part: dict[str, object] = {"ref": head}
    if repo is not None:
        head_part["repo"] = {"full_name": repo}
    return {"number": 3, "html_url": "u", "head": head_part, "base": {"ref": base}}


@pytest.mark.parametrize("dialect", [GitHub(WANTED), Gitea(WANTED)])
def test_ours_is_the_same_head_branch_of_this_repository_into_base(dialect: Dialect) -> None:
    assert dialect.is_ours(_pull("bump/app-2.0", "main"))
    assert dialect.is_ours(_pull("bump/app-2.0", "main", repo="Team/Deploy"))
    assert dialect.is_ours(_pull("bump/app-2.0", "main", repo=None))
    assert not dialect.is_ours(_pull("bump/app-2.0", "release"))
    assert not dialect.is_ours(_pull("bump/app-3.0", "main"))
    assert not dialect.is_ours(_pull("bump/app-2.0", "main", repo="fork/deploy"))
    assert not dialect.is_ours({})


def test_gitlab_ours_is_the_same_source_branch_of_the_same_project() -> None:
    gitlab = GitLab(WANTED)
    same = {"source_branch": "bump/app-2.0", "target_branch": "main"}
    assert gitlab.is_ours({**same, "source_project_id": 4, "target_project_id": 4})
    assert not gitlab.is_ours({**same, "source_project_id": 5, "target_project_id": 4})
    assert not gitlab.is_ours({**same, "target_branch": "dev"})
    assert gitlab.web_url({"web_url": "https://git.example/mr/1"}) == "https://git.example/mr/1"


# --- errors say what to do, never the token ---


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (401, "write:repository"),
        (403, "write:repository"),
        (404, "check --repository"),
        (422, "check that branch bump/app-2.0 was pushed"),
        (409, "commits main lacks"),
        (502, "retry later"),
        (301, "pass the final --forge-url"),
    ],
)
def test_hints_name_the_way_out(status: int, says: str) -> None:
    assert says in hint(status, Gitea(WANTED), "http://gitea.example/api/v1")


def test_gitlab_hints_speak_of_merge_requests_and_the_api_scope() -> None:
    assert "api scope" in hint(401, GitLab(WANTED), "r")
    assert "merge request" in hint(422, GitLab(WANTED), "r")


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"message": "Validation Failed", "errors": [{"message": "No commits between"}]}, "No c"),
        ({"message": ["Another open merge request already exists"]}, "Another open merge"),
        ({"error": "insufficient_scope"}, "insufficient_scope"),
        ("<html>\n  Bad   Gateway</html>", "<html> Bad Gateway</html>"),
    ],
)
def test_forge_message_reads_each_forge_error_shape(payload: object, says: str) -> None:
    assert says in forge_message(payload, TOKEN)


def test_forge_message_is_short_and_never_shows_the_token() -> None:
    said = forge_message({"message": f"bad credentials {TOKEN} " + "x" * 1000}, TOKEN)
    assert TOKEN not in said
    assert "***" in said
    assert len(said) <= MESSAGE_CAP + 1


async def _open(*, token: str = TOKEN, repository: str = "team/deploy") -> str:
    return await open_or_update_pull_request(
        forge="gitea",
        api_url="http://127.0.0.1:9",  # nothing listens: these must fail before connecting
        token=token,
        repository=repository,
        head="bump/x",
        base="main",
        title="t",
        body="b",
        timeout=5.0,
    )


async def test_refusals_before_any_request_say_which_flag() -> None:
    with pytest.raises(ForgeError, match="RELOADER_FORGE_TOKEN"):
        await _open(token=" \n")
    with pytest.raises(ForgeError, match="--repository"):
        await _open(repository="deploy")
