"""Git through the git CLI, each call a child process with a deadline on its whole group.

Why the CLI: it is what every git server is tested against (https, ssh, file://, protocol
v2, shallow fetches), and a library that wraps it in-process leaks in long-running daemons.
Each interval costs one ``ls-remote``; a shallow fetch happens only when the revision
changed.

Deadlines: every call goes through ``reloader.processes.running``, which kills git and all
it started (``git-remote-https``, ``ssh``) when the timeout passes, without waiting on pipes
they hold. As a second line of defence, git and ssh give up on a stalled transfer by
themselves (``http.lowSpeedLimit``/``lowSpeedTime``, ssh ``ConnectTimeout`` and
``ServerAlive*``), so even a git orphaned by a killed controller ends; a gc runs in the
foreground (``gc.autoDetach=false``), inside the deadline, not as a daemon.

Crash safety: a revision's files are checked out into a temporary sibling of
``trees/<sha>`` (``git read-tree`` into a private index, ``checkout-index`` into a plain
directory) and renamed into place once git succeeded, so ``trees/<sha>`` exists only when
complete, whenever the process is killed; removal renames a tree aside first for the same
reason. Fetched objects arrive as whole packs (``fetch.unpackLimit=1``), so a fetch killed
mid-way adds nothing half-done; its lock files and temporaries are removed when a source
starts (no git of ours runs then), and a repository still unusable is made afresh.

Credentials never reach argv, logs or errors: an https token is handed to git by an askpass
script that reads it from a file or from the environment of the git process only, and is
masked in git's messages, as is any user info in a URL; an ssh key and known_hosts file go
through ``GIT_SSH_COMMAND`` with strict host key checking (the key is used from a private
copy: ssh ignores a key that others may read, which is how a Secret volume mounts it by
default). ``HOME`` is a private directory and prompts are off, so a missing credential
fails fast instead of hanging on a terminal that is not there.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import secrets
import shlex
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reloader.processes.running import Finished, ProcessError, TimedOut, run

SHA = re.compile(r"[0-9a-f]{40}")
TEMPORARY = ".tmp-"
"""Prefix of what is being made or removed under the work directory and ``trees/``."""
OUTPUT_LIMIT = 1 << 20
"""Bytes of each of git's streams kept: ls-remote of one ref, one log line, messages."""
STALL_LIMIT = 30.0
"""At most this long without progress (under 1000 bytes/s, or no ssh keepalive answer)."""
SINCE_MARGIN = 24 * 3600
"""How much further back than the old commit's date ancestry looks: committer clocks skew."""
_LEFTOVERS = ("*.lock", "refs/**/*.lock", "worktrees/*/*.lock", "objects/pack/tmp_*")
_BOILERPLATE = {  # what git adds after any ssh failure; the cause is on the lines before
    "Please make sure you have the correct access rights",
    "and the repository exists.",
}
_STALLED = re.compile(  # git's second line of defence fired: curl's or ssh's own timeout
    r"Operation too slow|Operation timed out|Connection timed out|Timeout, server .* not responding"
)
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${RELOADER_GIT_USERNAME:-x-access-token}" ;;
  *) if [ -n "$RELOADER_GIT_TOKEN_FILE" ]; then cat "$RELOADER_GIT_TOKEN_FILE";
     else printf '%s\\n' "$RELOADER_GIT_TOKEN"; fi ;;
esac
"""


class GitError(Exception):
    """A git command failed; the message is git's own, with credentials never included."""


class GitTimeout(GitError):
    """A git command ran out of time; it and everything it started were killed."""


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    ssh_key_file: str | None = None
    known_hosts_file: str | None = None
    ca_file: str | None = None


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    subject: str
    tree: str = ""
    """Its root tree's sha: commits with equal trees hold the same files."""


