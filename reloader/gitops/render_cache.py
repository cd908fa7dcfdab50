"""Render a revision again only when what its render depends on has changed.

``kustomize build`` of a thousand objects takes seconds, and an empty commit or a revert to a
tree already rendered would pay them again for the same objects. A render is a function of its
inputs, so the last one is kept under a :class:`RenderKey` of them:

- the commit's **root tree** sha, not the commit's: an empty commit, or any commit whose tree
  equals the last rendered one, holds the same files;
- the **settings** that shape the render: the path, and each tool as found when the key is
  taken (resolved path, size, times and inode of its file, and for kustomize and helm the
  version it reports, asked once per file), so a tool replaced in place renders anew;
- a **digest of the decryption key file's content**, read each time (a rotated Secret volume
  is a new key); kept in memory only.

Why the whole tree and not the directories the render read: kustomize confines the files a
kustomization reads to its own directory, but follows directory references in six fields and
Helm follows symlinks anywhere in the checkout, so a finer key rests on our list of what
kustomize may read; one field or symlink missed, and a changed base would be applied stale,
silently. The whole tree costs a render for a commit elsewhere in the repository, never a
wrong one. What a render could read outside the checkout is in none of these keys; such a
render (:mod:`reloader.gitops.reaching`) is never reused across commits.

A render without problems is reused for any commit of the same key. A refused one only for
the commit it was made for, as before: a new commit, even an empty one, is a fresh try at a
render that failed (a timeout, a sops error). Only the last render is kept: never two
revisions in memory at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from reloader.gitops.rendering import Rendering, RenderTools
from reloader.processes.running import ProcessError, offline_environment, run

VERSION_ARGS = {"kustomize": ("version",), "helm": ("version", "--short")}
"""How to ask each tool its version (sops would ask the network for the latest: not asked)."""
VERSION_TIME_LIMIT = 10.0


@dataclass(frozen=True)
class Tool:
    """A tool as found on disk: another file there is another tool."""

    path: str | None
    """Resolved; None when it is not installed."""
    file: tuple[int, ...] = ()
    """Size, modification and change times (ns), inode."""
    version: str = ""


@dataclass(frozen=True)
class RenderKey:
    """What a render of a revision depends on; equal keys, equal renders."""

    tree: str
    path: str
    kustomize: Tool
    helm: Tool
    sops: Tool
    decryption_key: str | None
    """A digest of the key file's content; None when none is set."""
    keep_encrypted: bool
    time_limit: float


Probe = Callable[[str, str], Awaitable[str]]
"""(tool, resolved path) to the version it reports."""


async def probe_version(tool: str, path: str) -> str:
    """What ``tool`` says its version is ("" if it cannot say), run offline."""
    args = VERSION_ARGS.get(tool)
    if args is None:
        return ""
    with tempfile.TemporaryDirectory(prefix="reloader-version-") as home:
        try:
            done = await run(
                [path, *args],
                time_limit=VERSION_TIME_LIMIT,
                env=offline_environment(Path(home)),
                output_limit=4096,
            )
        except ProcessError:
            return ""
    return done.stdout.decode(errors="replace").strip() if done.ok else ""


def _found(name: str) -> tuple[str, tuple[int, ...]] | None:
    located = shutil.which(name)
    if located is None:
        return None
    path = Path(located).resolve()
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def _key_digest(key_file: str | None) -> str | None:
    if key_file is None:
        return None
    try:
        content = Path(key_file).read_bytes()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    return hashlib.blake2b(content, digest_size=16).hexdigest()


@dataclass
class _Entry:
    key: RenderKey
    sha: str
    rendering: Rendering


class RenderCache:
    """The last render of the loop's path, and the key it was made under."""

    def __init__(self, tools: RenderTools, *, probe: Probe = probe_version) -> None:
        self.tools, self.probe = tools, probe
        self._versions: dict[tuple[str, tuple[int, ...]], str] = {}
        self._last: _Entry | None = None

    async def key(self, tree: str, path: str) -> RenderKey:
        tools = self.tools
        kustomize, helm, sops = (
            await self._tool("kustomize", tools.kustomize),
            await self._tool("helm", tools.helm),
            await self._tool("sops", tools.sops),
        )
        return RenderKey(
            tree=tree,
            path=path,
            kustomize=kustomize,
            helm=helm,
            sops=sops,
            decryption_key=await asyncio.to_thread(_key_digest, tools.decryption_key_file),
            keep_encrypted=tools.keep_encrypted,
            time_limit=tools.time_limit,
        )

    async def _tool(self, tool: str, name: str) -> Tool:
        found = await asyncio.to_thread(_found, name)
        if found is None:
            return Tool(None)
        if found not in self._versions:
            self._versions[found] = await self.probe(tool, found[0])
        return Tool(found[0], found[1], self._versions[found])

    def get(self, key: RenderKey, sha: str) -> Rendering | None:
        """The render for ``key``: any commit's when it is reusable, else only ``sha``'s own."""
        last = self._last
        if last is None or last.key != key:
            return None
        if last.sha != sha and not last.rendering.reusable:
            return None
        return last.rendering

    @property
    def sha(self) -> str | None:
        """The commit the last render was used for."""
        return None if self._last is None else self._last.sha

    def put(self, key: RenderKey, sha: str, rendering: Rendering) -> None:
        self._last = _Entry(key, sha, rendering)

    def clear(self) -> None:
        """Let the last render go before another is made (the revision's memory limits)."""
        self._last = None
