"""Read a git revision's manifests, refusing whatever kubectl would read differently or not at all.

Pure: the caller reads files and passes ``(relative_path, text)`` pairs (text or UTF-8 bytes);
every problem names ``path:line``, and a revision's problems are reported together (the first
:data:`MAX_PROBLEMS`). Everything is refused here, while decoding, never later: ``reloader
validate`` and the loop share this and give the same verdict, and what is accepted is plain
JSON (:mod:`reloader.core.decoding`).

- YAML (:mod:`reloader.core.decoding_yaml`): libyaml's parser events, turned into values one at
  a time with PyYAML's YAML 1.1 resolver. Refused: anchors and aliases (so a "billion laughs"
  is never expanded), merge keys, duplicate keys (PyYAML keeps the last), and what has no JSON
  form: ``!!binary``, ``!!set``, ``!!omap``, ``!!pairs``, unknown tags (``!Ref``), a scalar its
  tag does not fit (``!!int abc``), ``.inf``, ``.nan`` and floats out of range (``1.0e+999``),
  integers of more than 4300 digits, control characters, null and float keys.
- Scalars follow YAML 1.1 like kubectl's go-yaml v2 (sigs.k8s.io/yaml). Checked against its
  resolver: ``NO``, ``yes``, ``on`` are booleans and ``0755`` is 493 in both; timestamps and ``=``
  are strings, as there (PyYAML alone makes a ``date``, which is not JSON, or fails). They differ
  on ``y``, ``n``, ``1e5``, ``0o755`` (strings here) and ``1:20`` (a base-60 int here). Keys may
  be strings, integers or booleans, kept as read: JSON writes ``1`` and ``true`` as the names
  "1" and "true", as kubectl does; two keys with the same JSON name are duplicates.
- JSON (:mod:`reloader.core.decoding_json`): :mod:`json` (libyaml refuses some valid JSON:
  surrogate pairs), refusing ``NaN``, ``Infinity``, ``1e999``, huge integers, lone surrogates
  and duplicate keys, each at its line.
- Empty and ``null`` documents are skipped, as kubectl does; a ``v1`` ``List`` is expanded into its
  items, each at its own line. A manifest's line is its first key's, not that of ``---``.
- A problem never quotes a scalar's value, which may be a Secret's (``password: !!int hunter2``
  says "not a valid !!int"): only tags, types, keys and object names.

Limits. Memory follows what a revision holds, not its bytes: a value costs 30 to 100 bytes of
Python objects whether its text took 2 bytes or 20 (``[{},{},...]``). So values and objects are
counted while they are read (one :class:`Budget` a revision), and reading stops at the first one
over a limit; ``reloader.gitops.reading`` adds limits on bytes, per file and per revision.
``bench/parse_memory.py`` measures the largest revision they all allow (see the README).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import xxhash

from reloader.core import decoding, decoding_json, decoding_yaml
from reloader.core.decoding import ALIASES_REFUSED, Budget, shown

__all__ = [
    "ALIASES_REFUSED",
    "MAX_DEPTH",
    "MAX_PROBLEMS",
    "MAX_PROBLEMS_PER_FILE",
    "MAX_REVISION_OBJECTS",
    "MAX_REVISION_VALUES",
    "SUFFIXES",
    "Budget",
    "Manifest",
    "Problem",
    "digest_of",
    "load_documents",
    "load_tree",
    "revision_budget",
    "validate",
]

SUFFIXES = (".yaml", ".yml", ".json")

MAX_REVISION_VALUES = 400_000
"""Scalars, sequences and mappings (keys included) in a revision: at most ~50 MiB of objects,
about 4 MiB of dense YAML (Deployments: ~11 bytes a value), all of 16 MiB of CRDs (~45)."""
MAX_REVISION_OBJECTS = 50_000
"""Objects (documents, List items) in a revision: each also costs a Manifest and its checks."""
MAX_DEPTH = 100
"""How deeply values may nest: much deeper breaks json.dumps and copy.deepcopy later."""
MAX_PROBLEMS_PER_FILE = 100
"""Problems reported per file; reading the file stops there (its revision is refused anyway)."""
MAX_PROBLEMS = 1000
"""Problems reported per revision, the first in (path, line) order, then how many more."""

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE, _SUBDOMAIN_RE = re.compile(_LABEL), re.compile(rf"{_LABEL}(\.{_LABEL})*")
_API_VERSION_RE = re.compile(r"[^/\s]+(/[^/\s]+)?")


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object as written in git, and where it starts.

    ``obj`` is never changed once read (stamping copies it), so what is derived from it is
    computed once: a sync of a thousand objects asks for these many times per cycle.
    """

    path: str
    line: int
    obj: dict[str, Any] = field(hash=False)

    def _text(self, *path: str) -> str:
        value: Any = self.obj
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value if isinstance(value, str) else ""

    @cached_property
    def api_version(self) -> str:
        return self._text("apiVersion")

    @cached_property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @cached_property
    def kind(self) -> str:
        return self._text("kind")

    @cached_property
    def name(self) -> str:
        return self._text("metadata", "name")

    @cached_property
    def namespace(self) -> str | None:
        return self._text("metadata", "namespace") or None

    @cached_property
    def key(self) -> tuple[str, str, str, str]:
        """Identity in a cluster: (group, kind, namespace or "", name); versions are one object."""
        return (self.group, self.kind, self.namespace or "", self.name)

    @cached_property
    def digest(self) -> str:
        """Of the object as written: equal digests, the same object (keys in any order)."""
        return digest_of(self.obj)


