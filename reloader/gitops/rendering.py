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
- **Problems point at the author's file.** Built through a generated wrapper kustomization (in
  the private directory) that lists the user's directory in ``resources:`` and sets
  ``buildMetadata: [originAnnotations]``, every object says where it came from
  (``config.kubernetes.io/origin``), which :mod:`reloader.gitops.origins` maps to ``path:line``
  in the checkout (an origin outside it is refused: only git is the truth).
- **Origins only when they are needed.** They make kustomize a third slower, and the loop needs
  them only to report a problem. So :func:`render_revision` first builds the directory as it
  is, each object standing at its line in kustomize's output; the build is made again with
  origins when that one fails, finds a problem, holds an encrypted object (decryption reads the
  source document), or could reach outside the checkout (:mod:`reloader.gitops.reaching`), and
  for a problem found later (a dry run, an apply), :meth:`Rendering.locate` maps it to its
  object's source the same way. :func:`render_tree` (``reloader validate``) always locates.
- **Same limits as reading.** The output is split into objects and parsed by
  :func:`reloader.core.manifests.load_tree`, which applies the revision's limits and checks
  (duplicates included) to rendered objects as to files.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from reloader.core.manifests import SUFFIXES, Manifest, Problem, load_documents, load_tree
from reloader.gitops import reaching
from reloader.gitops.decrypting import decrypt_manifests, is_encrypted
from reloader.gitops.origins import ORIGIN, load_located
from reloader.gitops.reading import MAX_FILE_BYTES, read_tree
from reloader.processes.running import Finished, ProcessError, offline_environment, run

__all__ = [
    "KUSTOMIZATION_FILES",
    "ORIGIN",
    "OUTPUT_LIMIT",
    "RenderTools",
    "Rendering",
    "kustomization_of",
    "render_revision",
    "render_tree",
]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""The names kustomize looks for, in its order: a path holding one of them is rendered."""
OUTPUT_LIMIT = 64 * 1024 * 1024
"""Bytes of rendered YAML accepted; more refuses the revision (parsing bounds it further)."""
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


Identity = tuple[str, str, str, str, str]
"""(apiVersion, group, kind, namespace, name): unique in one render (kustomize refuses twins)."""


def _identity(manifest: Manifest) -> Identity:
    return (manifest.api_version, *manifest.key)


@dataclass
class Rendering:
    """A revision's manifests and the problems found in rendering them."""

    manifests: list[Manifest]
    problems: list[Problem]
    reusable: bool = False
    """Made from the tree alone, without problems: any commit of the same tree renders the
    same (:mod:`reloader.gitops.render_cache`)."""
    subdir: str = "."
    tools: RenderTools = field(default_factory=RenderTools)
    unlocated: str | None = None
    """The path the objects stand at, each at its line in kustomize's output, while their
    sources are not known (``<kustomization> (rendered)``); None: every object is located."""
    outside: list[str] = field(default_factory=list)
    """What the build could read outside the checkout (:mod:`reloader.gitops.reaching`)."""
    _sources: dict[Identity, tuple[str, int]] | None = None

    def _placeholders(self) -> dict[tuple[str, int], Manifest]:
        return {(m.path, m.line): m for m in self.manifests if m.path == self.unlocated}

    async def locate(
        self, problems: Sequence[Problem | str], checkout: Callable[[], Awaitable[Path]]
    ) -> list[Problem | str]:
        """``problems`` at their objects' sources, as :func:`render_tree` would have put them:
        the revision is built again with origins (once, in the tree ``checkout`` gives) only if
        a problem stands at an object that is not located yet."""
        placeholders = self._placeholders()
        if not any(isinstance(p, Problem) and (p.path, p.line) in placeholders for p in problems):
            return list(problems)
        if self._sources is None:
            located, _ = await render_tree(await checkout(), self.subdir, tools=self.tools)
            self._sources = {_identity(m): (m.path, m.line) for m in located}
        out: list[Problem | str] = []
        for problem in problems:
            at = None
            if isinstance(problem, Problem):
                at = placeholders.get((problem.path, problem.line))
            if at is None or isinstance(problem, str):
                out.append(problem)
                continue
            source = self._sources.get(_identity(at))
            if source is None:  # the second build failed: name the object instead
                kind, ns, name = at.kind, at.namespace, at.name
                where = f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
                kustomization = (self.unlocated or "").removesuffix(" (rendered)")
                out.append(Problem(kustomization, 1, f"{where}: {problem.message}"))
            else:
                out.append(Problem(*source, problem.message))
        return out


