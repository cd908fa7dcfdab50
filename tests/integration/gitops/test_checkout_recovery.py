"""What a killed run leaves in the work directory never stops the next one.

Real git repositories over file://, no cluster: stale lock files, a repository initialised
but never given its remote, objects missing under a commit that is present, a worktree of
an earlier version cut short, temporaries, and checkouts that are no longer needed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from reloader.gitops.source import Credentials, GitError, GitSource
from tests.integration.gitops.support import GitRepo


@pytest.fixture
def remote(tmp_path: Path) -> GitRepo:
    repo = GitRepo.init(tmp_path / "remote")
    repo.write("app/cfg.yaml", "kind: ConfigMap\n")
    repo.write("README.md", "hello\n")
    repo.commit("first")
    return repo


def _source(remote: GitRepo, workdir: Path) -> GitSource:
    return GitSource(url=remote.url, ref="main", workdir=workdir, timeout=30)


def _files(tree: Path) -> set[str]:
    return {str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file()}


def _bare_git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        input=stdin,
        capture_output=True,
        check=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"},
    )
    return done.stdout


async def test_a_checkout_is_a_plain_tree_of_the_commit(remote: GitRepo, tmp_path: Path) -> None:
    source = _source(remote, tmp_path / "work")
    sha = await source.remote_revision()
    tree = await source.checkout(sha)
    assert tree == tmp_path / "work" / "trees" / sha
    assert _files(tree) == {"app/cfg.yaml", "README.md"}
    assert (tree / "app/cfg.yaml").read_text() == "kind: ConfigMap\n"
    assert await source.checkout(sha) == tree, "a complete tree is reused"


async def test_an_empty_commit_checks_out_as_an_empty_tree(tmp_path: Path) -> None:
    remote = GitRepo.init(tmp_path / "remote")
    sha = remote.commit("nothing yet")
    tree = await _source(remote, tmp_path / "work").checkout(sha)
    assert tree.is_dir()
    assert _files(tree) == set()


async def test_stale_locks_of_a_killed_fetch_are_removed_at_start(
    remote: GitRepo, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    await _source(remote, workdir).checkout(await _source(remote, workdir).remote_revision())
    repo = workdir / "repo"
    locks = [repo / "shallow.lock", repo / "packed-refs.lock", repo / "config.lock"]
    locks.append(repo / "refs" / "remotes" / "origin" / "main.lock")
    for lock in locks:
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text("")
    (repo / "objects" / "pack" / "tmp_pack_cutshort").write_bytes(b"PACK")
    remote.write("README.md", "changed\n")
    second = remote.commit("second")

    tree = await _source(remote, workdir).checkout(second)
    assert (tree / "README.md").read_text() == "changed\n"
    assert not any(lock.exists() for lock in locks)
    assert not (repo / "objects" / "pack" / "tmp_pack_cutshort").exists()


async def test_a_repository_killed_before_it_had_its_remote_is_made_afresh(
    remote: GitRepo, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    (workdir / "repo").mkdir(parents=True)
    _bare_git(workdir / "repo", "init", "--quiet", "--bare", ".")
    source = _source(remote, workdir)
    sha = await source.remote_revision()
    assert _files(await source.checkout(sha)) == {"app/cfg.yaml", "README.md"}


async def test_objects_missing_under_a_commit_that_is_present_are_fetched_again(
    remote: GitRepo, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    source = _source(remote, workdir)
    sha = await source.remote_revision()
    tree = await source.checkout(sha)
    await source.forget_except(set())
    repo = workdir / "repo"
    body = _bare_git(repo, "cat-file", "commit", sha)
    for pack in (repo / "objects" / "pack").iterdir():
        pack.unlink()
    _bare_git(repo, "hash-object", "-t", "commit", "-w", "--stdin", stdin=body)  # not its tree

    again = _source(remote, workdir)
    assert await again.checkout(sha) == tree
    assert _files(tree) == {"app/cfg.yaml", "README.md"}


async def test_a_worktree_of_an_earlier_version_cut_short_is_made_again(
    remote: GitRepo, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    sha = remote.git("rev-parse", "HEAD").strip()
    partial = workdir / "trees" / sha
    partial.mkdir(parents=True)
    (partial / ".git").write_text(f"gitdir: {workdir}/repo/worktrees/{sha}\n")
    (partial / "README.md").write_text("hel")

    tree = await _source(remote, workdir).checkout(sha)
    assert tree == partial
    assert _files(tree) == {"app/cfg.yaml", "README.md"}
    assert (tree / "README.md").read_text() == "hello\n"


async def test_temporaries_of_a_killed_run_are_removed_at_start(
    remote: GitRepo, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    leftovers = [workdir / "trees" / ".tmp-abc-123" / "tree", workdir / ".tmp-repo-456"]
    for leftover in leftovers:
        leftover.mkdir(parents=True)
        (leftover / "file").write_text("half")
    source = _source(remote, workdir)
    await source.checkout(await source.remote_revision())
    assert not any(path.exists() for path in leftovers)
    assert not any((workdir / "trees").glob(".tmp-*"))


async def test_forget_except_keeps_only_the_revisions_named(
    remote: GitRepo, tmp_path: Path
) -> None:
    source = _source(remote, tmp_path / "work")
    shas = []
    for n in range(4):
        remote.write("README.md", f"v{n}\n")
        shas.append(remote.commit(f"v{n}"))
        await source.checkout(shas[-1])
    applied, failed, current = shas[0], shas[1:3], shas[3]

    await source.forget_except({applied, current})
    assert sorted(p.name for p in (tmp_path / "work" / "trees").iterdir()) == sorted(
        [applied, current]
    )
    for sha in failed:
        assert (await source.checkout(sha)).is_dir(), "a forgotten revision comes back"


async def test_a_sha_that_is_not_one_is_refused(remote: GitRepo, tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not a commit sha"):
        await _source(remote, tmp_path / "work").checkout("../../etc")


async def test_a_token_never_reaches_an_error(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/missing-tok-secret-123.git"
    credentials = Credentials(token="tok-secret-123")
    source = GitSource(url=url, ref="main", workdir=tmp_path / "work", credentials=credentials)
    with pytest.raises(GitError) as raised:
        await source.remote_revision()
    assert "tok-secret-123" not in str(raised.value)
    assert "***" in str(raised.value)
