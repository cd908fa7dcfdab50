"""Git through the git CLI, run asynchronously with a timeout on every call.

Why the CLI: it is what every git server is tested against (https, ssh, file://, protocol
v2, shallow fetches), and a library that wraps it in-process leaks in long-running daemons.
Each interval costs one ``ls-remote``; a shallow fetch happens only when the revision
changed, and each revision gets a clean checkout of its own, so a half-written tree is never
applied.

Credentials never reach argv or logs: an https token is handed to git by an askpass script
that reads it from a file or from the environment of the git process only; an ssh key and
known_hosts file go through ``GIT_SSH_COMMAND`` with strict host key checking (the key is
used from a private copy: ssh ignores a key that others may read, which is how a Secret
volume mounts it by default). ``HOME`` is a private directory and prompts are off, so a
missing credential fails fast instead of hanging on a terminal that is not there.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

SHA = re.compile(r"[0-9a-f]{40}")
_BOILERPLATE = {  # what git adds after any ssh failure; the cause is on the lines before
    "Please make sure you have the correct access rights",
    "and the repository exists.",
}
ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${RELOADER_GIT_USERNAME:-x-access-token}" ;;
  *) if [ -n "$RELOADER_GIT_TOKEN_FILE" ]; then cat "$RELOADER_GIT_TOKEN_FILE";
     else printf '%s\\n' "$RELOADER_GIT_TOKEN"; fi ;;
esac
"""


class GitError(Exception):
    """A git command failed; the message is git's own, with credentials never included."""


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
        self.url, self.ref, self.workdir, self.timeout = url, ref, workdir, timeout
        self.repo = workdir / "repo"
        self.credentials = credentials
        self._ready = False

    def _env(self) -> dict[str, str]:
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_ASKPASS": str(self._askpass()),
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
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
        if creds.ssh_key_file:
            ssh += ["-i", str(self._private_key(creds.ssh_key_file, home))]
        if creds.known_hosts_file:
            ssh += ["-o", f"UserKnownHostsFile={creds.known_hosts_file}"]
            ssh += ["-o", "StrictHostKeyChecking=yes"]
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
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

    async def _git(self, *args: str, cwd: Path | None = None) -> str:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd or self.repo,
            env=self._env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise GitError(f"git {args[0]} timed out after {self.timeout:.0f}s") from None
        if proc.returncode != 0:
            said = [line.strip() for line in err.decode(errors="replace").splitlines()]
            cause = [line for line in said if line and line not in _BOILERPLATE]
            raise GitError(f"git {args[0]} failed: {' / '.join(cause[-3:]) or proc.returncode}")
        return out.decode(errors="replace")

    async def _ensure_repo(self) -> None:
        if self._ready:
            return
        if not (self.repo / "HEAD").exists():
            self.repo.mkdir(parents=True, exist_ok=True)
            await self._git("init", "--bare", "--quiet", ".")
            await self._git("remote", "add", "origin", self.url)
        else:  # a workdir kept from an earlier run, perhaps for another --git-url
            await self._git("remote", "set-url", "origin", self.url)
        self._ready = True

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
        """A clean tree of ``sha`` in a directory of its own (fetched shallowly if needed)."""
        await self._ensure_repo()
        tree = self.workdir / "trees" / sha
        if (tree / ".git").exists():
            return tree
        try:
            await self._git("cat-file", "-e", f"{sha}^{{commit}}")
        except GitError:
            target = sha if SHA.fullmatch(self.ref) else self.ref
            await self._git("fetch", "--quiet", "--depth", "1", "origin", target)
            await self._git("cat-file", "-e", f"{sha}^{{commit}}")
        if tree.exists():
            shutil.rmtree(tree)
        tree.parent.mkdir(parents=True, exist_ok=True)
        await self._git("worktree", "prune")
        await self._git("worktree", "add", "--quiet", "--detach", str(tree), sha)
        return tree

    async def commit(self, sha: str) -> Commit:
        out = await self._git("log", "-1", "--format=%H%x00%an <%ae>%x00%s", sha)
        full, author, subject = out.rstrip("\n").split("\x00", 2)
        return Commit(sha=full, author=author, subject=subject)

    async def forget_except(self, keep: set[str]) -> None:
        """Remove checkouts of revisions no longer needed."""
        trees = self.workdir / "trees"
        for tree in trees.iterdir() if trees.exists() else ():
            if tree.name not in keep:
                shutil.rmtree(tree, ignore_errors=True)
        await self._git("worktree", "prune")
