"""Which paths of a checkout the plain walk skips: default exclusions, ``.sourceignore``, and
files that describe how to build manifests rather than being manifests.

A GitOps repository holds more than manifests: CI workflows, linters' settings, Helm charts,
kustomize's build files. Read as objects, each breaks the sync ("metadata is required"), so, like
Flux's source-controller, the walk skips them. The rules, in order (the last that matches a path
decides, as in git):

1. **Defaults** (:data:`DEFAULTS`), matched against the path relative to ``--git-path``: every
   hidden file and directory (``.*``: ``.git/``, ``.github/``, ``.gitlab/``, ``.circleci/``,
   ``.gitlab-ci.yml``, ``.pre-commit-config.yaml``, ``.sops.yaml``, ``.vscode/``...), the CI
   files that are not hidden (``appveyor.yml``, ``cloudbuild.yaml``, ``codeship-*.yml``), and
   images and archives. Flux lists its hidden names one by one; excluding all of them is
   stricter, on purpose: a dot-path is a tool's settings by convention, never an object to apply,
   and a list would always miss the next tool. The directory ``--git-path`` names is never
   excluded by them (naming it is explicit), and ``!.name`` in a ``.sourceignore`` brings a
   hidden path back.
2. **``.sourceignore`` files** (gitignore syntax), each matched against paths relative to its
   own directory, a deeper one after a shallower: the repository root's, those of the
   directories down to ``--git-path``, and those inside it. As in git, a directory that is
   excluded is not entered, so nothing under it can be brought back.

Then, in what is left, two kinds of build input are not objects (:func:`build_input`):

- ``kustomization.yaml``, ``kustomization.yml`` and ``Kustomization``: they say how to build a
  directory (a kustomize renderer, where there is one, takes that directory over; the plain walk
  reads the other files as objects and skips only these).
- A Helm chart, any directory holding a ``Chart.yaml``: skipped whole, as its ``templates/`` are
  not YAML until rendered and its ``values*.yaml`` are not objects. A ``--git-path`` that is
  itself a chart is a problem, not an empty revision.

Matching is pathspec's :class:`~pathspec.GitIgnoreSpec`, the gitignore semantics Python tools
share, rather than hand-written globbing. This module does no I/O: the reader feeds it the text
of each ``.sourceignore`` it finds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from pathspec import GitIgnoreSpec

IGNORE_FILE = ".sourceignore"
CHART_FILE = "Chart.yaml"
KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
"""The names kustomize recognises as a directory's build file."""

DEFAULTS = (
    ".*",  # hidden: VCS (.git/, .gitignore...), CI (.github/, .gitlab/, .circleci/...), tools
    "appveyor.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
)
"""Excluded before any ``.sourceignore``: Flux's defaults, with every hidden path for its list of
hidden VCS and CI names."""

_DEFAULT_SPEC = GitIgnoreSpec.from_lines(DEFAULTS)


@dataclass(frozen=True)
class _Layer:
    scope: PurePosixPath
    """The directory, relative to the repository root, that the patterns are relative to."""
    spec: GitIgnoreSpec


@dataclass(frozen=True)
class Ignore:
    """The rules in force in one directory of the walk: defaults, then each ``.sourceignore``
    from the root down. Immutable, so a subdirectory extends its parent's without copying."""

    base: PurePosixPath
    """``--git-path`` relative to the repository root: where the defaults are anchored."""
    layers: tuple[_Layer, ...] = field(default=())

    def with_file(self, directory: str, text: str) -> Ignore:
        """These rules and, after them, those of the ``.sourceignore`` in ``directory``."""
        spec = GitIgnoreSpec.from_lines(text.splitlines())
        return Ignore(self.base, (*self.layers, _Layer(PurePosixPath(directory), spec)))

    def excluded(self, rel: str, *, is_dir: bool) -> bool:
        """Whether ``rel`` (relative to the repository root) is excluded: the last rule that
        matches it decides, the defaults first and the deepest ``.sourceignore`` last."""
        path = PurePosixPath(rel)
        verdict = False
        for scope, spec in [(self.base, _DEFAULT_SPEC), *((x.scope, x.spec) for x in self.layers)]:
            if path == scope or not path.is_relative_to(scope):
                continue  # a directory's rules never apply to the directory itself
            inner = path.relative_to(scope).as_posix() + ("/" if is_dir else "")
            include = spec.check_file(inner).include
            if include is not None:
                verdict = include
        return verdict


def build_input(name: str) -> bool:
    """Whether a file is a build tool's input rather than an object (kustomize's build file)."""
    return name in KUSTOMIZATION_FILES


def is_chart(names: Iterable[str]) -> bool:
    """Whether a directory holding these file names is a Helm chart."""
    return CHART_FILE in names
