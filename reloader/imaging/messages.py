"""The commit message (and pull request text) of an image bump.

The subject names the images and where they go, so ``git log --oneline`` reads as a release
history; the body lists every reference changed as ``path:line: old -> new``, the same lines
the command prints, so a reviewer sees in the message what the diff shows.
"""

from __future__ import annotations

from collections.abc import Sequence

from reloader.imaging.editing import Change
from reloader.imaging.references import ImageChange

SUBJECT_LIMIT = 72


def subject(changes: Sequence[ImageChange], edited: Sequence[tuple[str, Change]]) -> str:
    names = [c.name for c in changes if any(e.image == c.name for _, e in edited)]
    if len(names) == 1:
        target = next(c.target for c in changes if c.name == names[0])
        text = f"Set image {names[0]} to {target}"
    else:
        text = f"Set images {', '.join(names)}"
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def body(edited: Sequence[tuple[str, Change]]) -> str:
    """One line per reference that changed (references already as asked are left out)."""
    return "\n".join(f"{path}:{c.line}: {c.old} -> {c.new}" for path, c in edited if c.old != c.new)


def message(changes: Sequence[ImageChange], edited: Sequence[tuple[str, Change]]) -> str:
    changed = [(path, c) for path, c in edited if c.old != c.new]
    return f"{subject(changes, changed)}\n\n{body(changed)}\n"