class GitSource:
    """One remote repository and a work directory for its checkouts."""

    def __init__(
        self,
        *,
        url: str,
        ref: str,
        workdir: Path,
        credentials: Credentials = Credentials(),
        timeout: float = 60.0,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"the git timeout must be more than zero, got {timeout!r}")
        self.url, self.ref, self.workdir, self.timeout = url, ref, workdir, timeout
        self.repo = workdir / "repo"
        self.trees = workdir / "trees"
        self.credentials = credentials
        self._ready = False

    # --- running git ---

    @property
    def _stall_seconds(self) -> int:
        return max(1, math.ceil(min(self.timeout, STALL_LIMIT)))

    def _options(self) -> list[str]:
        settings = [
            "http.lowSpeedLimit=1000",
            f"http.lowSpeedTime={self._stall_seconds}",
            "gc.autoDetach=false",
            "fetch.unpackLimit=1",
        ]
        return [arg for setting in settings for arg in ("-c", setting)]

    def _ssh_command(self, home: Path) -> str:
        stall = self._stall_seconds
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
        ssh += ["-o", f"ConnectTimeout={stall}"]
        ssh += ["-o", f"ServerAliveInterval={max(1, math.ceil(stall / 3))}"]
        ssh += ["-o", "ServerAliveCountMax=3"]
        creds = self.credentials
        if creds.ssh_key_file:
            ssh += ["-i", str(self._private_key(creds.ssh_key_file, home))]
        if creds.known_hosts_file:
            ssh += ["-o", f"UserKnownHostsFile={creds.known_hosts_file}"]
            ssh += ["-o", "StrictHostKeyChecking=yes"]
        return shlex.join(ssh)

    def _env(self, index: Path | None = None) -> dict[str, str]:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_ASKPASS": str(self._askpass()),
            "GIT_SSH_COMMAND": self._ssh_command(home),
            "LC_ALL": "C",
        }
        creds = self.credentials
        if creds.token:
            env["RELOADER_GIT_TOKEN"] = creds.token
        if creds.token_file:
            env["RELOADER_GIT_TOKEN_FILE"] = creds.token_file
        if creds.username:
            env["RELOADER_GIT_USERNAME"] = creds.username
        if creds.ca_file:
            env["GIT_SSL_CAINFO"] = creds.ca_file
        if index is not None:
            env["GIT_INDEX_FILE"] = str(index)
        return env

    @staticmethod
    def _private_key(source: str, home: Path) -> Path:
        """A copy of the key only we may read, refreshed when the mounted key is rotated."""
        key = Path(source).read_bytes()
        copy = home / "ssh-key"
        if not copy.exists() or copy.read_bytes() != key:
            fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key)
        return copy

    def _askpass(self) -> Path:
        script = self.workdir / "askpass.sh"
        if not script.exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            script.write_text(ASKPASS)
            script.chmod(0o700)
        return script

    def _masked(self, text: str) -> str:
        text = _USERINFO.sub(r"\g<scheme>***@", text)
        token = self.credentials.token
        return text.replace(token, "***") if token else text

    async def _run(
        self, *args: str, index: Path | None = None, work_tree: Path | None = None
    ) -> Finished:
        """``git args`` to its end, whatever its exit status; raises only if it could not be
        run to the end (``GitTimeout`` when its time ran out)."""
        before = [f"--work-tree={work_tree}"] if work_tree is not None else []
        try:
            return await run(
                ["git", *self._options(), *before, *args],
                cwd=self.repo,
                env=self._env(index),
                time_limit=self.timeout,
                output_limit=OUTPUT_LIMIT,
            )
        except TimedOut:
            raise GitTimeout(
                f"git {args[0]} timed out after {self.timeout:g}s; "
                "it and everything it started were killed"
            ) from None
        except ProcessError as exc:
            raise GitError(f"git {args[0]}: {exc}") from None

    async def _git(
        self, *args: str, index: Path | None = None, work_tree: Path | None = None
    ) -> str:
        """The output of ``git args``; raises ``GitError`` with git's reason if it failed."""
        done = await self._run(*args, index=index, work_tree=work_tree)
        if not done.ok:
            cause = [line for line in done.stderr_lines() if line not in _BOILERPLATE]
            said = self._masked(" / ".join(cause[-3:])) or done.status
            if _STALLED.search(said):
                raise GitTimeout(f"git {args[0]} timed out: {said}")
            raise GitError(f"git {args[0]} failed: {said}")
        if done.stdout_truncated:
            raise GitError(f"git {args[0]} printed more than {OUTPUT_LIMIT} bytes")
        return done.stdout.decode(errors="replace")

    # --- the local repository ---

    async def _ensure_repo(self) -> None:
        if self._ready:
            return
        await asyncio.to_thread(self._clear_leftovers)
        if not (self.repo / "HEAD").exists():
            await self._init()
        else:  # a workdir kept from an earlier run, perhaps for another --git-url
            try:
                await self._git("remote", "set-url", "origin", self.url)
                await self._git("worktree", "prune")  # worktrees of earlier versions
            except GitTimeout:
                raise
            except GitError:  # damaged by a run killed mid-way (say, before `remote add`)
                await self._reinit()
        self._ready = True

    def _clear_leftovers(self) -> None:
        """What a killed run left: temporaries, and git's locks and partial packs. Only when
        a source starts, as no git of ours runs in the repository then."""
        for parent in (self.workdir, self.trees):
            for temporary in parent.glob(TEMPORARY + "*") if parent.is_dir() else ():
                _remove(temporary)
        for pattern in _LEFTOVERS if self.repo.is_dir() else ():
            for leftover in self.repo.glob(pattern):
                leftover.unlink(missing_ok=True)

    async def _init(self) -> None:
        self.repo.mkdir(parents=True, exist_ok=True)
        await self._git("init", "--bare", "--quiet", ".")
        await self._git("remote", "add", "origin", self.url)

    async def _reinit(self) -> None:
        """Start the local repository afresh: it only caches what the remote holds."""
        if self.repo.exists():
            await self._dispose(self.repo)
        await self._init()

    async def _dispose(self, path: Path) -> None:
        """Remove ``path``, renaming it aside first: a removal cut short leaves a temporary,
        never a half-empty tree under a name that says it is complete."""
        aside = _renamed_aside(path)
        if aside is not None:
            await asyncio.to_thread(_remove, aside)

    async def _has(self, sha: str) -> bool:
        return (await self._run("cat-file", "-e", f"{sha}^{{commit}}")).ok

    async def _fetch_missing(self, sha: str) -> None:
        """Fetch ``sha`` shallowly unless it is here: by the ref followed (what any server
        serves), then by its sha (the ref moved on meanwhile; servers speaking protocol v2)."""
        if await self._has(sha):
            return
        targets = [sha] if SHA.fullmatch(self.ref) else [self.ref, sha]
        for target in targets:
            await self._git("fetch", "--quiet", "--depth", "1", "origin", target)
            if await self._has(sha):
                return
        raise GitError(f"commit {sha} is not on the remote")

    # --- what the loop calls ---

    async def remote_revision(self) -> str:
        """The commit the ref names on the remote now (one cheap ls-remote)."""
        if SHA.fullmatch(self.ref):
            return self.ref
        await self._ensure_repo()
        out = await self._git("ls-remote", "origin", self.ref, f"{self.ref}^{{}}")
        found: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            found[name] = sha
        for name in (
            f"refs/heads/{self.ref}",
            f"refs/tags/{self.ref}^{{}}",
            f"refs/tags/{self.ref}",
            self.ref,
        ):
            if name in found:
                return found[name]
        raise GitError(f"ref {self.ref!r} not found on the remote")

    async def checkout(self, sha: str) -> Path:
        """The complete tree of ``sha`` at ``trees/<sha>``, fetched shallowly if needed.

        The directory exists only once it is whole (made aside, then renamed into place).
        One that holds a ``.git`` is a worktree of an earlier version, which may have been
        cut short: it is made again.
        """
        if not SHA.fullmatch(sha):
            raise GitError(f"not a commit sha: {sha!r}")
        await self._ensure_repo()
        tree = self.trees / sha
        if tree.is_dir() and not (tree / ".git").exists():
            return tree
        if tree.exists() or tree.is_symlink():
            await self._dispose(tree)
        await self._fetch_missing(sha)
        try:
            await self._materialize(sha, tree)
        except GitTimeout:
            raise
        except GitError:  # objects missing or damaged here: fetch them again, once
            await self._reinit()
            await self._fetch_missing(sha)
            await self._materialize(sha, tree)
        return tree

    async def _materialize(self, sha: str, tree: Path) -> None:
        self.trees.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY}{sha}-", dir=self.trees))
        try:
            files, index = staging / "tree", staging / "index"
            files.mkdir()
            await self._git("read-tree", sha, index=index)
            await self._git("checkout-index", "--all", "--force", index=index, work_tree=files)
            _move_into_place(files, tree)
        finally:
            await asyncio.to_thread(_remove, staging)

    async def fetch(self, sha: str) -> None:
        """Have the commit ``sha`` here (shallowly fetched if needed), without checking it out."""
        if not SHA.fullmatch(sha):
            raise GitError(f"not a commit sha: {sha!r}")
        await self._ensure_repo()
        await self._fetch_missing(sha)

    async def commit(self, sha: str) -> Commit:
        out = await self._git("log", "-1", "--format=%H%x00%T%x00%an <%ae>%x00%s", sha)
        full, tree, author, subject = out.rstrip("\n").split("\x00", 3)
        return Commit(sha=full, author=author, subject=subject, tree=tree)

    async def forget_except(self, keep: Iterable[str]) -> None:
        """Remove every checkout but those of ``keep`` (and any temporary left behind)."""
        wanted = set(keep)
        if not self.trees.is_dir():
            return
        for tree in list(self.trees.iterdir()):
            if tree.name not in wanted:
                await self._dispose(tree)

    async def descends_from(self, old: str, new: str) -> bool | None:
        """Whether commit ``new`` is ``old`` or a descendant of it: False after a force-push
        that rewrote ``old`` away, None when git cannot tell (unreachable, out of time).

        The repository is shallow, so a "no" from the history at hand is checked against
        more of it: fetched back to a day before ``old`` was committed. Bounded, all of it,
        by the git timeout.
        """
        if not (SHA.fullmatch(old) and SHA.fullmatch(new)):
            return None
        if old == new:
            return True
        try:
            async with asyncio.timeout(self.timeout):
                return await self._descends_from(old, new)
        except (GitError, TimeoutError):
            return None

    async def _descends_from(self, old: str, new: str) -> bool:
        await self._ensure_repo()
        await self._fetch_missing(new)
        if await self._has(old) and await self._is_ancestor(old, new):
            return True
        if not await self._shallow():
            return False  # the history at hand is whole, and `old` is not in that of `new`
        if not await self._has(old):
            try:
                await self._git("fetch", "--quiet", "--depth", "1", "origin", old)
            except GitTimeout:
                raise
            except GitError:
                # Refused: gone from the server (rewritten away, then collected), or a server
                # that serves only what its refs name. The whole history of `new` tells.
                await self._deepen(new, "--unshallow")
                return await self._has(old) and await self._is_ancestor(old, new)
        since = await self._committed(old) - SINCE_MARGIN
        if await self._committed(new) < since:
            return False  # a rollback: `new` was committed over a margin before `old`
        await self._deepen(new, f"--shallow-since=@{max(since, 0)}")
        return await self._is_ancestor(old, new)

    async def _committed(self, sha: str) -> int:
        return int(await self._git("log", "-1", "--format=%ct", sha))

    async def _is_ancestor(self, old: str, new: str) -> bool:
        done = await self._run("merge-base", "--is-ancestor", old, new)
        if done.returncode not in (0, 1):
            said = self._masked(" / ".join(done.stderr_lines()[-3:])) or done.status
            raise GitError(f"git merge-base failed: {said}")
        return done.returncode == 0

    async def _shallow(self) -> bool:
        return (await self._git("rev-parse", "--is-shallow-repository")).strip() == "true"

    async def _deepen(self, new: str, how: str) -> None:
        """More history of ``new``: fetched by its sha, or by the ref if the server refuses."""
        try:
            await self._git("fetch", "--quiet", how, "origin", new)
        except GitTimeout:
            raise
        except GitError:
            if SHA.fullmatch(self.ref):
                raise
            await self._git("fetch", "--quiet", how, "origin", self.ref)


def _renamed_aside(path: Path) -> Path | None:
    aside = path.parent / f"{TEMPORARY}{path.name}-{secrets.token_hex(4)}"
    try:
        path.rename(aside)
    except FileNotFoundError:
        return None
    return aside


def _move_into_place(files: Path, tree: Path) -> None:
    """One rename, atomic on one filesystem: ``tree`` appears complete or not at all."""
    try:
        files.rename(tree)
    except OSError:
        if not tree.is_dir():  # else: made meanwhile, by another call
            raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
