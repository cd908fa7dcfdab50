"""Pull requests on a real Gitea (reloader.imaging.forges): opened once, reused while open,
refused with the way out, and never waited on past the deadline."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from reloader.imaging.forges import ForgeError, open_or_update_pull_request
from tests.integration.forge import Gitea
from tests.integration.gitops.support import GitRepo

HEAD = "bump/app-2.0"
BODY = "Images:\n\n- `app`: `registry.example/app:1.0` → `registry.example/app:2.0`\n"


async def _repository_with_a_bump(gitea: Gitea, tmp_path: Path) -> str:
    """A Gitea repository whose ``main`` holds a manifest and whose ``HEAD`` branch bumps it."""
    repository = await gitea.create_repository(f"pr-{secrets.token_hex(4)}")
    work = GitRepo.init(tmp_path / "work")
    work.write("app.yaml", "image: registry.example/app:1.0\n")
    work.commit("app 1.0")
    push_url = gitea.clone_url(repository).replace("://", f"://x-access-token:{gitea.token}@")
    work.git("push", "--quiet", push_url, "main")
    work.git("checkout", "--quiet", "-b", HEAD)
    work.write("app.yaml", "image: registry.example/app:2.0\n")
    work.commit("app 2.0")
    work.git("push", "--quiet", push_url, HEAD)
    return repository


async def _open(
    gitea: Gitea,
    repository: str,
    *,
    title: str = "Bump app to 2.0",
    body: str = BODY,
    token: str | None = None,
    head: str = HEAD,
) -> str:
    return await open_or_update_pull_request(
        forge="gitea",
        api_url=gitea.url,
        token=gitea.token if token is None else token,
        repository=repository,
        head=head,
        base="main",
        title=title,
        body=body,
        timeout=30.0,
    )


async def test_opens_a_pull_request_from_the_pushed_branch(gitea: Gitea, tmp_path: Path) -> None:
    repository = await _repository_with_a_bump(gitea, tmp_path)

    url = await _open(gitea, repository)

    [pull] = await gitea.open_pulls(repository)
    assert url == pull["html_url"]
    assert url.startswith(f"{gitea.url}/{repository}/pulls/")
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (HEAD, "main")
    assert pull["title"] == "Bump app to 2.0"
    assert pull["body"] == BODY


async def test_a_second_run_updates_the_open_pull_request_instead_of_opening_another(
    gitea: Gitea, tmp_path: Path
) -> None:
    repository = await _repository_with_a_bump(gitea, tmp_path)
    first = await _open(gitea, repository)

    body = BODY + "- `worker`: `registry.example/worker:3` → `registry.example/worker:4`\n"
    second = await _open(gitea, repository, title="Bump app and worker", body=body)

    assert second == first
    [pull] = await gitea.open_pulls(repository)
    assert (pull["title"], pull["body"]) == ("Bump app and worker", body)


async def test_a_closed_pull_request_is_not_reused(gitea: Gitea, tmp_path: Path) -> None:
    repository = await _repository_with_a_bump(gitea, tmp_path)
    first = await _open(gitea, repository)
    index = int(first.rsplit("/", 1)[1])
    await gitea.call("PATCH", f"/repos/{repository}/pulls/{index}", {"state": "closed"})

    second = await _open(gitea, repository)

    assert second != first
    [pull] = await gitea.open_pulls(repository)
    assert pull["html_url"] == second


async def test_racing_pipelines_end_with_one_pull_request(gitea: Gitea, tmp_path: Path) -> None:
    """All look, find nothing, and open (Gitea takes them all); the oldest stays open."""
    repository = await _repository_with_a_bump(gitea, tmp_path)

    urls = await asyncio.gather(*(_open(gitea, repository, title=f"run {i}") for i in range(4)))

    [pull] = await gitea.open_pulls(repository)
    assert pull["html_url"] in urls
    assert pull["number"] == min(int(url.rsplit("/", 1)[1]) for url in urls)


async def test_a_bad_token_is_refused_with_the_way_out_and_never_shown(
    gitea: Gitea, tmp_path: Path
) -> None:
    repository = await _repository_with_a_bump(gitea, tmp_path)
    wrong = "0123456789abcdef0123456789abcdef01234567"

    with pytest.raises(ForgeError) as refused:
        await _open(gitea, repository, token=wrong)

    said = str(refused.value)
    assert "401" in said
    assert "write:repository" in said
    assert wrong not in said
    assert await gitea.open_pulls(repository) == []


async def test_an_unknown_repository_names_the_flag_to_check(gitea: Gitea) -> None:
    with pytest.raises(ForgeError) as refused:
        await _open(gitea, "reloader-ci/no-such-repository")

    said = str(refused.value)
    assert "404" in said
    assert "--repository" in said
    assert gitea.token not in said


async def test_a_branch_that_was_never_pushed_is_refused_with_the_way_out(
    gitea: Gitea, tmp_path: Path
) -> None:
    repository = await _repository_with_a_bump(gitea, tmp_path)

    with pytest.raises(ForgeError, match=r"was the head branch pushed\?"):
        await _open(gitea, repository, head="bump/never-pushed")

    assert await gitea.open_pulls(repository) == []


async def test_a_forge_that_never_answers_fails_at_the_deadline(silent_remote: int) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(ForgeError, match=r"did not answer within 2s"):
        await open_or_update_pull_request(
            forge="gitea",
            api_url=f"http://127.0.0.1:{silent_remote}",
            token="t",
            repository="team/deploy",
            head=HEAD,
            base="main",
            title="t",
            body="b",
            timeout=2.0,
        )

    assert loop.time() - started < 6.0