async def render_tree(
    root: Path, subdir: str = ".", *, tools: RenderTools | None = None
) -> tuple[list[Manifest], list[Problem]]:
    """The manifests of ``root/subdir`` and every problem, paths relative to ``root``, each at
    its source's path and line.

    A directory with a kustomization is built by kustomize; any other is read file by file.
    Then objects encrypted with SOPS are decrypted, in memory (:mod:`reloader.gitops.decrypting`).
    """
    rendering = await _render(root, subdir, tools or RenderTools(), quick=False)
    return rendering.manifests, rendering.problems


async def render_revision(
    root: Path, subdir: str = ".", *, tools: RenderTools | None = None
) -> Rendering:
    """What :func:`render_tree` finds, the quickest way: objects of a clean kustomize build are
    located only when a problem needs it (:meth:`Rendering.locate`); problems are located."""
    return await _render(root, subdir, tools or RenderTools(), quick=True)


async def _render(root: Path, subdir: str, tools: RenderTools, *, quick: bool) -> Rendering:
    found = await asyncio.to_thread(_kustomized, root, subdir)
    leaving: list[str] = []  # what the build may read outside the tree (asked by the loop only)
    if found is None:
        manifests, problems = await read_tree(root, subdir)  # links out are refused there
    else:
        real_root, base, kustomization = found
        escapes = await asyncio.to_thread(reaching.escaping, real_root, base)
        if escapes:
            return Rendering([], escapes, subdir=subdir, tools=tools)
        if quick:
            leaving = await asyncio.to_thread(reaching.leaving, real_root, base)
        if quick and not leaving:
            rendering = await _kustomize_quick(real_root, base, kustomization, tools)
            if rendering is not None:
                rendering.subdir = subdir
                return rendering
        manifests, problems = await _kustomize(real_root, base, kustomization, tools)
    decrypted, undecryptable = await decrypt_manifests(
        manifests,
        key_file=tools.decryption_key_file,
        sops=tools.sops,
        require_key=not tools.keep_encrypted,
        root=root,
    )
    problems += undecryptable
    reusable = not problems and not leaving
    return Rendering(
        decrypted, problems, reusable=reusable, subdir=subdir, tools=tools, outside=leaving
    )


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
        try:
            finished = await _build(kustomize, wrapper, tools, scratch=scratch, env=env)
        except ProcessError as exc:
            return problem(f"kustomize build failed: {exc}")
        if not finished.ok:
            failed = problem(_failure(finished, root=root, scratch=scratch, base=base))
            at_lines = await asyncio.to_thread(_source_problems, root, base)
            return [], at_lines + failed[1]
        if finished.stdout_truncated:
            return problem(_too_long())
        return await asyncio.to_thread(
            load_located, finished.stdout, root=root, wrapper=wrapper, fallback=rel_kustomization
        )


def _too_long() -> str:
    return f"kustomize build printed more than {OUTPUT_LIMIT >> 20} MiB of YAML; refused"


async def _build(
    kustomize: str, directory: Path, tools: RenderTools, *, scratch: Path, env: dict[str, str]
) -> Finished:
    argv = [kustomize, "build", str(directory)]
    helm = _binary(tools.helm)
    if helm is not None:
        argv += ["--enable-helm", "--helm-command", helm]
    return await run(
        argv, time_limit=tools.time_limit, cwd=scratch, env=env, output_limit=OUTPUT_LIMIT
    )


async def _kustomize_quick(
    root: Path, base: Path, kustomization: Path, tools: RenderTools
) -> Rendering | None:
    """``base`` built as it is, without origins; None when the build must be made again with
    them (it failed, found a problem, or holds an encrypted object)."""
    rel_kustomization = kustomization.relative_to(root).as_posix()
    kustomize = _binary(tools.kustomize)
    if kustomize is None:
        return None
    with tempfile.TemporaryDirectory(prefix="reloader-render-") as private:
        scratch = Path(private)
        env = await asyncio.to_thread(_environment, scratch)
        try:
            finished = await _build(kustomize, base, tools, scratch=scratch, env=env)
        except ProcessError as exc:  # a second try would only wait as long again
            return Rendering([], [Problem(rel_kustomization, 1, f"kustomize build failed: {exc}")])
    if finished.stdout_truncated:
        return Rendering([], [Problem(rel_kustomization, 1, _too_long())])
    if not finished.ok:
        return None
    manifests, problems = await asyncio.to_thread(load_tree, [("rendered.yaml", finished.stdout)])
    if problems or any(is_encrypted(m) for m in manifests):
        return None
    # A path no file of the repository can be at, so that no other problem is taken for one
    # of these objects'; it also reads right if a problem were ever shown unlocated.
    unlocated = f"{rel_kustomization} (rendered)"
    placed = [Manifest(unlocated, m.line, m.obj) for m in manifests]
    return Rendering(placed, [], reusable=True, tools=tools, unlocated=unlocated)


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
    for name in _FIELDS:
        entries = spec.get(name)
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
