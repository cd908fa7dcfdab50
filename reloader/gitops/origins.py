"""Where a rendered object came from: kustomize's origin annotations, mapped to ``path:line``.

kustomize writes ``config.kubernetes.io/origin`` on each object when its build asks for it
(``buildMetadata: [originAnnotations]``): the source file of a resource, or the kustomization
that configured a generator. That names a file, not a line, so each source file is scanned once
(:class:`_SourceIndex`) for the documents and ``name:`` lines that tell where an object starts.
The annotation is read line by line, not as YAML (a value an author wrote there gets no parser),
and removed before anything else sees the object: it is ours, not the author's. An origin
outside the checkout (a base reached through ``../``) is refused: only git is the truth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reloader.core.manifests import SUFFIXES, Manifest, Problem, load_tree

ORIGIN = "config.kubernetes.io/origin"


def load_located(
    output: bytes, *, root: Path, wrapper: Path, fallback: str
) -> tuple[list[Manifest], list[Problem]]:
    """Parse the rendered objects as if each stood at its source's path and line."""
    files = _Sources(root=root, wrapper=wrapper, fallback=fallback)
    manifests, problems = load_tree(files.objects(output), also=files.problems)
    return [_without_origin(m) for m in manifests], problems


class _Sources:
    """Where each rendered object came from, and the source files' text to find its line."""

    def __init__(self, *, root: Path, wrapper: Path, fallback: str) -> None:
        self.root, self.wrapper, self.fallback = root, wrapper, fallback
        self.problems: list[Problem] = []
        self.indexes: dict[str, _SourceIndex] = {}
        self.places: dict[str, str | None] = {}

    def objects(self, output: bytes) -> Iterator[tuple[str, bytes]]:
        """Each object as (source path, its text padded to start at its line there)."""
        for chunk in re.split(rb"(?m)^---[ \t]*\n", output):
            if not chunk.strip():
                continue
            path, line = self._place(chunk)
            if path is None:
                continue
            parse_as = path if path.lower().endswith(SUFFIXES) else self.fallback
            yield parse_as, b"\n" * (line - 1) + chunk

    def _place(self, chunk: bytes) -> tuple[str | None, int]:
        source, generated = _origin(chunk)
        if source is None:
            return self.fallback, 1
        rel = self._in_checkout(source)
        if rel is None:
            self.problems.append(
                Problem(self.fallback, 1, f"renders {source!r}, which is outside the repository")
            )
            return None, 1
        return rel, self._line(rel, chunk, generated=generated)

    def _in_checkout(self, source: str) -> str | None:
        """The origin's path in the checkout (None: outside it), resolved once per source file:
        a thousand objects from one file cost one ``realpath``."""
        if source not in self.places:
            real = (self.wrapper / source).resolve()
            inside = real.is_relative_to(self.root)
            self.places[source] = real.relative_to(self.root).as_posix() if inside else None
        return self.places[source]

    def _line(self, rel: str, chunk: bytes, *, generated: bool) -> int:
        """The line where the object starts in its source: the document of its kind naming it,
        or for a generated object the line naming its generator, else 1."""
        index = self.indexes.get(rel)
        if index is None:
            try:
                text = (self.root / rel).read_text(errors="replace")
            except OSError:
                text = ""
            index = self.indexes[rel] = _SourceIndex(text)
        kind = _kind(chunk)
        for name in _names(chunk):  # the longest first: the most specific
            for number, document in index.names.get(name, ()):
                if generated:
                    return number + 1
                if kind in document.kinds:
                    return document.first + 1
        return 1


@dataclass
class _Document:
    first: int
    """Its first line that is not blank or a comment (0-based)."""
    kinds: set[str]


class _SourceIndex:
    """One pass over a source file: every ``name:`` line and the document it stands in, so a
    thousand objects from one file cost one scan, not one each."""

    def __init__(self, text: str) -> None:
        self.names: dict[str, list[tuple[int, _Document]]] = {}
        lines = text.splitlines()
        document = _Document(_first_content(lines, 0), set())
        for number, line in enumerate(lines):
            if line.startswith("---"):
                document = _Document(_first_content(lines, number + 1), set())
                continue
            if line.startswith("kind:"):
                document.kinds.add(_unquoted(line[5:]))
            stripped = line.strip().removeprefix("- ").strip()
            if stripped.startswith("name:"):
                self.names.setdefault(_unquoted(stripped[5:]), []).append((number, document))


def _unquoted(text: str) -> str:
    return text.strip().strip("'\"")


def _kind(chunk: bytes) -> str:
    match = re.search(rb"(?m)^kind: ['\"]?([^'\"\n]+)", chunk)
    return "" if match is None else match.group(1).decode(errors="replace").strip()


def _first_content(lines: list[str], start: int) -> int:
    for number in range(start, len(lines)):
        text = lines[number].strip()
        if text and not text.startswith("#"):
            return number
    return start


def _names(chunk: bytes) -> list[str]:
    """The object's name, then that name less prefixes and suffixes (``namePrefix``, a
    generator's hash), longest first, so a renamed object is still found where it is declared."""
    match = re.search(rb"(?m)^  name: ['\"]?([^'\"\n]+)", chunk)
    if match is None:
        return []
    parts = match.group(1).decode(errors="replace").strip().split("-")
    names = {"-".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)}
    return sorted((n for n in names if len(n) > 1), key=lambda n: (-len(n), n))


def _origin(chunk: bytes) -> tuple[str | None, bool]:
    """The source path in one rendered object's origin annotation (kustomize writes it as a
    block scalar of ``path: …`` for a resource, ``configuredIn: …`` for a generated object),
    and whether the object was generated.
    Read line by line, not as YAML: a value an author may have written there gets no parser."""
    lines = chunk.decode(errors="replace").splitlines()
    for number, text in enumerate(lines):
        if text.strip() == f"{ORIGIN}: |":
            indent = len(text) - len(text.lstrip())
            for following in lines[number + 1 :]:
                depth = len(following) - len(following.lstrip())
                if following.strip() and depth <= indent:
                    break
                key, _, value = following.strip().partition(": ")
                if depth == indent + 2 and key in ("path", "configuredIn") and value:
                    return value.strip().strip("'\""), key == "configuredIn"
    return None, False


def _without_origin(manifest: Manifest) -> Manifest:
    """The object as the author wrote it: the origin annotation is ours, not theirs."""
    metadata = manifest.obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict) or ORIGIN not in annotations:
        return manifest
    assert isinstance(metadata, dict)
    kept = {k: v for k, v in annotations.items() if k != ORIGIN}
    new_metadata = {k: v for k, v in metadata.items() if k != "annotations"}
    if kept:
        new_metadata["annotations"] = kept
    obj = {**manifest.obj, "metadata": new_metadata}
    return Manifest(manifest.path, manifest.line, obj)
