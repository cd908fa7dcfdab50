"""A path holding a kustomization is rendered by the real kustomize (and Helm through it), and
what it renders is checked and reported against the author's own files.

These run the binaries ``hack/build-tools`` builds: a missing tool fails the test, loudly.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from reloader.core import names
from reloader.core.manifests import Manifest, Problem
from reloader.gitops import rendering
from reloader.gitops.rendering import ORIGIN, RenderTools, render_revision, render_tree
from reloader.kube.rest import Rest
from tests.integration.cluster import bin_dir, eventually, path_of
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import GitRepo, is_applied, state
from tests.integration.rollouts import expect_revisions


def tools_dir() -> Path:
    """Where ``hack/build-tools`` puts kustomize and helm; they must be there."""
    bins = bin_dir("build-tools")
    for tool in ("kustomize", "helm"):
        assert (bins / tool).is_file(), f"{bins / tool} is missing: run hack/build-tools first"
    return bins


@pytest.fixture
def tools() -> RenderTools:
    bins = tools_dir()
    return RenderTools(kustomize=str(bins / "kustomize"), helm=str(bins / "helm"))


def write(root: Path, rel: str, text: str) -> None:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def by_kind(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {m.kind: m for m in manifests}


BASE_DEPLOYMENT = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: registry.invalid/app:1
        envFrom: [{configMapRef: {name: web-config}}]
"""


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations") or {})


def prod_overlay(tmp_path: Path) -> None:
    """A base, a component, a patch, an image and a generator: one overlay of each feature."""
    write(tmp_path, "base/kustomization.yaml", "resources:\n- deploy.yaml\n")
    write(tmp_path, "base/deploy.yaml", BASE_DEPLOYMENT)
    write(
        tmp_path,
        "components/team/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        "commonLabels:\n  team: payments\n",
    )
    write(
        tmp_path,
        "prod/kustomization.yaml",
        """\
resources:
- ../base
components:
- ../components/team
patches:
- path: replicas.yaml
images:
- name: registry.invalid/app
  newTag: "2"
configMapGenerator:
- name: web-config
  literals: [GREETING=hello]
""",
    )
    write(
        tmp_path,
        "prod/replicas.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n",
    )


