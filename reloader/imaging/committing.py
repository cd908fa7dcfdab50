"""Commit an image bump and push it, racing other pipelines safely.

Ten pipelines that each bump one app in the same repository all push at once; all but one
are rejected (non-fast-forward). Rebasing a stale diff could conflict or, worse, apply
cleanly to a file that moved on; so a rejected push starts over from the new remote head:
fetch, check it out, **apply the edit again** to what is there now, validate, commit, push.
Attempts are bounded and spaced by jittered exponential backoff, so a crowd thins out rather
than colliding in lockstep. Two pipelines bumping the same image end with the tag of the one
that lands last.

``--push`` always builds on the remote branch (or on ``--base`` when the branch is new), so
what it pushes is exactly the edit on top of what is there; local commits are not pushed, and
a work tree with uncommitted changes to tracked files is refused rather than reset.

Every git call goes through ``reloader.processes.running`` with a deadline. Talking to the
remote uses the GitOps loop's credentials (``reloader.gitops.source``: a token through an
askpass script read from a file or the environment, an ssh key through ``GIT_SSH_COMMAND``)
when any is given, else the user's own git setup; prompts are off either way, and a token
is masked in every message.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reloader.gitops.source import Credentials, GitSource
from reloader.processes.running import Finished, ProcessError, TimedOut, run

OUTPUT_LIMIT = 1 << 20
_RETRYABLE = re.compile(
    r"\[rejected\]|non-fast-forward|fetch first|stale info|cannot lock ref|failed to lock"
    r"|failed to update ref|incorrect old value"
)


class GitFailed(Exception):
    """A git command failed or timed out; git's reason, with credentials masked."""


class PushFailed(GitFailed):
    """Every attempt was rejected (or the push was refused for good)."""


@dataclass(frozen=True)
class Edited:
    """What one application of the edit changed: the files to commit and the message."""

    files: Sequence[Path]
    message: str


@dataclass(frozen=True)
class Published:
    sha: str
    pushed: bool
    """False when the remote already held the edit (nothing to push)."""
    attempts: int
    branch_existed: bool


Edit = Callable[[], Awaitable[Edited | None]]
"""Applies the edit to the work tree as it is now (and validates it); None: nothing to do."""


class Repository:
    """The user's checkout, driven through the git CLI with a deadline on every call."""

    def __init__(
        self,
        top: Path,
        *,
        timeout: float,
        credentials: Credentials | None = None,
        author: str | None = None,
    ) -> None:
        self.top, self.timeout, self.author = top, timeout, author
        self.credentials = credentials
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    async def containing(
        cls,
        directory: Path,
        *,
        git_timeout: float,
        credentials: Credentials | None = None,
        author: str | None = None,
    ) -> Repository:
        """The repository whose work tree holds ``directory``."""
        probe = cls(directory, timeout=git_timeout)
        top = (await probe.git("rev-parse", "--show-toplevel")).strip()
        return cls(Path(top), timeout=git_timeout, credentials=credentials, author=author)

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def _transport(self) -> GitSource | None:
        """The GitOps loop's git environment, when reloader was given credentials."""
        creds = self.credentials
        if creds is None or creds == Credentials():
            return None
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="reloader-image-")
        return GitSource(
            url="-",
            ref="-",
            workdir=Path(self._scratch.name),
            credentials=creds,
            timeout=self.timeout,
        )

    def _masked(self, text: str) -> str:
        source = self._transport()
        if source is not None:
            return source._masked(text)
        token = self.credentials.token if self.credentials else None
        return text.replace(token, "***") if token else text

    async def _run(self, *args: str, stdin: bytes | None = None, remote: bool = False) -> Finished:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        options: list[str] = []
        source = self._transport() if remote else None
        if source is not None:  # the loop's credentials, home and stall limits
            env, options = source._env(), source._options()
        if self.author and args[0] == "commit":
            name, email = _author(self.author)
            options += ["-c", f"user.name={name}", "-c", f"user.email={email}"]
        try:
            return await run(
                ["git", *options, *args],
                cwd=self.top,
                env=env,
                stdin=stdin,
                time_limit=self.timeout,
                output_limit=OUTPUT_LIMIT,
            )
        except TimedOut:
            raise GitFailed(f"git {args[0]} timed out after {self.timeout:g}s") from None
        except ProcessError as exc:
            raise GitFailed(f"git {args[0]}: {exc}") from None

    def _failure(self, args: Sequence[str], done: Finished) -> GitFailed:
        lines = done.stdout.decode(errors="replace").splitlines() + done.stderr_lines()
        said = " / ".join(ln.strip() for ln in lines if ln.strip() and not ln.startswith("hint:"))
        return GitFailed(f"git {args[0]} failed: {self._masked(said[-600:]) or done.status}")

    async def git(self, *args: str, stdin: bytes | None = None, remote: bool = False) -> str:
        """``git args`` in the work tree; its output, or ``GitFailed`` with git's reason."""
        done = await self._run(*args, stdin=stdin, remote=remote)
        if not done.ok:
            raise self._failure(args, done)
        return done.stdout.decode(errors="replace")

    async def commit(self, files: Sequence[Path], message: str) -> str:
        """Commit ``files`` only (whatever else is staged stays staged); the new sha."""
        paths = [str(f) for f in files]
        await self.git("add", "--", *paths)
        try:
            await self.git(
                "commit", "--quiet", "--no-verify", "-F", "-", "--", *paths, stdin=message.encode()
            )
        except GitFailed as exc:
            if "identity" in str(exc) or "user.email" in str(exc):
                raise GitFailed(f"{exc} (give --author 'Name <email>')") from None
            raise
        return (await self.git("rev-parse", "HEAD")).strip()

    async def dirty(self) -> list[str]:
        """Tracked files with uncommitted changes."""
        out = await self.git("status", "--porcelain", "--untracked-files=no")
        return [line[3:] for line in out.splitlines() if line.strip()]

    async def remote_heads(self, remote: str, *branches: str) -> dict[str, str]:
        out = await self.git(
            "ls-remote", "--heads", remote, *[f"refs/heads/{b}" for b in branches], remote=True
        )
        heads = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            heads[ref.removeprefix("refs/heads/")] = sha
        return heads

    async def fetch(self, remote: str, branch: str) -> str:
        """Fetch ``branch`` of ``remote``; its head's sha (shallowly in a shallow clone)."""
        shallow = (await self.git("rev-parse", "--is-shallow-repository")).strip() == "true"
        depth = ["--depth", "1"] if shallow else []
        await self.git(
            "fetch", "--quiet", "--no-tags", *depth, remote, f"refs/heads/{branch}", remote=True
        )
        return (await self.git("rev-parse", "FETCH_HEAD")).strip()

    async def push(self, remote: str, branch: str) -> bool:
        """Push HEAD to ``branch``: True if it landed, False if someone else pushed first."""
        args = ("push", "--porcelain", remote, f"HEAD:refs/heads/{branch}")
        done = await self._run(*args, remote=True)
        if done.ok:
            return True
        output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        if _RETRYABLE.search(output):
            return False
        raise self._failure(args, done)


