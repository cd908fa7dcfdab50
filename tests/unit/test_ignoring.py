"""What the plain walk skips (reloader.core.ignoring): defaults, .sourceignore, build files."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from reloader.core.ignoring import Ignore, build_input, is_chart

ROOT = Ignore(PurePosixPath("."))


@pytest.mark.parametrize(
    ("rel", "is_dir"),
    [
        (".git", True),
        (".github", True),
        (".github/workflows/ci.yml", False),
        (".gitlab", True),
        (".gitlab-ci.yml", False),
        (".circleci", True),
        (".pre-commit-config.yaml", False),
        ("apps/.sops.yaml", False),
        ("apps/.vscode", True),
        ("appveyor.yml", False),
        ("cloudbuild.yaml", False),
        ("deep/codeship-steps.yml", False),
        ("logo.png", False),
        ("bundle.tar.gz", False),
    ],
)
def test_vcs_ci_hidden_and_binary_paths_are_excluded_by_default(rel: str, is_dir: bool) -> None:
    assert ROOT.excluded(rel, is_dir=is_dir)


@pytest.mark.parametrize(
    ("rel", "is_dir"),
    [("apps", True), ("apps/web.yaml", False), ("github/x.yaml", False), ("a.b.yaml", False)],
)
def test_ordinary_paths_are_kept(rel: str, is_dir: bool) -> None:
    assert not ROOT.excluded(rel, is_dir=is_dir)


def test_defaults_are_anchored_at_the_git_path_which_is_never_excluded() -> None:
    """``--git-path .deploy`` names a hidden directory on purpose: what it holds is read."""
    ignore = Ignore(PurePosixPath(".deploy"))
    assert not ignore.excluded(".deploy", is_dir=True)
    assert not ignore.excluded(".deploy/web.yaml", is_dir=False)
    assert ignore.excluded(".deploy/.github", is_dir=True)


def test_a_sourceignore_excludes_with_gitignore_syntax() -> None:
    ignore = ROOT.with_file(".", "# drafts are not applied\ndrafts/\n*.local.yaml\n/top.yaml\n")
    assert ignore.excluded("drafts", is_dir=True)
    assert ignore.excluded("apps/drafts", is_dir=True)
    assert not ignore.excluded("drafts", is_dir=False)  # `drafts/` matches directories only
    assert ignore.excluded("apps/web.local.yaml", is_dir=False)
    assert ignore.excluded("top.yaml", is_dir=False)
    assert not ignore.excluded("apps/top.yaml", is_dir=False)  # anchored at its directory
    assert not ignore.excluded("apps/web.yaml", is_dir=False)


def test_a_negation_brings_back_a_default_exclusion() -> None:
    ignore = ROOT.with_file(".", "!.config/\n")
    assert not ignore.excluded(".config", is_dir=True)
    assert ignore.excluded(".github", is_dir=True)


def test_a_deeper_sourceignore_is_relative_to_its_directory_and_decides_last() -> None:
    ignore = ROOT.with_file(".", "*.yaml\n").with_file("apps", "!/keep.yaml\nold/\n")
    assert ignore.excluded("keep.yaml", is_dir=False)  # the root's rule: apps/ has no say here
    assert not ignore.excluded("apps/keep.yaml", is_dir=False)
    assert ignore.excluded("apps/other.yaml", is_dir=False)
    assert ignore.excluded("apps/old", is_dir=True)
    assert not ignore.excluded("old", is_dir=True)


def test_kustomize_build_files_and_charts_are_build_inputs() -> None:
    assert all(map(build_input, ["kustomization.yaml", "kustomization.yml", "Kustomization"]))
    assert not build_input("kustomization-notes.yaml")
    assert not build_input("apps.yaml")  # a Flux Kustomization object, in any other file, is read
    assert is_chart(["values.yaml", "Chart.yaml"])
    assert not is_chart(["values.yaml", "chart.yaml"])