async def test_an_overlay_with_base_component_patch_images_and_generator_renders(
    tmp_path: Path, tools: RenderTools
) -> None:
    prod_overlay(tmp_path)

    manifests, problems = await render_tree(tmp_path, "prod", tools=tools)

    assert problems == []
    found = by_kind(manifests)
    assert set(found) == {"ConfigMap", "Service", "Deployment"}
    config = found["ConfigMap"]
    assert config.obj["metadata"]["name"].startswith("web-config-")  # the generator's hash
    assert config.obj["data"] == {"GREETING": "hello"}
    assert (config.path, config.line) == ("prod/kustomization.yaml", 11)
    web = found["Deployment"]
    assert (web.path, web.line) == ("base/deploy.yaml", 8)
    assert (found["Service"].path, found["Service"].line) == ("base/deploy.yaml", 1)
    assert web.obj["spec"]["replicas"] == 3
    assert web.obj["metadata"]["labels"] == {"team": "payments"}
    container = web.obj["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.invalid/app:2"
    assert container["envFrom"] == [{"configMapRef": {"name": config.obj["metadata"]["name"]}}]
    for manifest in manifests:
        assert ORIGIN not in annotations_of(manifest.obj)


async def test_the_loop_s_quick_render_holds_the_same_objects_and_locates_them_alike(
    tmp_path: Path, tools: RenderTools
) -> None:
    """Built without origins, each object is located only when a problem asks, and then at
    the path:line render_tree gives it; a problem not at an object is left as it is."""
    prod_overlay(tmp_path)
    located, _ = await render_tree(tmp_path, "prod", tools=tools)

    rendering = await render_revision(tmp_path, "prod", tools=tools)

    assert rendering.problems == []
    assert rendering.reusable
    assert rendering.unlocated == "prod/kustomization.yaml (rendered)"
    assert {m.key: m.obj for m in rendering.manifests} == {m.key: m.obj for m in located}
    checkouts = 0

    async def checkout() -> Path:
        nonlocal checkouts
        checkouts += 1
        return tmp_path

    at_objects: list[Problem | str] = [
        Problem(m.path, m.line, f"bad {m.kind}") for m in rendering.manifests
    ]
    elsewhere: list[Problem | str] = [
        Problem("prod/kustomization.yaml", 1, "kustomize said so"),
        "not a Problem",
    ]
    assert await rendering.locate(elsewhere, checkout) == elsewhere
    assert checkouts == 0, "nothing to locate, nothing rebuilt"
    found = await rendering.locate([*at_objects, *elsewhere], checkout)
    expected = {m.kind: (m.path, m.line) for m in located}
    assert found == [
        *(Problem(*expected[m.kind], f"bad {m.kind}") for m in rendering.manifests),
        *elsewhere,
    ]
    await rendering.locate(at_objects, checkout)
    assert checkouts == 1, "located once, then remembered"


async def test_a_transformer_outside_the_checkout_refuses_the_render(
    tmp_path: Path, tools: RenderTools
) -> None:
    # kustomize builds any directory a transformer names, wherever it is: its output would
    # change what is applied without being in git.
    write(tmp_path, "outside/tr/kustomization.yaml", "resources: []\n")
    write(tmp_path, "repo/prod/kustomization.yaml", "resources:\n- cm.yaml\n")
    write(tmp_path, "repo/prod/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    clean = await render_revision(tmp_path / "repo", "prod", tools=tools)
    write(
        tmp_path,
        "repo/prod/kustomization.yaml",
        "resources:\n- cm.yaml\ntransformers:\n- ../../outside/tr\n",
    )

    reaching_out = await render_revision(tmp_path / "repo", "prod", tools=tools)
    manifests, problems = await render_tree(tmp_path / "repo", "prod", tools=tools)

    assert clean.reusable
    assert reaching_out.manifests == []
    assert manifests == []
    assert not reaching_out.reusable
    for found in (reaching_out.problems, problems):
        assert [(p.path, p.line) for p in found] == [("prod/kustomization.yaml", 4)]
        assert "'../../outside/tr', a directory outside the repository" in found[0].message


async def test_a_symlink_out_of_the_checkout_makes_a_render_not_reusable(
    tmp_path: Path, tools: RenderTools
) -> None:
    write(tmp_path, "elsewhere/notes.txt", "not in git\n")
    write(tmp_path, "repo/prod/kustomization.yaml", "resources:\n- cm.yaml\n")
    write(tmp_path, "repo/prod/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    (tmp_path / "repo/docs").mkdir()
    (tmp_path / "repo/docs/notes.txt").symlink_to(tmp_path / "elsewhere/notes.txt")

    rendering = await render_revision(tmp_path / "repo", "prod", tools=tools)

    assert [m.name for m in rendering.manifests] == ["x"]
    assert not rendering.reusable
    assert rendering.outside == ["docs/notes.txt links outside the repository"]
    assert rendering.unlocated is None  # built the careful way, with origins


async def test_a_broken_kustomization_is_a_problem_naming_the_file(
    tmp_path: Path, tools: RenderTools
) -> None:
    write(tmp_path, "base/kustomization.yaml", "resources:\n- missing.yaml\n")
    write(tmp_path, "prod/kustomization.yaml", "resources:\n- ../base\n")

    manifests, problems = await render_tree(tmp_path, "prod", tools=tools)

    assert manifests == []
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.path, problem.line) == ("prod/kustomization.yaml", 1)
    assert "kustomize build failed" in problem.message
    assert "base/missing.yaml" in problem.message
    assert str(tmp_path) not in problem.message  # no private or absolute paths


async def test_a_duplicate_key_kustomize_refuses_is_reported_at_its_file_and_line(
    tmp_path: Path, tools: RenderTools
) -> None:
    """kustomize names the line, not the file; the problem names both."""
    write(tmp_path, "base/app.yaml", BASE_DEPLOYMENT)
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twice\ndata:\n  a: 1\n  a: 2\n"
    write(tmp_path, "base/extra.yaml", bad)
    write(tmp_path, "base/kustomization.yaml", "resources:\n- app.yaml\n- extra.yaml\n")
    write(tmp_path, "prod/kustomization.yaml", "resources:\n- ../base\n")

    manifests, problems = await render_tree(tmp_path, "prod", tools=tools)

    assert manifests == []
    located = [(p.path, p.line) for p in problems]
    assert ("base/extra.yaml", 7) in located, problems
    assert ("prod/kustomization.yaml", 1) in located  # kustomize's own message, too


async def test_a_local_helm_chart_is_inflated_with_its_values_file(
    tmp_path: Path, tools: RenderTools
) -> None:
    write(tmp_path, "app/charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n")
    write(tmp_path, "app/charts/web/values.yaml", "greeting: default\n")
    write(
        tmp_path,
        "app/charts/web/templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n",
    )
    write(tmp_path, "app/values-prod.yaml", "greeting: from-prod\n")
    write(
        tmp_path,
        "app/kustomization.yaml",
        """\
helmGlobals:
  chartHome: charts
helmCharts:
- name: web
  releaseName: shop
  valuesFile: values-prod.yaml
""",
    )

    manifests, problems = await render_tree(tmp_path, "app", tools=tools)

    assert problems == []
    [config] = manifests
    assert config.obj["metadata"]["name"] == "shop-config"
    assert config.obj["data"] == {"greeting": "from-prod"}
    assert config.path == "app/kustomization.yaml"
    assert ORIGIN not in annotations_of(config.obj)


async def test_a_problem_in_a_rendered_object_points_at_its_source_file(
    tmp_path: Path, tools: RenderTools
) -> None:
    write(tmp_path, "base/kustomization.yaml", "resources:\n- good.yaml\n- bad.yaml\n")
    write(tmp_path, "base/good.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n")
    write(
        tmp_path,
        "base/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n---\n"
        "# the second object\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n",
    )
    write(tmp_path, "prod/kustomization.yaml", "resources:\n- ../base\n")

    _, problems = await render_tree(tmp_path, "prod", tools=tools)

    assert [(p.path, p.line) for p in problems] == [("base/bad.yaml", 7)]
    assert "Not_Valid" in problems[0].message


async def test_a_base_outside_the_repository_is_refused(tmp_path: Path, tools: RenderTools) -> None:
    write(tmp_path, "outside/kustomization.yaml", "resources:\n- cm.yaml\n")
    write(tmp_path, "outside/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    write(tmp_path, "repo/prod/kustomization.yaml", "resources:\n- ../../outside\n")

    manifests, problems = await render_tree(tmp_path / "repo", "prod", tools=tools)

    assert manifests == []
    assert [(p.path, p.line) for p in problems] == [("prod/kustomization.yaml", 2)]
    assert "outside the repository" in problems[0].message


async def test_remote_bases_are_refused_without_reaching_the_network(
    tmp_path: Path, tools: RenderTools
) -> None:
    write(
        tmp_path,
        "prod/kustomization.yaml",
        "resources:\n- git@github.com:kubernetes-sigs/kustomize//examples/helloWorld?ref=v1.0.6\n",
    )

    manifests, problems = await render_tree(tmp_path, "prod", tools=tools)

    assert manifests == []
    assert [(p.path, p.line) for p in problems] == [("prod/kustomization.yaml", 1)]
    assert "not allowed" in problems[0].message


async def test_output_over_the_cap_is_refused_not_cut(
    tmp_path: Path, tools: RenderTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rendering, "OUTPUT_LIMIT", 4096)
    write(tmp_path, "prod/kustomization.yaml", "resources:\n- big.yaml\n")
    big = "x" * 8192
    write(
        tmp_path,
        "prod/big.yaml",
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  a: {big}\n",
    )

    manifests, problems = await render_tree(tmp_path, "prod", tools=tools)

    assert manifests == []
    assert [(p.path, p.line) for p in problems] == [("prod/kustomization.yaml", 1)]
    assert "refused" in problems[0].message


async def test_a_render_past_its_time_limit_is_a_problem(
    tmp_path: Path, tools: RenderTools
) -> None:
    write(tmp_path, "prod/kustomization.yaml", "resources:\n- cm.yaml\n")
    write(tmp_path, "prod/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    slow = dataclasses.replace(tools, time_limit=0.001)

    manifests, problems = await render_tree(tmp_path, "prod", tools=slow)

    assert manifests == []
    assert [(p.path, p.line) for p in problems] == [("prod/kustomization.yaml", 1)]
    assert "timed out" in problems[0].message


async def test_a_path_without_a_kustomization_is_read_file_by_file(
    tmp_path: Path, tools: RenderTools
) -> None:
    write(tmp_path, "plain/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")

    manifests, problems = await render_tree(tmp_path, "plain", tools=tools)

    assert problems == []
    assert [(m.path, m.line, m.obj["metadata"]["name"]) for m in manifests] == [
        ("plain/cm.yaml", 1, "x")
    ]


def overlay(repo: GitRepo, greeting: str) -> None:
    repo.write("base/kustomization.yaml", "resources:\n- web.yaml\n")
    repo.write(
        "base/web.yaml",
        BASE_DEPLOYMENT.split("---\n")[1].replace(
            "  name: web\nspec:",
            f'  name: web\n  annotations: {{{names.AUTO}: "true"}}\nspec:\n  replicas: 1',
            1,
        ),
    )
    repo.write(
        "prod/kustomization.yaml",
        'resources:\n- ../base\nimages:\n- name: registry.invalid/app\n  newTag: "2"\n'
        f"configMapGenerator:\n- name: web-config\n  literals: [GREETING={greeting}]\n",
    )


async def test_the_loop_applies_an_overlay_and_a_new_generator_literal_rolls_once(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    bins = tools_dir()
    overlay(repo, "hello")
    first = repo.commit("kustomize overlay")
    await start_loop(
        "--git-path",
        "prod",
        "--prune",
        "true",
        "--kustomize-binary",
        str(bins / "kustomize"),
        "--helm-binary",
        str(bins / "helm"),
    )
    await eventually(partial(is_applied, rest, namespace, first), within=20, what="first applied")
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=1.0)
    web = await rest.get(path_of("Deployment", namespace, "web"))
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.invalid/app:2"
    assert ORIGIN not in annotations_of(web)
    old_config = container["envFrom"][0]["configMapRef"]["name"]
    assert old_config.startswith("web-config-")

    overlay(repo, "bonjour")
    second = repo.commit("only the generator's literal")

    await eventually(partial(is_applied, rest, namespace, second), within=20, what="applied")
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=3.0)
    web = await rest.get(path_of("Deployment", namespace, "web"))
    new_config = web["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]
    assert new_config["configMapRef"]["name"] != old_config
    config = await rest.get(path_of("ConfigMap", namespace, new_config["configMapRef"]["name"]))
    assert config["data"] == {"GREETING": "bonjour"}
    assert await rest.get_or_none(path_of("ConfigMap", namespace, old_config)) is None  # pruned


async def test_a_problem_the_server_finds_in_a_rendered_object_is_reported_at_its_line(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    """The loop renders without origins; the dry run's problem is still at the author's line."""
    bins = tools_dir()
    repo.write("base/kustomization.yaml", "resources:\n- objects.yaml\n")
    repo.write(
        "base/objects.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
        "spec:\n  ports: [{port: 70000}]\n",
    )
    repo.write("prod/kustomization.yaml", "resources:\n- ../base\n")
    sha = repo.commit("a port the API server refuses")
    await start_loop(
        "--git-path",
        "prod",
        "--kustomize-binary",
        str(bins / "kustomize"),
        "--helm-binary",
        str(bins / "helm"),
    )

    async def reported() -> list[str]:
        found = await state(rest, namespace)
        attempted = (found.get("last_attempted") or {}).get("sha")
        errors: list[str] = found.get("errors") or []
        return errors if attempted == sha else []

    errors = await eventually(reported, within=30, what="the revision refused")
    assert len(errors) == 1, errors
    assert errors[0].startswith("base/objects.yaml:6: "), errors
    assert "70000" in errors[0]
    assert await rest.get_or_none(path_of("ConfigMap", namespace, "fine")) is None
