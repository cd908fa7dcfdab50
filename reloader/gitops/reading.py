"""Read every manifest file under a path of a checkout, refusing links that leave it.

A symlink in git can point anywhere on the controller's filesystem (``/var/run/secrets``);
following it would apply, or leak into an error message, a file that is not in git. Links
that resolve inside the checkout are followed like files; any other is a problem at
``path:1``. Files are read in a thread so a large tree does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from reloader.core.manifests import SUFFIXES, Manifest, Problem, load_tree

MAX_FILE_BYTES = 8 * 1024 * 1024


def _collect(root: Path, subdir: str) -> tuple[list[tuple[str, str]], list[Problem]]:
    real_root = root.resolve()
    base = (root / subdir).resolve()
    problems: list[Problem] = []
    files: list[tuple[str, str]] = []
    if not base.is_relative_to(real_root) or not base.is_dir():
        return [], [Problem(subdir, 1, "the path is not a directory inside the repository")]
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
                continue
            if not target.is_file():
                continue
            if target.stat().st_size > MAX_FILE_BYTES:
                problems.append(Problem(rel, 1, f"file is larger than {MAX_FILE_BYTES} bytes"))
                continue
            try:
                files.append((rel, target.read_text(encoding="utf-8")))
            except UnicodeDecodeError as exc:
                problems.append(Problem(rel, 1, f"not UTF-8 text ({exc.reason})"))
    return files, problems


def read_tree_sync(root: Path, subdir: str = ".") -> tuple[list[Manifest], list[Problem]]:
    """All manifests under ``root/subdir`` and every problem found, sorted by path and line."""
    files, problems = _collect(root, subdir)
    manifests, found = load_tree(files)
    return manifests, sorted(problems + found)


async def read_tree(root: Path, subdir: str = ".") -> tuple[list[Manifest], list[Problem]]:
    return await asyncio.to_thread(read_tree_sync, root, subdir)
