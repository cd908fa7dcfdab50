"""Turn a path of a checkout into manifests and problems: a plain walk, or ``kustomize build``.

One interface, :func:`render_tree`, so that the sync engine and ``reloader validate`` do not
know which renderer ran. As Flux does, a path without a kustomization is read as it is
(:func:`reloader.gitops.reading.read_tree`); a path with one is rendered by the field's own
``kustomize`` (Helm charts through its ``helmCharts:``, by the field's own ``helm``), never by a
reimplementation, so what is applied is what ``kustomize build`` shows the author.

Why it is built the way it is:

- **Every run goes through** :mod:`reloader.processes.running`: a time limit on the whole
  process group (kustomize runs helm), and stdout capped at :data:`OUTPUT_LIMIT`; a render
  that says more is refused rather than cut, since a cut stream is a different revision.
- **No network, no state.** Remote bases and chart repositories would make a commit render
  differently from day to day, and let a repository make the controller fetch any URL: the
  tools run with every proxy pointing at a closed port (``127.0.0.1:9``), git (which kustomize
  runs for remote bases, over ssh too) allowed no protocol at all, ``HOME`` and Helm's cache,
  config and data directories in a private temporary directory removed afterwards, and no
  other variable of ours (credentials stay with the loop's own git).
- **Problems point at the author's file.** The user's directory is built through a generated
  wrapper kustomization (in the private directory) that lists it in ``resources:`` and sets
  ``buildMetadata: [originAnnotations]``: every object then says where it came from
  (``config.kubernetes.io/origin``). That is mapped back to ``path:line`` in the checkout and
  the annotation is removed before anything else sees the object. An origin outside the
  checkout (a base reached through ``../``) is refused: only git is the truth.
- **Same limits as reading.** The output is split into objects and parsed by
  :func:`reloader.core.manifests.load_tree`, which applies the revision's limits and checks
  (duplicates included) to rendered objects as to files.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from reloader.core.manifests import SUFFIXES, Manifest, Problem, load_documents, load_tree
from reloader.gitops.decrypting import decrypt_manifests
from reloader.gitops.reading import MAX_FILE_BYTES, read_tree
from reloader.processes.running import Finished, ProcessError, offline_environment, run

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""The names kustomize looks for, in its order: a path holding one of them is rendered."""
OUTPUT_LIMIT = 64 * 1024 * 1024
"""Bytes of rendered YAML accepted; more refuses the revision (parsing bounds it further)."""
ORIGIN = "config.kubernetes.io/origin"
_ERROR_LINES = 8
_ERROR_LINE_CHARS = 400


@dataclass(frozen=True)
class RenderTools:
    """The binaries that render, and how long one render may take.

    Bare names are looked up on ``PATH`` when a render starts, so a missing tool is a problem
    of the revision that needs it, not of a start-up that may never render anything.
    """

    kustomize: str = "kustomize"
    helm: str = "helm"
    time_limit: float = 120.0
    sops: str = "sops"
    """Decrypts objects encrypted with SOPS (:mod:`reloader.gitops.decrypting`)."""
    decryption_key_file: str | None = None
    """The age identities file; None: an encrypted object is a problem, unless…"""
    keep_encrypted: bool = False
    """…this is set (``reloader validate`` without a key): encrypted objects stay as they are."""


def kustomization_of(directory: Path) -> Path | None:
    """The kustomization file in ``directory``, if it has one."""
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


async def render_tree(
    root: Path, subdir: str = ".", *, tools: RenderTools | None = None
) -> tuple[list[Manifest], list[Problem]]:
    """The manifests of ``root/subdir`` and every problem, paths relative to ``root``.

    A directory with a kustomization is built by kustomize; any other is read file by file.
    Then objects encrypted with SOPS are decrypted, in memory (:mod:`reloader.gitops.decrypting`).
    """
    tools = tools or RenderTools()
    found = await asyncio.to_thread(_kustomized, root, subdir)
    if found is None:
        manifests, problems = await read_tree(root, subdir)
    else:
        real_root, base, kustomization = found
        manifests, problems = await _kustomize(real_root, base, kustomization, tools)
    decrypted, undecryptable = await decrypt_manifests(
        manifests,
        key_file=tools.decryption_key_file,
        sops=tools.sops,
        require_key=not tools.keep_encrypted,
        root=root,
    )
    return decrypted, problems + undecryptable


def _kustomized(root: Path, subdir: str) -> tuple[Path, Path, Path] | None:
    """(real root, real directory, its kustomization) if the path is one kustomize builds."""
    real_root = root.resolve()
    base = (root / subdir).resolve()
    if not base.is_relative_to(real_root):
        return None  # reading reports it
    kustomization = kustomization_of(base)
    return None if kustomization is None else (real_root, base, kustomization)


async def _kustomize(
    root: Path, base: Path, kustomization: Path, tools: RenderTools
) -> tuple[list[Manifest], list[Problem]]:
    rel_kustomization = kustomization.relative_to(root).as_posix()

    def problem(message: str) -> tuple[list[Manifest], list[Problem]]:
        return [], [Problem(rel_kustomization, 1, message)]

    kustomize = _binary(tools.kustomize)
    if kustomize is None:
        return problem(f"kustomize ({tools.kustomize}) is not installed; cannot render")
    with tempfile.TemporaryDirectory(prefix="reloader-render-") as private:
        scratch = Path(private)
        wrapper, env = await asyncio.to_thread(_prepare, scratch, base)
        argv = [kustomize, "build", str(wrapper)]
        helm = _binary(tools.helm)
        if helm is not None:
            argv += ["--enable-helm", "--helm-command", helm]
        try:
            finished = await run(
                argv, time_limit=tools.time_limit, cwd=scratch, env=env, output_limit=OUTPUT_LIMIT
            )
        except ProcessError as exc:
            return problem(f"kustomize build failed: {exc}")
        if not finished.ok:
            failed = problem(_failure(finished, root=root, scratch=scratch, base=base))
            at_lines = await asyncio.to_thread(_source_problems, root, base)
            return [], at_lines + failed[1]
        if finished.stdout_truncated:
            return problem(
                f"kustomize build printed more than {OUTPUT_LIMIT >> 20} MiB of YAML; refused"
            )
        return await asyncio.to_thread(
            _load, finished.stdout, root=root, wrapper=wrapper, fallback=rel_kustomization
        )


