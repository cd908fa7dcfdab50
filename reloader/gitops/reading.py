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

Not every file under the path is read: :mod:`reloader.core.ignoring` says which are skipped (hidden
paths, CI files, ``.sourceignore``, kustomize's build files, Helm charts) and why. A
``.sourceignore`` is read under the same rules as a manifest: inside the checkout, and at most
:data:`MAX_FILE_BYTES`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from reloader.core.ignoring import CHART_FILE, IGNORE_FILE, Ignore, build_input, is_chart
from reloader.core.manifests import SUFFIXES, Manifest, Problem, load_tree

MAX_FILE_BYTES = 4 * 1024 * 1024
"""Bytes of one manifest file, alive while it is parsed (as text too for JSON: up to 4 bytes a
character). A Kubernetes object is at most ~1.5 MiB, so any one fits; bigger files can split."""
MAX_REVISION_BYTES = 16 * 1024 * 1024
"""Bytes of all the manifest files read under the path: their strings are what a revision keeps
(up to 4 bytes a character in Python)."""


def _inside(path: Path, real_root: Path, rel: str, problems: list[Problem]) -> Path | None:
    """Where ``path`` leads, if that is a file inside the checkout (a link out is a problem)."""
    target = path.resolve()
    if path.is_symlink() and not target.is_relative_to(real_root):
        problems.append(Problem(rel, 1, "symlink points outside the repository; refused"))
        return None
    return target if target.is_file() else None


def _with_ignore_file(
    ignore: Ignore, directory: Path, real_root: Path, problems: list[Problem]
) -> Ignore:
    """``ignore`` and the rules of the directory's ``.sourceignore``, if it has one."""
    rel_dir = directory.relative_to(real_root).as_posix()
    rel = (PurePosixPath(rel_dir) / IGNORE_FILE).as_posix()
    target = _inside(directory / IGNORE_FILE, real_root, rel, problems)
    if target is None:
        return ignore
    size = target.stat().st_size
    data = _too_large(rel, size) if size > MAX_FILE_BYTES else _read(rel, target)
    if isinstance(data, Problem):
        problems.append(data)
        return ignore
    try:
        return ignore.with_file(rel_dir, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        problems.append(Problem(rel, 1, f"not UTF-8 text ({exc.reason})"))
        return ignore


def _manifest_files(root: Path, subdir: str, problems: list[Problem]) -> Iterator[tuple[str, Path]]:
    """Each manifest file under ``root/subdir`` in path order, as (relative path, real path),
    leaving out what :mod:`reloader.core.ignoring` excludes."""
    real_root = root.resolve()
    base = (root / subdir).resolve()
    if not base.is_relative_to(real_root) or not base.is_dir():
        problems.append(Problem(subdir, 1, "the path is not a directory inside the repository"))
        return
    ignore = Ignore(PurePosixPath(base.relative_to(real_root).as_posix()))
    for directory in reversed([base, *base.parents]):  # the root's rules first
        if directory.is_relative_to(real_root) and directory != base:
            ignore = _with_ignore_file(ignore, directory, real_root, problems)
    rules = {base: _with_ignore_file(ignore, base, real_root, problems)}
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        ignore = rules.pop(here)
        if is_chart(filenames):
            dirnames[:] = []
            if here == base:
                rel = str((here / CHART_FILE).relative_to(real_root))
                message = "the path is a Helm chart: its templates are not manifests until rendered"
                problems.append(Problem(rel, 1, message))
            continue

        def kept(path: Path, *, is_dir: bool, ignore: Ignore = ignore) -> bool:
            return not ignore.excluded(path.relative_to(real_root).as_posix(), is_dir=is_dir)

        linked = [d for d in dirnames if (here / d).is_symlink()]  # read like files, if at all
        dirnames[:] = sorted(
            d for d in dirnames if d != ".git" and d not in linked and kept(here / d, is_dir=True)
        )
        for name in dirnames:
            rules[here / name] = _with_ignore_file(ignore, here / name, real_root, problems)
        for name in sorted(filenames) + sorted(linked):
            path = here / name
            if not name.endswith(SUFFIXES) or build_input(name) or not kept(path, is_dir=False):
                continue
            target = _inside(path, real_root, str(path.relative_to(real_root)), problems)
            if target is not None:
                yield str(path.relative_to(real_root)), target


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