def digest_of(obj: Any) -> str:
    """xxh3 of canonical JSON: equal for equal objects whatever their keys' order."""
    try:
        canonical = json.dumps(obj, sort_keys=True)
    except TypeError:  # keys of mixed types (1 and "a") do not sort: compare their JSON names
        canonical = json.dumps(_named(obj), sort_keys=True)
    return xxhash.xxh3_64_hexdigest(canonical.encode())


def _named(value: Any) -> Any:
    """``value`` with every key as the name JSON writes for it (``True`` is "true")."""
    if isinstance(value, dict):
        return {decoding.json_name(key): _named(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_named(item) for item in value]
    return value


@dataclass(frozen=True, order=True)
class Problem:
    """Why a revision cannot be applied, at a 1-based line of a repository-relative path."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def revision_budget() -> Budget:
    """What one revision may hold, from this module's limits (read when called)."""
    return Budget(
        values=MAX_REVISION_VALUES,
        depth=MAX_DEPTH,
        problems=MAX_PROBLEMS_PER_FILE,
        objects=MAX_REVISION_OBJECTS,
        values_limit=MAX_REVISION_VALUES,
        objects_limit=MAX_REVISION_OBJECTS,
    )


def load_documents(
    path: str, text: str | bytes, *, budget: Budget | None = None
) -> tuple[list[Manifest], list[Problem]]:
    """The objects in one file (YAML or JSON, by suffix) and the problems that refuse them.

    ``text`` may be the file's bytes, which must be UTF-8: YAML is then parsed from them as
    they are, without a str of the whole file. ``budget`` is what the revision may still hold
    (a fresh :func:`revision_budget` if none); once it is exhausted, the file is read no
    further and ``budget.exhausted`` says so.
    """
    lower = path.lower()
    if not lower.endswith(SUFFIXES):
        return [], [Problem(path, 1, "not a manifest: expected .yaml, .yml or .json")]
    if (refused := decoding.not_text(text)) is not None:
        return [], [Problem(path, *refused)]
    budget = budget or revision_budget()
    if lower.endswith(".json"):
        json_text = decoding.text_of(text)  # lines are counted in "\n"s
        decoded = decoding_json.read_json(json_text, budget)
    else:
        decoded = decoding_yaml.read_yaml(text, budget)
    manifests: list[Manifest] = []
    problems = [Problem(path, line, message) for line, message in decoded.problems]
    for line, value, yaml_lines in decoded.documents:
        json_list = lower.endswith(".json") and decoding.is_v1_list(value)
        lines = _json_item_lines(json_text, value) if json_list else yaml_lines  # when needed
        found, refused_here = _objects(path, line, value, lines)
        problems += refused_here
        manifests += found
    return manifests, problems


def _json_item_lines(text: str, value: dict[str, Any]) -> dict[int, int]:
    items = value.get("items")
    if not isinstance(items, list):
        return {}
    objects = (item for item in items if isinstance(item, dict))
    lines = decoding_json.json_item_lines(text)
    return {id(item): line for item, line in zip(objects, lines, strict=False)}


def _objects(
    path: str, line: int, value: Any, lines: dict[int, int]
) -> tuple[list[Manifest], list[Problem]]:
    """The manifests of one document: itself, or a ``v1`` ``List``'s items."""
    if not isinstance(value, dict):
        return [], [Problem(path, line, f"document must be a mapping, not {type(value).__name__}")]
    if not decoding.is_v1_list(value):
        return [Manifest(path, line, value)], []
    items = value.get("items") or []
    if not isinstance(items, list):
        return [], [Problem(path, line, "List items must be a sequence")]
    manifests: list[Manifest] = []
    problems: list[Problem] = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            manifests.append(Manifest(path, lines.get(id(item), line), item))
        else:
            problems.append(Problem(path, line, f"List item {i} is not a mapping"))
    return manifests, problems


def _errors(manifest: Manifest) -> Iterator[str]:
    api_version, metadata = manifest.obj.get("apiVersion"), manifest.obj.get("metadata")
    if not isinstance(api_version, str) or not _API_VERSION_RE.fullmatch(api_version):
        yield "apiVersion must be a string like v1 or group/version"
    if not manifest.kind:
        yield "kind must be a non-empty string"
    if not isinstance(metadata, dict):
        yield "metadata is required" if metadata is None else "metadata must be a mapping"
        return
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not name:
        yield "metadata.name must be a non-empty string"
    elif manifest.group == "rbac.authorization.k8s.io":  # any path segment, "system:metrics" too
        if name in (".", "..") or "/" in name or "%" in name:
            yield f"metadata.name {shown(name)} must not be '.' or '..' or contain '/' or '%'"
    elif len(name) > 253 or not _SUBDOMAIN_RE.fullmatch(name):
        rule = "a DNS subdomain (a-z, 0-9, '-', '.'; at most 253)"
        yield f"metadata.name {shown(name)} must be {rule}"
    if namespace not in (None, "") and not (
        isinstance(namespace, str) and len(namespace) <= 63 and _LABEL_RE.fullmatch(namespace)
    ):
        rule = "a DNS label (a-z, 0-9, '-'; at most 63)"
        yield f"metadata.namespace {shown(namespace)} must be {rule}"


def _checks(manifests: Sequence[Manifest]) -> Iterator[Problem]:
    first: dict[tuple[str, str, str, str], Manifest] = {}
    for manifest in sorted(manifests, key=lambda m: (m.path, m.line)):
        errors = list(_errors(manifest))
        if not errors and (seen := first.setdefault(manifest.key, manifest)) is not manifest:
            errors.append(f"duplicate of {seen.path}:{seen.line}")
        yield from (Problem(manifest.path, manifest.line, error) for error in errors)


def validate(manifests: Sequence[Manifest]) -> list[Problem]:
    """Required fields, valid names, and no object defined twice (reported at the later one)."""
    return sorted(_checks(manifests))


class _Kept:
    """The first ``limit`` problems in order, in bounded memory, and how many more there were."""

    def __init__(self, limit: int) -> None:
        self.limit, self.problems, self.dropped = limit, list[Problem](), 0

    def add(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.problems.append(problem)
            if len(self.problems) >= 2 * self.limit:
                self._trim()

    def _trim(self) -> None:
        self.problems.sort()
        self.dropped += max(0, len(self.problems) - self.limit)
        del self.problems[self.limit :]

    def result(self) -> list[Problem]:
        self._trim()
        if self.dropped:
            last = self.problems[-1]
            note = f"{self.dropped} more problems are not shown (the first {self.limit} are)"
            self.problems.append(Problem(last.path, last.line, note))
        return self.problems


def load_tree(
    files: Iterable[tuple[str, str | bytes]], *, also: Iterable[Problem] = ()
) -> tuple[list[Manifest], list[Problem]]:
    """Load and validate a whole revision; both lists come back sorted by (path, line).

    ``files`` is consumed one file at a time (only one text need be alive), and no further once
    the revision's :func:`revision_budget` is exhausted. ``also``, problems found while reading
    the files, is iterated after them and reported with the rest.
    """
    budget, kept, manifests = revision_budget(), _Kept(MAX_PROBLEMS), list[Manifest]()
    for path, text in files:
        found, refused = load_documents(path, text, budget=budget)
        manifests += found
        kept.add(refused)
        if budget.exhausted:
            break
    manifests.sort(key=lambda m: (m.path, m.line))
    kept.add(also)
    kept.add(_checks(manifests))
    return manifests, kept.result()