_FIELDS = ("resources", "components", "bases", "patchesStrategicMerge", "crds")
_MAX_SOURCES = 2000


def _source_problems(root: Path, base: Path) -> list[Problem]:
    """When kustomize fails, what our own reader finds in the files it reads (a duplicate
    key, a syntax error), at their ``path:line``: kustomize's messages name a line, not always
    its file. Only files inside the repository, reached through kustomizations' lists."""
    problems: list[Problem] = []
    seen: set[Path] = set()
    todo = [base]
    while todo and len(seen) < _MAX_SOURCES:
        current = todo.pop()
        if current in seen or not current.is_relative_to(root):
            continue
        seen.add(current)
        if current.is_dir():
            kustomization = kustomization_of(current)
            if kustomization is not None:
                todo.append(kustomization)
            continue
        if not current.is_file() or current.stat().st_size > MAX_FILE_BYTES:
            continue
        text = current.read_bytes()
        rel = current.relative_to(root).as_posix()
        docs, found = load_documents(rel if rel.endswith(SUFFIXES) else f"{rel}.yaml", text)
        problems += [Problem(rel, p.line, p.message) for p in found]
        if current.name in KUSTOMIZATION_FILES and docs:
            todo += _listed(current, docs[0].obj)
    return problems


def _listed(kustomization: Path, spec: dict[str, object]) -> list[Path]:
    """The local paths a kustomization names (remote ones are not ours to read)."""
    paths: list[Path] = []
    for field in _FIELDS:
        entries = spec.get(field)
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, str) and "://" not in entry and not entry.startswith("git@"):
                paths.append((kustomization.parent / entry).resolve())
    return paths


def _prepare(scratch: Path, base: Path) -> tuple[Path, dict[str, str]]:
    """The wrapper kustomization over ``base`` (it makes kustomize record origins), and the
    tools' environment, both in the private directory."""
    wrapper = scratch / "wrapper"
    wrapper.mkdir()
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(base, wrapper)],
        "buildMetadata": ["originAnnotations"],
    }
    (wrapper / "kustomization.yaml").write_text(yaml.safe_dump(body))
    return wrapper, _environment(scratch)


def _binary(name: str) -> str | None:
    """An absolute path to the tool (kustomize runs helm by the path it is given)."""
    found = shutil.which(name)
    return str(Path(found).resolve()) if found else None


def _environment(scratch: Path) -> dict[str, str]:
    """Nothing of ours but PATH: private HOME and Helm directories, every proxy dead."""
    home = scratch / "home"
    return offline_environment(
        home,
        HELM_CACHE_HOME=str(home / "helm/cache"),
        HELM_CONFIG_HOME=str(home / "helm/config"),
        HELM_DATA_HOME=str(home / "helm/data"),
        KUSTOMIZE_PLUGIN_HOME=str(home / "kustomize/plugin"),
        # Remote bases: kustomize runs git, which would reach ssh remotes past any proxy.
        GIT_ALLOW_PROTOCOL="none",
        GIT_SSH_COMMAND="false",
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
    )


def _failure(finished: Finished, *, root: Path, scratch: Path, base: Path) -> str:
    """kustomize's own error lines, trimmed, with our private paths taken out. Its errors nest
    (each base wraps its bases'), and the innermost, at the end, names the file at fault: a long
    line keeps its start and its end."""
    lines: list[str] = []
    wrapped = os.path.relpath(base, scratch / "wrapper")
    in_repo = base.relative_to(root).as_posix()
    for said_line in finished.stderr_lines()[:_ERROR_LINES]:
        line = said_line.removeprefix("Error: ").replace(wrapped, in_repo)
        for prefix in (f"{scratch}/wrapper/", f"{scratch}/", f"{root}/"):
            line = line.replace(prefix, "")
        line = line.replace(str(root), ".")
        if len(line) > _ERROR_LINE_CHARS:
            keep = _ERROR_LINE_CHARS // 3
            line = f"{line[:keep]} … {line[-(_ERROR_LINE_CHARS - keep) :]}"
        lines.append(line)
    said = " / ".join(lines) or finished.status
    return f"kustomize build failed: {said}"


def _load(
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
        real = (self.wrapper / source).resolve()
        if not real.is_relative_to(self.root):
            line = 1
            self.problems.append(
                Problem(self.fallback, line, f"renders {source!r}, which is outside the repository")
            )
            return None, line
        rel = real.relative_to(self.root).as_posix()
        return rel, self._line(rel, real, chunk, generated=generated)

    def _line(self, rel: str, real: Path, chunk: bytes, *, generated: bool) -> int:
        """The line where the object starts in its source: the document of its kind naming it,
        or for a generated object the line naming its generator, else 1."""
        index = self.indexes.get(rel)
        if index is None:
            try:
                index = self.indexes[rel] = _SourceIndex(real.read_text(errors="replace"))
            except OSError:
                index = self.indexes[rel] = _SourceIndex("")
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
