"""The render cache's key: what makes the loop render a revision again, and what does not.

Tools are small executable files in a temporary directory (never run: the version probe is a
stand-in that counts its calls); the tree is a sha as ``git log --format=%T`` gives it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from reloader.gitops import reaching
from reloader.gitops.render_cache import RenderCache, RenderKey
from reloader.gitops.rendering import Rendering, RenderTools

TREE = "a" * 40
OTHER_TREE = "b" * 40


class Probe:
    """Versions by tool, and every (tool, path) asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.versions = {"kustomize": "v5.8.3", "helm": "v3.22.0"}

    async def __call__(self, tool: str, path: str) -> str:
        self.asked.append((tool, path))
        return self.versions.get(tool, "")


def executable(path: Path, body: str = "#!/bin/sh\necho v1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


@pytest.fixture
def tools(tmp_path: Path) -> RenderTools:
    bins = tmp_path / "bin"
    key = tmp_path / "age.key"
    key.write_text("AGE-SECRET-KEY-1ONE\n")
    return RenderTools(
        kustomize=str(executable(bins / "kustomize")),
        helm=str(executable(bins / "helm")),
        sops=str(executable(bins / "sops")),
        decryption_key_file=str(key),
    )


async def key_of(
    tools: RenderTools, tree: str = TREE, path: str = "prod", probe: Probe | None = None
) -> RenderKey:
    return await RenderCache(tools, probe=probe or Probe()).key(tree, path)


async def test_the_same_inputs_make_the_same_key(tools: RenderTools) -> None:
    cache = RenderCache(tools, probe=Probe())
    assert await cache.key(TREE, "prod") == await cache.key(TREE, "prod")
    assert await key_of(tools) == await key_of(tools)  # another cache, the same key


async def test_the_tree_and_the_path_are_in_the_key(tools: RenderTools) -> None:
    first = await key_of(tools)
    assert await key_of(tools, tree=OTHER_TREE) != first
    assert await key_of(tools, path="staging") != first


async def test_a_new_decryption_key_content_is_a_new_key(
    tools: RenderTools, tmp_path: Path
) -> None:
    cache = RenderCache(tools, probe=Probe())
    first = await cache.key(TREE, "prod")
    (tmp_path / "age.key").write_text("AGE-SECRET-KEY-1TWO\n")  # a rotated Secret volume
    assert await cache.key(TREE, "prod") != first


async def test_rewriting_the_key_file_with_the_same_content_keeps_the_key(
    tools: RenderTools, tmp_path: Path
) -> None:
    cache = RenderCache(tools, probe=Probe())
    first = await cache.key(TREE, "prod")
    key_file = tmp_path / "age.key"
    key_file.write_text(key_file.read_text())
    os.utime(key_file, ns=(1, 1))
    assert await cache.key(TREE, "prod") == first


async def test_the_key_file_itself_never_enters_the_key(tools: RenderTools) -> None:
    key = await key_of(tools)
    assert key.decryption_key is not None
    assert "AGE-SECRET-KEY" not in repr(key)


async def test_a_missing_key_file_differs_from_no_key_file_and_from_a_present_one(
    tools: RenderTools, tmp_path: Path
) -> None:
    present = await key_of(tools)
    (tmp_path / "age.key").unlink()
    missing = await key_of(tools)
    none = await key_of(dataclasses.replace(tools, decryption_key_file=None))
    assert none.decryption_key is None
    assert len({present.decryption_key, missing.decryption_key, none.decryption_key}) == 3


async def test_a_tool_replaced_in_place_is_a_new_key_and_asked_its_version_again(
    tools: RenderTools,
) -> None:
    probe = Probe()
    cache = RenderCache(tools, probe=probe)
    first = await cache.key(TREE, "prod")
    await cache.key(TREE, "prod")
    assert sorted(tool for tool, _ in probe.asked) == ["helm", "kustomize", "sops"]  # once each

    probe.versions["kustomize"] = "v5.9.0"
    executable(Path(tools.kustomize), "#!/bin/sh\necho a newer build\n")
    second = await cache.key(TREE, "prod")

    assert second != first
    assert second.kustomize.version == "v5.9.0"
    assert second.helm == first.helm
    assert [tool for tool, _ in probe.asked].count("kustomize") == 2


async def test_a_tool_is_keyed_by_the_file_a_name_resolves_to(
    tools: RenderTools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare name is looked up on PATH, through symlinks: another target is another tool."""
    links = tmp_path / "links"
    links.mkdir()
    (links / "kustomize").symlink_to(tools.kustomize)
    monkeypatch.setenv("PATH", f"{links}{os.pathsep}{os.environ['PATH']}")
    by_name = dataclasses.replace(tools, kustomize="kustomize")
    first = await key_of(by_name)
    assert first.kustomize.path == tools.kustomize  # tmp_path is no symlink

    other = executable(tmp_path / "other/kustomize", "#!/bin/sh\necho other build\n")
    (links / "kustomize").unlink()
    (links / "kustomize").symlink_to(other)
    assert await key_of(by_name) != first


async def test_a_tool_that_is_not_installed_is_keyed_as_missing(
    tools: RenderTools, tmp_path: Path
) -> None:
    key = await key_of(dataclasses.replace(tools, helm=str(tmp_path / "nowhere/helm")))
    assert key.helm.path is None
    assert key != await key_of(tools)


async def test_the_render_settings_are_in_the_key(tools: RenderTools) -> None:
    first = await key_of(tools)
    assert await key_of(dataclasses.replace(tools, keep_encrypted=True)) != first
    assert await key_of(dataclasses.replace(tools, time_limit=5.0)) != first


# --- what the cache gives back ---


def rendering(*, reusable: bool) -> Rendering:
    return Rendering([], [], reusable=reusable)


async def test_a_clean_render_is_reused_for_another_commit_of_the_same_key(
    tools: RenderTools,
) -> None:
    cache = RenderCache(tools, probe=Probe())
    key = await cache.key(TREE, "prod")
    made = rendering(reusable=True)
    cache.put(key, "1" * 40, made)

    assert cache.get(key, "2" * 40) is made  # an empty commit: same tree
    assert cache.get(await cache.key(OTHER_TREE, "prod"), "3" * 40) is None


async def test_a_refused_render_is_reused_only_for_its_own_commit(tools: RenderTools) -> None:
    """A new commit, even an empty one, is a fresh try at a render that failed."""
    cache = RenderCache(tools, probe=Probe())
    key = await cache.key(TREE, "prod")
    refused = rendering(reusable=False)
    cache.put(key, "1" * 40, refused)

    assert cache.get(key, "1" * 40) is refused
    assert cache.get(key, "2" * 40) is None


async def test_a_render_is_not_reused_once_its_key_changed_even_for_its_commit(
    tools: RenderTools, tmp_path: Path
) -> None:
    """A rotated decryption key renders the same commit again (it may now decrypt)."""
    cache = RenderCache(tools, probe=Probe())
    cache.put(await cache.key(TREE, "prod"), "1" * 40, rendering(reusable=False))
    (tmp_path / "age.key").write_text("AGE-SECRET-KEY-1NEW\n")
    assert cache.get(await cache.key(TREE, "prod"), "1" * 40) is None


async def test_only_the_last_render_is_kept(tools: RenderTools) -> None:
    cache = RenderCache(tools, probe=Probe())
    first, second = await cache.key(TREE, "prod"), await cache.key(OTHER_TREE, "prod")
    cache.put(first, "1" * 40, rendering(reusable=True))
    cache.put(second, "2" * 40, rendering(reusable=True))
    assert cache.get(first, "1" * 40) is None
    assert cache.sha == "2" * 40
    cache.clear()
    assert cache.get(second, "2" * 40) is None
    assert cache.sha is None


# --- what makes a render depend on more than its tree ---


def write(root: Path, rel: str, text: str = "") -> Path:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def leaving(repo: Path, subdir: str = "prod") -> list[str]:
    return reaching.leaving(repo.resolve(), (repo / subdir).resolve())


def test_bases_and_components_inside_the_repository_leave_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "base/kustomization.yaml", "resources:\n- cm.yaml\n")
    write(repo, "components/x/kustomization.yaml", "kind: Component\n")
    write(
        repo,
        "prod/kustomization.yaml",
        "resources:\n- ../base\n- github.com/org/repo//dir?ref=v1\n"
        "components:\n- ../components/x\n",
    )
    assert leaving(repo) == []


@pytest.mark.parametrize("field", reaching.DIRECTORY_FIELDS)
def test_a_directory_outside_the_repository_is_named_in_any_field_that_builds_one(
    tmp_path: Path, field: str
) -> None:
    repo = tmp_path / "repo"
    write(tmp_path, "outside/kustomization.yaml", "resources: []\n")
    write(repo, "base/kustomization.yaml", f"{field}:\n- ../../outside\n")
    write(repo, "prod/kustomization.yaml", "resources:\n- ../base\n")  # found through the graph
    assert leaving(repo) == ["base names '../../outside', outside the repository"]


def test_a_helm_chart_home_outside_the_repository_is_named(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "prod/kustomization.yaml", "helmGlobals:\n  chartHome: /opt/charts\n")
    assert leaving(repo) == ["prod names '/opt/charts', outside the repository"]


def test_a_symlink_leading_out_of_the_checkout_is_named_wherever_it_is(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "prod/kustomization.yaml", "resources:\n- cm.yaml\n")
    write(tmp_path, "elsewhere/values.yaml")
    (repo / "charts").mkdir()
    (repo / "charts/values.yaml").symlink_to(tmp_path / "elsewhere/values.yaml")
    (repo / "prod/inside.yaml").symlink_to(repo / "prod/kustomization.yaml")
    assert leaving(repo) == ["charts/values.yaml links outside the repository"]


def test_a_kustomization_our_reader_refuses_cannot_be_vouched_for(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "prod/kustomization.yaml", "resources: &r\n- ../base\nbases: *r\n")
    assert leaving(repo) == ["prod/kustomization.yaml cannot be checked by reloader's reader"]


def test_only_entries_naming_a_directory_outside_are_escapes_and_each_is_at_its_line(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    write(tmp_path, "outside/kustomization.yaml", "resources: []\n")
    write(repo, "base/kustomization.yaml", "resources:\n- cm.yaml\ncomponents:\n- ../../outside\n")
    write(repo, "prod/kustomization.yaml", "resources:\n- ../base\n- ../../outside\n")
    write(repo, "unchecked/kustomization.yaml", "resources: &r\n- ../base\nbases: *r\n")

    found = reaching.escaping(repo.resolve(), (repo / "prod").resolve())
    unchecked = reaching.escaping(repo.resolve(), (repo / "unchecked").resolve())

    assert sorted((p.path, p.line) for p in found) == [
        ("base/kustomization.yaml", 4),
        ("prod/kustomization.yaml", 3),
    ]
    assert unchecked == []  # not known to leave: only not reusable (``leaving``)
