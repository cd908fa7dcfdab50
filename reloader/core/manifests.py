"""Read a git revision's manifests, refusing whatever kubectl would read differently or not at all.

Pure: the caller reads files and passes ``(relative_path, text)`` pairs; every problem names
``path:line``, and all of a revision's problems are reported together.

- YAML: libyaml's ``CSafeLoader`` (else ``SafeLoader``), subclassed to report duplicate keys (PyYAML
  keeps the last) and merge keys. Anchors and aliases are refused outright, found by a first pass
  over the parser's events, so a "billion laughs" is never expanded.
- Scalars follow YAML 1.1 like kubectl's go-yaml v2 (sigs.k8s.io/yaml). Checked against its
  resolver: ``NO``, ``yes``, ``on`` are booleans and ``0755`` is 493 in both; timestamps and ``=``
  are strings, as there (PyYAML alone makes a ``date``, which is not JSON, or fails). They differ
  on ``y``, ``n``, ``1e5``, ``0o755`` (strings here) and ``1:20`` (a base-60 int here).
- JSON: :mod:`json`, as libyaml refuses some valid JSON (surrogate pairs); a token scan gives the
  lines of objects and of duplicate keys.
- Empty and ``null`` documents are skipped, as kubectl does; a ``v1`` ``List`` is expanded into its
  items, each at its own line. A manifest's line is its first key's, not that of ``---``.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import xxhash
import yaml

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

SUFFIXES = (".yaml", ".yml", ".json")
ALIASES_REFUSED = "YAML aliases/anchors are not allowed"

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE, _SUBDOMAIN_RE = re.compile(_LABEL), re.compile(rf"{_LABEL}(\.{_LABEL})*")
_API_VERSION_RE = re.compile(r"[^/\s]+(/[^/\s]+)?")
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}:]')  # strings, and the rest outside them

_Found = tuple[list[tuple[int, object]], dict[int, int], list[tuple[int, str]]]


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
    return xxhash.xxh3_64_hexdigest(json.dumps(obj, sort_keys=True).encode())


@dataclass(frozen=True, order=True)
class Problem:
    """Why a revision cannot be applied, at a 1-based line of a repository-relative path."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _line(node: yaml.Node | None) -> int:
    return int(node.start_mark.line) + 1 if node is not None and node.start_mark else 1


