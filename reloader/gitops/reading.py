"""Read every manifest file under a path of a checkout, refusing links that leave it, and too much.

A symlink in git can point anywhere on the controller's filesystem (``/var/run/secrets``);
following it would apply, or leak into an error message, a file that is not in git. Links
that resolve inside the checkout are followed like files; any other is a problem at
``path:1``. Files are read in a thread so a large tree does not stall the event loop.

Reading is bounded so that a revision can never take the controller past its memory limit (an
OOM kill in a loop records no error anywhere): a file over :data:`MAX_FILE_BYTES`, or the file
that takes the revision over :data:`MAX_REVISION_BYTES`, is a problem at ``path:1`` naming the
limit and the size, and the revision is refused. Files are read and parsed one at a time, so
only one file's text is alive at once; what parsing keeps is bounded by
:mod:`reloader.core.manifests`' value and object limits. ``bench/parse_memory.py`` measures the
largest revision these allow, and the peak is under 60% of the GitOps container's 384 MiB.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

from reloader.core.manifests import SUFFIXES, Manifest, Problem, load_tree

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Bytes of one manifest file, alive while it is parsed (as text too for JSON: up to 4 bytes a
character). A Kubernetes object is at most ~1.5 MiB, so any one fits; bigger files can split."""
MAX_REVISION_BYTES = 16 * 1024 * 1024
"""Bytes of all the manifest files read under the path: their strings are what a revision keeps
(up to 4 bytes a character in Python)."""


def _manifest_files(root: Path, subdir: str, problems: list[Problem]) -> Iterator[tuple[str, Path]]:
    """Each manifest file under ``root/subdir`` in path order, as (relative path, real path)."""
    real_root = root.resolve()
    base = (root / subdir).resolve()
    if not base.is_relative_to(real_root) or not base.is_dir():
        problems.append(Problem(subdir, 1, "the path is not a directory inside the repository"))
        return
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames) + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            path = Path(dirpath) / name
            rel = str(path.relative_to(real_root))
            if not name.endswith(SUFFIXES):
                continue
            target = path.resolve()
            if path.is_symlink() and not target.is_relative_to(real_root):
                problems.append(Problem(rel, 1, "symlink points outside the repository; refused"))
            elif target.is_file():
                yield rel, target


def _read(rel: str, target: Path) -> bytes | Problem:
    """The file's bytes, or why it is refused (decoding them is parsing's job)."""
    with target.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)  # it may have grown since it was measured
    return _too_large(rel, len(data)) if len(data) > MAX_FILE_BYTES else data


def _too_large(rel: str, size: int) -> Problem:
    message = f"file is {size:,} bytes, more than the limit of {MAX_FILE_BYTES:,} bytes per file"
    return Problem(rel, 1, message)


def _contents(root: Path, subdir: str, problems: list[Problem]) -> Iterator[tuple[str, bytes]]:
    """Each manifest's bytes, one file at a time, until the revision's go over the limit."""
    total = 0
    files = _manifest_files(root, subdir, problems)
    for rel, target in files:
        size = target.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(_too_large(rel, size))
            continue
        if total + size > MAX_REVISION_BYTES:  # measure the rest, to say how much it is
            whole = total + size + sum(path.stat().st_size for _, path in files)
            message = (
                f"the manifest files under the path add up to {whole:,} bytes, more than the "
                f"limit of {MAX_REVISION_BYTES:,} bytes per revision; this file crosses it "
                f"(at {total + size:,} bytes)"
            )
            problems.append(Problem(rel, 1, message))
            return
        data = _read(rel, target)
        if isinstance(data, Problem):
            problems.append(data)
            continue
        total += len(data)
        yield rel, data


def read_tree_sync(root: Path, subdir: str = ".") -> tuple[list[Manifest], list[Problem]]:
    """All manifests under ``root/subdir`` and every problem found, sorted by path and line."""
    problems: list[Problem] = []
    return load_tree(_contents(root, subdir, problems), also=problems)


async def read_tree(root: Path, subdir: str = ".") -> tuple[list[Manifest], list[Problem]]:
    return await asyncio.to_thread(read_tree_sync, root, subdir)