def _author(text: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*(.*?)\s*<([^<>\s]+)>\s*", text)
    if match is None or not match.group(1):
        raise ValueError(f"--author {text!r}: want 'Name <email>'")
    return match.group(1), match.group(2)


def check_author(text: str | None) -> None:
    """Raise ValueError for an ``--author`` that is not ``Name <email>``."""
    if text is not None:
        _author(text)


async def publish(
    repo: Repository,
    *,
    edit: Edit,
    remote: str,
    branch: str,
    base: str,
    attempts: int,
    backoff: float = 0.5,
    max_backoff: float = 8.0,
    say: Callable[[str], None] = lambda _: None,
) -> Published:
    """Apply ``edit`` on the remote head of ``branch`` (or ``base`` for a new branch),
    commit and push; on a rejection start over from the new head, at most ``attempts``
    times. Raises ``PushFailed``, ``GitFailed``, or whatever ``edit`` raises (then nothing
    was pushed)."""
    dirty = await repo.dirty()
    if dirty:
        raise GitFailed(
            f"uncommitted changes to {', '.join(dirty[:5])}: --push starts from the remote "
            "branch and would reset them; commit or stash them first"
        )
    existed = False
    for attempt in range(1, attempts + 1):
        heads = await repo.remote_heads(remote, branch, base)
        existed = branch in heads
        start = branch if existed else base
        if start not in heads:
            raise GitFailed(f"neither {branch} nor the base {base} is a branch of {remote}")
        head = await repo.fetch(remote, start)
        await repo.git("checkout", "--quiet", "-B", branch, head)
        edited = await edit()
        if edited is None:
            return Published(head, pushed=False, attempts=attempt, branch_existed=existed)
        sha = await repo.commit(edited.files, edited.message)
        if await repo.push(remote, branch):
            return Published(sha, pushed=True, attempts=attempt, branch_existed=existed)
        delay = min(max_backoff, backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
        say(
            f"push to {branch} rejected: {remote} moved on; retrying on its new head "
            f"in {delay:.1f}s (attempt {attempt + 1} of {attempts})"
        )
        if attempt < attempts:
            await asyncio.sleep(delay)
    raise PushFailed(f"{branch} moved on {attempts} times while pushing; nothing of ours landed")