class _Loader(_BaseLoader):
    """A safe loader that records problems by line instead of resolving them, and dict lines."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.problems: list[tuple[int, str]] = []
        self.lines: dict[int, int] = {}

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, ValueError, LookupError) as error:  # "!!int abc", "!Ref x"
            problem = getattr(error, "problem", None) or error
            self.problems.append((_line(node), f"invalid value: {problem}"))
            return None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep=deep)  # raises ConstructorError
        mapping: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append((_line(key_node), "merge keys (<<) are not allowed"))
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                self.problems.append((_line(key_node), "mapping keys must be scalars"))
            elif key in mapping:
                self.problems.append((_line(key_node), f"duplicate key {key!r}"))
            else:
                mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _map(loader: _Loader, node: yaml.MappingNode) -> Iterator[dict[Hashable, Any]]:
    data: dict[Hashable, Any] = {}
    loader.lines[id(data)] = _line(node)
    yield data
    data.update(loader.construct_mapping(node))


def _string(loader: _Loader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


for _tag, _constructor in (("map", _map), ("timestamp", _string), ("value", _string)):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _constructor)


def _anchor_lines(text: str) -> dict[int, int]:
    """The line of the first anchor or alias of each document (by index) that has one."""
    found: dict[int, int] = {}
    if "&" not in text and "*" not in text:  # neither can be written without these
        return found
    document = -1
    with contextlib.suppress(yaml.YAMLError):  # the loading pass reports the same error
        for event in yaml.parse(text, Loader=_BaseLoader):
            if isinstance(event, yaml.DocumentStartEvent):
                document += 1
            elif isinstance(event, yaml.NodeEvent) and event.anchor is not None:
                found.setdefault(document, event.start_mark.line + 1 if event.start_mark else 1)
    return found


def _read_yaml(text: str) -> _Found:
    anchored, documents, problems = _anchor_lines(text), [], []
    loader, index = _Loader(text), 0
    try:
        while loader.check_node():
            node, index = loader.get_node(), index + 1
            if index - 1 in anchored:
                problems.append((anchored[index - 1], ALIASES_REFUSED))
                continue
            loader.problems = []
            value = loader.construct_document(node)
            problems.extend(loader.problems)
            if not loader.problems and value is not None:
                documents.append((_line(node), value))
    except yaml.MarkedYAMLError as error:  # a syntax error ends the file
        mark, context = error.problem_mark or error.context_mark, error.context or ""
        at = mark.line + 1 if mark else 1
        message = f"invalid YAML: {context}{': ' if context else ''}{error.problem}"
        problems.append((anchored[index], ALIASES_REFUSED) if index in anchored else (at, message))
    except RecursionError:  # pure-Python PyYAML only: libyaml limits nesting itself
        problems.append((1, "invalid YAML: nested too deeply"))
    finally:
        loader.dispose()
    return documents, loader.lines, problems


def _read_json(text: str) -> _Found:
    """json.loads, plus object lines and duplicate keys: a scan lists each object's start and key
    starts in the order objects close, the order json calls ``object_pairs_hook`` with them."""
    stack: list[list[int]] = []
    closed, string = [], 0
    for token in _JSON_TOKENS.finditer(text):
        if token[0] == "{":
            stack.append([token.start()])
        elif token[0] == "}" and stack:
            closed.append(stack.pop())
        elif token[0] == ":" and stack:
            stack[-1].append(string)
        else:
            string = token.start()
    newlines = [match.start() for match in re.finditer("\n", text)]
    positions, lines, problems = iter(closed), {}, []

    def line(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    def mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        start, *keys = next(positions, [0])
        keys += [start] * len(pairs)  # pads only for invalid JSON, which is refused anyway
        obj: dict[str, Any] = {}
        lines[id(obj)] = line(start)
        for (key, value), pos in zip(pairs, keys, strict=False):
            if key in obj:
                problems.append((line(pos), f"duplicate key {key!r}"))
            obj[key] = value
        return obj

    if not text.strip():
        return [], {}, []
    try:
        root = json.loads(text, object_pairs_hook=mapping)
    except json.JSONDecodeError as error:
        return [], {}, [(error.lineno, f"invalid JSON: {error.msg}")]
    except RecursionError:
        return [], {}, [(1, "invalid JSON: nested too deeply")]
    return ([] if problems or root is None else [(lines.get(id(root), 1), root)]), lines, problems


def load_documents(path: str, text: str) -> tuple[list[Manifest], list[Problem]]:
    """The objects in one file (YAML or JSON, by suffix) and the problems that refuse them."""
    lower = path.lower()
    if not lower.endswith(SUFFIXES):
        return [], [Problem(path, 1, "not a manifest: expected .yaml, .yml or .json")]
    documents, lines, refused = (_read_json if lower.endswith(".json") else _read_yaml)(text)
    manifests: list[Manifest] = []
    problems = [Problem(path, line, message) for line, message in refused]
    for line, value in documents:
        if not isinstance(value, dict):
            message = f"document must be a mapping, not {type(value).__name__}"
            problems.append(Problem(path, line, message))
        elif value.get("kind") != "List" or value.get("apiVersion") != "v1":
            manifests.append(Manifest(path, line, value))
        elif not isinstance(items := value.get("items") or [], list):
            problems.append(Problem(path, line, "List items must be a sequence"))
        else:
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
            yield f"metadata.name {name!r} must not be '.' or '..' or contain '/' or '%'"
    elif len(name) > 253 or not _SUBDOMAIN_RE.fullmatch(name):
        yield f"metadata.name {name!r} must be a DNS subdomain (a-z, 0-9, '-', '.'; at most 253)"
    if namespace not in (None, "") and not (
        isinstance(namespace, str) and len(namespace) <= 63 and _LABEL_RE.fullmatch(namespace)
    ):
        yield f"metadata.namespace {namespace!r} must be a DNS label (a-z, 0-9, '-'; at most 63)"


def validate(manifests: Sequence[Manifest]) -> list[Problem]:
    """Required fields, valid names, and no object defined twice (reported at the later one)."""
    problems: list[Problem] = []
    first: dict[tuple[str, str, str, str], Manifest] = {}
    for manifest in sorted(manifests, key=lambda m: (m.path, m.line)):
        errors = list(_errors(manifest))
        if not errors and (seen := first.setdefault(manifest.key, manifest)) is not manifest:
            errors.append(f"duplicate of {seen.path}:{seen.line}")
        problems.extend(Problem(manifest.path, manifest.line, error) for error in errors)
    return sorted(problems)


def load_tree(files: Iterable[tuple[str, str]]) -> tuple[list[Manifest], list[Problem]]:
    """Load and validate a whole revision; both lists come back sorted by (path, line)."""
    loaded = [load_documents(path, text) for path, text in files]
    manifests = sorted((m for found, _ in loaded for m in found), key=lambda m: (m.path, m.line))
    problems = [problem for _, refused in loaded for problem in refused]
    return manifests, sorted(problems + validate(manifests))
