"""Whether a new revision descends from the last one, though the repository is shallow.

Real git repositories and a bare remote over file:// (protocol v2, as servers speak it); no
cluster. The source fetches with ``--depth 1``, so git's own answer on the history at hand
would say "no" to every fast-forward: these prove it looks further before saying so.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reloader.gitops.source import GitSource
from tests.integration.gitops.support import GitRepo

DAY = 24 * 3600


class Published:
    """A bare remote and a clone of it that commits (with chosen dates) and pushes."""

    def __init__(self, tmp_path: Path) -> None:
        self.remote = GitRepo.init(tmp_path / "remote.git", bare=True)
        self.clone = GitRepo.init(tmp_path / "clone")
        self.clone.git("remote", "add", "origin", str(self.remote.path))
        self.clock = int(time.time()) - 30 * DAY

    def commit(self, text: str, *, at: int | None = None, amend: bool = False) -> str:
        """Commit ``text`` to one file, dated ``at`` (else a minute after the last one)."""
        self.clock = at if at is not None else self.clock + 60
        self.clone.write("file.txt", text + "\n")
        self.clone.git("add", "--all")
        with _dated(self.clock):
            self.clone.git("commit", "--quiet", *(["--amend"] if amend else []), "-m", text)
        return self.clone.git("rev-parse", "HEAD").strip()

    def push(self, *, force: bool = False) -> None:
        self.clone.git("push", "--quiet", *(["--force"] if force else []), "origin", "main")

    @property
    def url(self) -> str:
        return self.remote.url


@contextlib.contextmanager
def _dated(when: int) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE")}
    os.environ.update(dict.fromkeys(saved, f"@{when} +0000"))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def published(tmp_path: Path) -> Published:
    return Published(tmp_path)


def _source(published: Published, workdir: Path) -> GitSource:
    return GitSource(url=published.url, ref="main", workdir=workdir, timeout=30)


async def _applied(source: GitSource) -> str:
    """What the loop does for each revision: ls-remote, then a shallow checkout."""
    sha = await source.remote_revision()
    await source.checkout(sha)
    return sha


async def test_a_fast_forward_of_several_commits_descends(
    published: Published, tmp_path: Path
) -> None:
    published.commit("base")
    old = published.commit("applied")
    published.push()
    source = _source(published, tmp_path / "work")
    assert await _applied(source) == old
    for n in range(5):
        published.commit(f"next {n}")
    published.push()
    new = await _applied(source)

    assert await source.descends_from(old, new) is True
    assert await source.descends_from(new, old) is False, "going back is not descending"
    assert await source.descends_from(new, new) is True


async def test_a_rollback_to_an_old_release_does_not_descend(
    published: Published, tmp_path: Path
) -> None:
    release = published.commit("release 1")
    published.commit("release 2", at=published.clock + 3 * DAY)
    published.push()
    source = _source(published, tmp_path / "work")
    latest = await _applied(source)
    published.clone.git("reset", "--quiet", "--hard", release)
    published.push(force=True)
    assert await _applied(source) == release

    assert await source.descends_from(latest, release) is False
    assert await source.descends_from(release, latest) is True


async def test_a_fast_forward_descends_though_a_commit_between_was_dated_earlier(
    published: Published, tmp_path: Path
) -> None:
    published.commit("base")
    old = published.commit("applied")
    published.push()
    source = _source(published, tmp_path / "work")
    await _applied(source)
    published.commit("from a committer whose clock is hours behind", at=published.clock - 7200)
    published.commit("latest", at=published.clock + 9000)
    published.push()
    new = await _applied(source)

    assert await source.descends_from(old, new) is True


async def test_a_fast_forward_descends_from_a_commit_this_workdir_never_fetched(
    published: Published, tmp_path: Path
) -> None:
    old = published.commit("applied before a restart on an empty disk")
    for n in range(3):
        published.commit(f"next {n}")
    published.push()
    source = _source(published, tmp_path / "fresh")
    new = await _applied(source)

    assert await source.descends_from(old, new) is True


async def test_a_force_push_of_an_amended_commit_does_not_descend(
    published: Published, tmp_path: Path
) -> None:
    published.commit("base")
    old = published.commit("applied")
    published.push()
    source = _source(published, tmp_path / "work")
    await _applied(source)
    published.commit("applied, amended", amend=True)
    published.push(force=True)
    new = await _applied(source)

    assert new != old
    assert await source.descends_from(old, new) is False
    fresh = _source(published, tmp_path / "fresh")
    await _applied(fresh)
    assert await fresh.descends_from(old, new) is False, "old fetched by its sha"


async def test_a_force_push_of_an_unrelated_history_does_not_descend(
    published: Published, tmp_path: Path
) -> None:
    published.commit("base")
    old = published.commit("applied")
    published.push()
    source = _source(published, tmp_path / "work")
    await _applied(source)
    published.clone.git("checkout", "--quiet", "--orphan", "rewritten")
    published.commit("a history of its own")
    published.clone.git("branch", "--quiet", "-M", "main")
    published.push(force=True)
    new = await _applied(source)

    assert await source.descends_from(old, new) is False


async def test_a_commit_the_server_does_not_have_was_rewritten_away(
    published: Published, tmp_path: Path
) -> None:
    published.commit("base")
    published.commit("tip")
    published.push()
    source = _source(published, tmp_path / "work")
    new = await _applied(source)

    assert await source.descends_from("0123456789abcdef0123456789abcdef01234567", new) is False


async def test_when_git_cannot_reach_the_remote_it_cannot_tell(
    published: Published, tmp_path: Path
) -> None:
    old = published.commit("applied")
    published.commit("next")
    published.push()
    workdir = tmp_path / "work"
    new = await _applied(_source(published, workdir))
    gone = GitSource(url=f"file://{tmp_path}/gone.git", ref="main", workdir=workdir, timeout=30)

    assert await gone.descends_from(old, new) is None
    assert await gone.descends_from("not a sha", new) is None
