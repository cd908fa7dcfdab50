"""The loop reads manifests only: CI files, build files and what `.sourceignore` names are skipped.

A repository applied with the default ``--git-path .`` holds a CI workflow, a kustomize build
file and a draft that does not parse; none of them may stop the manifests beside them.
"""

from __future__ import annotations

from functools import partial

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, eventually, path_of
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import GitRepo, exists, is_applied, state

WORKFLOW = """\
name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: make test
"""


async def test_skipped_files_do_not_stop_the_manifests_beside_them(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.write(".github/workflows/ci.yml", WORKFLOW)
    repo.write(".gitlab-ci.yml", "test:\n  script: make test\n")
    repo.write(".sourceignore", "# work in progress, not applied\ndrafts/\n")
    repo.write("drafts/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n")
    repo.put("drafts/draft.yaml", configmap("draft", {"x": "1"}))
    repo.write(
        "apps/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - web.yaml\n",
    )
    repo.put("apps/web.yaml", configmap("web", {"greeting": "hello"}))
    repo.put("settings.yaml", configmap("settings", {"mode": "a"}))
    sha = repo.commit("manifests, a CI workflow, a build file and drafts")

    await start_loop()

    await eventually(
        partial(is_applied, rest, namespace, sha), within=15, what="the revision applied"
    )
    for name in ("web", "settings"):
        assert await rest.get_or_none(path_of("ConfigMap", namespace, name)) is not None
    assert not await exists(rest, namespace, "ConfigMap", "draft")
    status = await state(rest, namespace)
    assert status["errors"] == []
    assert status["warnings"] == []
    assert sorted(e["name"] for e in status["inventory"]) == ["settings", "web"]
