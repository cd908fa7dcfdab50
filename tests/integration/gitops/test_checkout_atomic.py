"""A checkout killed at any moment leaves no partial tree; a silent remote ends at the deadline.

No cluster: a real repository of 20,000 files, the real git CLI, and ``GitSource.checkout``
in a child process that is killed with SIGKILL (it and everything it started, as when a
container dies) at chosen moments, during the fetch and during the checkout itself. After
each kill, ``trees/<sha>`` is absent or complete, and a new source on the same work directory
checks the revision out whole.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reloader.gitops.source import GitError, GitSource
from tests.integration.cluster import REPO
from tests.integration.gitops.support import GitRepo

FILES = 20_000
PER_DIRECTORY = 200
SAMPLES = ("d000/f00000.yaml", "d042/f08417.yaml", "d099/f19999.yaml")
CHILD = """
import asyncio, sys
from pathlib import Path
from reloader.gitops.source import GitSource

async def main() -> None:
    source = GitSource(url=sys.argv[1], ref="main", workdir=Path(sys.argv[2]), timeout=120)
    print(await source.checkout(await source.remote_revision()), flush=True)

asyncio.run(main())
"""


@dataclass(frozen=True)
class Big:
    """A bare repository whose one commit holds ``FILES`` small files."""

    path: Path
    sha: str
    count: int

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def blob(self, rel: str) -> bytes:
        return _git(self.path, "cat-file", "blob", f"{self.sha}:{rel}")


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        check=False,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"},
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def _fast_import_stream() -> bytes:
    """One commit of ``FILES`` files, in the format of ``git fast-import``."""
    parts = [b"commit refs/heads/main\n", b"committer T <t@example.com> 1700000000 +0000\n"]
    parts.append(b"data 5\nmany\n")
    for n in range(FILES):
        body = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{n}\ndata:\n  n: '{n}'\n"
        data = body.encode()
        path = f"d{n // PER_DIRECTORY:03d}/f{n:05d}.yaml"
        parts.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
    return b"".join(parts)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the 20,000-file trees go: memory (tmpfs) when it has room, as writing them to a
    disk shared with a busy etcd can take seconds each and slows everyone's fsyncs; else
    pytest's temporary directory. Removed afterwards (pytest would keep three runs' worth).
    Renames are as atomic there as on any one filesystem."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 << 30:
        path = Path(tempfile.mkdtemp(prefix="reloader-checkout-atomic-", dir=shm))
    else:
        path = tmp_path_factory.mktemp("checkout-atomic")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def big(scratch: Path) -> Big:
    path = scratch / "remote.git"
    path.mkdir()
    _git(path, "init", "--quiet", "--bare", "-b", "main")
    _git(path, "fast-import", "--quiet", stdin=_fast_import_stream())
    sha = _git(path, "rev-parse", "main").decode().strip()
    count = len(_git(path, "ls-tree", "-r", "--name-only", sha).splitlines())
    assert count == FILES
    return Big(path=path, sha=sha, count=count)


@pytest.fixture
def workdir(scratch: Path) -> Iterator[Path]:
    """A work directory of the test's own, removed after it."""
    path = Path(tempfile.mkdtemp(prefix="test-", dir=scratch)) / "work"
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


def _files_in(tree: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(tree))


def _assert_complete(tree: Path, big: Big) -> None:
    assert not (tree / ".git").exists(), "a checkout is a plain tree of the commit"
    assert _files_in(tree) == big.count, f"{tree} holds {_files_in(tree)} of {big.count} files"
    for rel in SAMPLES:
        assert (tree / rel).read_bytes() == big.blob(rel), rel


def _temporaries(workdir: Path) -> list[Path]:
    trees = workdir / "trees"
    return sorted(trees.glob(".tmp-*")) if trees.is_dir() else []


# --- killing a process and all it started, as the end of a container does ---


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        found.setdefault(ppid, []).append(int(entry))
    return found


