"""What a ``kustomize build`` of a checkout could read outside it.

A render is reused while its commit's tree is unchanged (:mod:`reloader.gitops.render_cache`),
which is sound only if everything the render read is in that tree. kustomize confines the
*files* a kustomization reads (resources, patches, generator sources, Helm values) to that
kustomization's directory, with symlinks resolved (its default load restrictor); it does not
confine the *directories* it builds: an entry of ``resources``, ``bases``, ``components``,
``generators``, ``transformers`` or ``validators`` may name any kustomization on the
filesystem, and Helm reads a chart's templates through symlinks. So the render depends on the
tree alone when every such entry, followed through the graph from the built directory, and every
symlink in the checkout resolve inside it. :func:`leaving` names what does not, or what could not
be checked (a kustomization our reader refuses, a graph past the bounds): either way, the caller
assumes the worst.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reloader.core.manifests import Problem, load_documents, revision_budget

DIRECTORY_FIELDS = ("resources", "bases", "components", "generators", "transformers", "validators")
"""Kustomization fields whose entries may be directories kustomize builds, wherever they are."""
HELM_DIRECTORIES = ("chartHome", "configHome")
"""``helmGlobals`` fields naming directories Helm reads."""
MAX_KUSTOMIZATIONS = 2000
MAX_ENTRIES = 200_000
"""Directory entries of a checkout scanned for symlinks; past this, it is not vouched for."""
MAX_KUSTOMIZATION_BYTES = 1 << 20


def leaving(root: Path, base: Path) -> list[str]:
    """What leads outside ``root`` (a resolved directory) when ``base`` is built, in words;
    empty when the build can only read the checkout."""
    return _links_out(root) + [
        found if isinstance(found, str) else found.message for found in _references_out(root, base)
    ]


@dataclass(frozen=True)
class Escape:
    """An entry of a kustomization that names a directory outside the checkout."""

    kustomization: str
    """Its path in the checkout."""
    line: int
    entry: str

    @property
    def message(self) -> str:
        directory = Path(self.kustomization).parent.as_posix()
        return f"{directory} names {self.entry!r}, outside the repository"


def escaping(root: Path, base: Path) -> list[Problem]:
    """Entries of the kustomizations ``base`` builds that name a directory outside ``root``,
    as problems at their lines: kustomize would build what git does not hold, so the loop
    would apply content from the controller's own filesystem."""
    return [
        Problem(
            found.kustomization,
            found.line,
            f"names {found.entry!r}, a directory outside the repository: kustomize would "
            "build it, and only what git holds is applied; refused (move it into the repository)",
        )
        for found in _references_out(root, base)
        if isinstance(found, Escape)
    ]


def _links_out(root: Path) -> list[str]:
    found: list[str] = []
    seen = 0
    for here, dirs, files in os.walk(root):
        seen += len(dirs) + len(files)
        if seen > MAX_ENTRIES:
            return [f"more than {MAX_ENTRIES} files and directories to check for symlinks"]
        for name in (*dirs, *files):
            path = Path(here) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                found.append(f"{path.relative_to(root).as_posix()} links outside the repository")
    return found


def _references_out(root: Path, base: Path) -> list[str | Escape]:
    found: list[str | Escape] = []
    seen: set[Path] = set()
    todo = [base]
    while todo:
        directory = todo.pop()
        if directory in seen:
            continue
        if len(seen) >= MAX_KUSTOMIZATIONS:
            return [*found, f"more than {MAX_KUSTOMIZATIONS} kustomizations to follow"]
        seen.add(directory)
        read = _spec(root, directory)
        if isinstance(read, str):
            found.append(read)
            continue
        path, spec, text = read
        for entry in _entries(spec):
            target = (directory / entry).resolve()
            if not target.is_relative_to(root):
                found.append(Escape(path, _line_of(text, entry), entry))
            elif target.is_dir():
                todo.append(target)
    return found


def _line_of(text: str, entry: str) -> int:
    """The first line of ``text`` naming ``entry`` (1 when it is not found verbatim)."""
    for number, line in enumerate(text.splitlines(), 1):
        if entry in line:
            return number
    return 1


def _spec(root: Path, directory: Path) -> tuple[str, dict[str, object], str] | str:
    """The directory's kustomization as read by our own reader (its path, content and text;
    an empty content when it has none), or why it cannot be read (then what it names is
    unknown)."""
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        path = directory / name
        if path.is_file():
            break
    else:
        return "", {}, ""
    rel = path.relative_to(root).as_posix()
    if path.stat().st_size > MAX_KUSTOMIZATION_BYTES:
        return f"{rel} is too large to check"
    text = path.read_bytes()
    docs, problems = load_documents(f"{rel}.yaml", text, budget=revision_budget())
    if problems or len(docs) != 1:
        return f"{rel} cannot be checked by reloader's reader"
    return rel, docs[0].obj, text.decode("utf-8", "replace")


def _entries(spec: dict[str, object]) -> list[str]:
    """Every path a kustomization names that may be a directory (a remote URL is resolved as
    a local path too: it names nothing inside, and the render runs offline)."""
    entries: list[str] = []
    for field in DIRECTORY_FIELDS:
        listed = spec.get(field)
        if isinstance(listed, list):
            entries += [entry for entry in listed if isinstance(entry, str)]
    helm = spec.get("helmGlobals")
    if isinstance(helm, dict):
        entries += [v for k, v in helm.items() if k in HELM_DIRECTORIES and isinstance(v, str)]
    return entries
