"""``reloader image set`` over a directory: plan every file, then write them all or none.

Every file is planned before any is written, so a refusal anywhere (an alias, a block
scalar) leaves the whole tree untouched. A change that names nothing under the path is
recorded as a new ``images:`` entry of the path's own kustomization, when it has one, as
``kustomize edit set image`` would; otherwise it is reported as unmatched.

Writes are atomic per file (a temporary sibling, the old mode, fsync, one rename), so a
killed run leaves each file old or new, never half written.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from reloader.imaging import editing
from reloader.imaging.editing import Change, Plan, Refused, Targets
from reloader.imaging.locating import KUSTOMIZATION_FILES, CustomPath
from reloader.imaging.locating import Path as KeyPath
from reloader.imaging.references import ImageChange

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class FileEdit:
    path: Path
    shown: str
    """The file as the user named it (under the --path they gave)."""
    old: str
    new: str
    changes: list[Change]


@dataclass
class Outcome:
    files: list[FileEdit] = field(default_factory=list)
    """Files whose text changes."""
    changes: list[tuple[str, Change]] = field(default_factory=list)
    """Every reference that matched (changed or already as asked), with its file."""
    skipped: list[str] = field(default_factory=list)
    """``path:line: why`` of files that name an image but could not be read as YAML."""
    unmatched: list[ImageChange] = field(default_factory=list)


def plan_tree(
    root: Path,
    *,
    shown_root: str,
    changes: Sequence[ImageChange],
    custom: Sequence[CustomPath] = (),
    helm_values: Mapping[str, Sequence[KeyPath]] | None = None,
) -> Outcome:
    """What ``changes`` do to the YAML files under ``root``; raises ``Refused`` naming
    ``path:line`` when a file cannot be edited exactly."""
    helm_values = helm_values or {}
    for name in helm_values:
        if not (root / name).is_file():
            raise Refused(f"--helm-values: no file {os.path.join(shown_root, name)}")
    outcome = Outcome()
    plans: dict[Path, tuple[str, str, Plan]] = {}
    for path in _files(root, extra=[root / n for n in helm_values]):
        rel = path.relative_to(root).as_posix()
        shown = os.path.normpath(os.path.join(shown_root, rel))
        targets = Targets(custom=custom, helm_keys=helm_values.get(rel, ()))
        read = _read(path, shown, changes)
        if read is None:
            continue
        text, problem = read
        if problem:
            outcome.skipped.append(problem)
            continue
        try:
            planned = editing.plan(text, filename=path.name, changes=changes, targets=targets)
        except Refused as exc:
            raise Refused(f"{shown}:{exc}") from None
        except yaml.YAMLError as exc:
            outcome.skipped.append(_not_yaml(shown, exc))
            continue
        plans[path] = (shown, text, planned)
    matched = {image for _, _, p in plans.values() for image in p.matched}
    outcome.unmatched = [c for c in changes if c.name not in matched]
    own = _own_kustomization(root)
    if outcome.unmatched and own is not None and own in plans:
        shown, text, _ = plans[own]
        targets = Targets(custom=custom, helm_keys=helm_values.get(own.name, ()))
        try:
            planned = editing.plan(
                text, filename=own.name, changes=changes, targets=targets, add=outcome.unmatched
            )
        except Refused as exc:
            raise Refused(f"{shown}:{exc}") from None
        plans[own] = (shown, text, planned)
        outcome.unmatched = []
    for path, (shown, text, planned) in plans.items():
        outcome.changes += [(shown, c) for c in planned.changes]
        if not planned.splices:
            continue
        new = editing.splice(text, planned.splices)
        try:
            editing.verify(text, new, planned.expects)
        except Refused as exc:
            raise Refused(f"{shown}: {exc}") from None
        outcome.files.append(FileEdit(path, shown, text, new, planned.changes))
    return outcome


def _files(root: Path, *, extra: Sequence[Path]) -> Iterator[Path]:
    """YAML files under ``root`` (not in hidden directories, not through links), sorted."""
    found = set(extra)
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in names:
            path = Path(directory) / name
            if (path.suffix in SUFFIXES or name in KUSTOMIZATION_FILES) and not path.is_symlink():
                found.add(path)
    yield from sorted(found)


def _own_kustomization(root: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (root / name).is_file():
            return root / name
    return None


def _read(path: Path, shown: str, changes: Sequence[ImageChange]) -> tuple[str, str] | None:
    """The file's text (every byte kept: no newline translation), or a problem to report
    when it names an image but is not UTF-8; None when it is neither."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        if any(c.name.encode() in data for c in changes):
            return "", f"{shown}: skipped, not UTF-8"
        return None


def _not_yaml(shown: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f":{mark.line + 1}" if mark is not None else ""
    return f"{shown}{where}: skipped, not YAML ({getattr(exc, 'problem', None) or exc})"


def diff(files: Sequence[FileEdit]) -> str:
    """A unified diff of the edits, as ``git diff`` would show them."""
    out: list[str] = []
    for f in files:
        out += difflib.unified_diff(
            f.old.splitlines(keepends=True),
            f.new.splitlines(keepends=True),
            fromfile=f"a/{f.shown}",
            tofile=f"b/{f.shown}",
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def write(files: Sequence[FileEdit]) -> None:
    for f in files:
        write_atomically(f.path, f.new.encode("utf-8"))


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` with one rename, keeping its mode."""
    mode = path.stat().st_mode & 0o7777
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