def _tree_of(pid: int) -> set[int]:
    children, found, todo = _children(), {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _kill_tree(pid: int) -> int:
    """SIGKILL ``pid`` and its descendants (git runs in sessions of its own, so a process
    group would not reach it); all are stopped first, so none starts another meanwhile."""
    stopped: set[int] = set()
    while True:
        everyone = _tree_of(pid)
        if everyone <= stopped:
            break
        for each in everyone - stopped:
            try:
                os.kill(each, signal.SIGSTOP)
            except ProcessLookupError:
                continue
        stopped |= everyone
    for each in stopped:
        try:
            os.kill(each, signal.SIGKILL)
        except ProcessLookupError:
            continue
    return len(stopped)


# --- moments to kill at ---

Moment = Callable[[Path], bool]


def _checking_out(workdir: Path) -> bool:
    """``checkout-index`` has begun writing the tree, aside."""
    return any((t / "tree").is_dir() and any((t / "tree").iterdir()) for t in _temporaries(workdir))


def _fetching(workdir: Path) -> bool:
    """The fetch is receiving the pack (or about to update the shallow file)."""
    repo = workdir / "repo"
    return any(repo.glob("objects/pack/tmp_pack_*")) or (repo / "shallow.lock").exists()


async def _moment(workdir: Path, reached: Moment, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if reached(workdir):
            return True
        await asyncio.sleep(0.002)
    return False


@pytest.fixture(scope="module")
def checkout_seconds(big: Big, scratch: Path) -> float:
    """How long the child takes for a whole checkout here, uninterrupted: kills are timed as
    shares of it, so they land inside the checkout on a fast machine and a loaded one."""
    workdir = scratch / "calibration"
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", CHILD, big.url, str(workdir)], cwd=REPO, check=True, timeout=120
    )
    seconds = time.monotonic() - started
    _assert_complete(workdir / "trees" / big.sha, big)
    shutil.rmtree(workdir, ignore_errors=True)
    return seconds


async def _checkout_killed(big: Big, workdir: Path, *, after: float | Moment) -> str:
    """Run a checkout in a child process and kill it ``after`` seconds, or once a moment is
    reached; what the work directory held at the kill."""
    log = workdir.parent / f"{workdir.name}.log"
    with log.open("wb") as out:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, big.url, str(workdir), cwd=REPO, stdout=out, stderr=out
        )
    if isinstance(after, float):
        await asyncio.sleep(after)
        seen = f"after {after:.2f}s"
    else:
        hit = await _moment(workdir, after, within=30)
        seen = f"at {after.__name__}" if hit else f"never {after.__name__}"
    killed = _kill_tree(child.pid)
    await asyncio.wait_for(child.wait(), 10)
    done = (workdir / "trees" / big.sha).exists()
    return f"{seen}: killed {killed} processes, tree {'complete' if done else 'absent'}"


@pytest.mark.parametrize(
    "at",
    [0.1, 0.4, 0.7, 0.95, 1.5, _fetching, _checking_out],
    ids=lambda a: a.__name__ if callable(a) else f"{a:.0%}-of-a-checkout",
)
async def test_a_checkout_killed_at_any_moment_leaves_no_partial_tree(
    big: Big, workdir: Path, checkout_seconds: float, at: float | Moment
) -> None:
    after = at * checkout_seconds if isinstance(at, float) else at
    seen = await _checkout_killed(big, workdir, after=after)
    print(seen)
    tree = workdir / "trees" / big.sha
    if after is _checking_out:
        assert "never" not in seen, "the kill was meant to land mid-checkout"
        assert not tree.exists(), "killed mid-checkout, yet the tree is in place"
        partial = [_files_in(t / "tree") for t in _temporaries(workdir)]
        assert partial, "no temporary tree left to prove the kill landed mid-checkout"
        assert all(n < big.count for n in partial), partial
    if tree.exists():
        _assert_complete(tree, big)

    source = GitSource(url=big.url, ref="main", workdir=workdir, timeout=120)
    assert await source.checkout(big.sha) == tree
    _assert_complete(tree, big)
    assert _temporaries(workdir) == [], "the killed run's temporaries were not removed"


# --- a remote that accepts the connection and never answers ---


def _running_with(text: str) -> list[str]:
    """Command lines of live processes (zombies are dead) that mention ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(cmdline)
    return found


async def test_a_remote_that_never_answers_times_out_and_leaves_no_git_behind(
    silent_remote: int, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{silent_remote}/team.git"
    source = GitSource(url=url, ref="main", workdir=tmp_path / "work", timeout=3)
    started = time.monotonic()
    with pytest.raises(GitError, match="timed out") as raised:
        await source.remote_revision()
    took = time.monotonic() - started
    assert took < 3 + 2, f"remote_revision took {took:.1f}s"
    assert "git ls-remote" in str(raised.value)
    await asyncio.sleep(0.2)
    assert _running_with(str(silent_remote)) == [], "git outlived its deadline"


async def test_ancestry_against_a_remote_that_never_answers_is_unknown_at_the_deadline(
    silent_remote: int, tmp_path: Path
) -> None:
    small = GitRepo.init(tmp_path / "small")
    small.write("README.md", "hello\n")
    sha = small.commit("first")
    workdir = tmp_path / "work"
    await GitSource(url=small.url, ref="main", workdir=workdir).checkout(sha)
    url = f"http://127.0.0.1:{silent_remote}/team.git"
    source = GitSource(url=url, ref="main", workdir=workdir, timeout=3)
    started = time.monotonic()
    assert await source.descends_from("0123456789abcdef0123456789abcdef01234567", sha) is None
    assert time.monotonic() - started < 3 + 2
    await asyncio.sleep(0.2)
    assert _running_with(str(silent_remote)) == [], "git outlived its deadline"
