"""The loop renders a commit only when what the render reads changed: observed by counting the
builds of a kustomize that records each run before running the real one."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from reloader.core import names
from reloader.kube.rest import Rest
from tests.integration.cluster import eventually, path_of, stays
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import GitRepo, data_of, is_applied
from tests.integration.gitops.test_rendering import tools_dir
from tests.integration.rollouts import expect_revisions

WEB = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {{{names.AUTO}: "true"}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: app
        image: registry.invalid/app:1
        envFrom: [{{configMapRef: {{name: settings}}}}]
"""


def settings(greeting: str) -> str:
    head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
    return f"{head}data:\n  greeting: {greeting}\n"


def counting_kustomize(tmp_path: Path) -> tuple[Path, Path]:
    """A kustomize that appends a line to a file for each ``build`` it runs, and that file."""
    count = tmp_path / "builds"
    count.write_text("")
    wrapper = tmp_path / "bin/kustomize"
    wrapper.parent.mkdir()
    real = tools_dir() / "kustomize"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = build ]; then echo build >> "{count}"; fi\nexec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, count


def builds(count: Path) -> int:
    return len(count.read_text().splitlines())


async def versions(rest: Rest, namespace: str) -> dict[str, str]:
    found = {}
    for kind, name in (("ConfigMap", "settings"), ("Deployment", "web")):
        obj = await rest.get(path_of(kind, namespace, name))
        found[f"{kind}/{name}"] = obj["metadata"]["resourceVersion"]
    return found


async def test_an_empty_commit_is_not_rendered_again_and_a_change_in_the_base_is(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, tmp_path: Path
) -> None:
    kustomize, count = counting_kustomize(tmp_path)
    repo.write("base/kustomization.yaml", "resources:\n- settings.yaml\n- web.yaml\n")
    repo.write("base/settings.yaml", settings("hello"))
    repo.write("base/web.yaml", WEB)
    repo.write(
        "prod/kustomization.yaml",
        'resources:\n- ../base\nimages:\n- name: registry.invalid/app\n  newTag: "2"\n',
    )
    first = repo.commit("an overlay over a base outside --git-path")
    proc = await start_loop(
        "--git-path",
        "prod",
        "--prune",
        "true",
        "--kustomize-binary",
        str(kustomize),
        "--helm-binary",
        str(tools_dir() / "helm"),
    )
    await eventually(partial(is_applied, rest, namespace, first), within=30, what="applied")
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=1.0)
    assert builds(count) == 1
    before = await versions(rest, namespace)

    second = repo.commit("nothing changed")

    await eventually(partial(is_applied, rest, namespace, second), within=30, what="empty commit")
    assert builds(count) == 1, "the empty commit was rendered again"
    assert await proc.metric("reloader_gitops_renders_total", result="reused") == 1

    async def idle() -> bool:
        return builds(count) == 1 and await versions(rest, namespace) == before

    await stays(idle, for_=3.0, what="no render and no write over idle cycles")
    await expect_revisions(rest, namespace, "Deployment", "web", 1, hold=0.5)

    repo.write("base/settings.yaml", settings("bonjour"))  # outside --git-path, read by it
    third = repo.commit("a change in the base")

    await eventually(partial(is_applied, rest, namespace, third), within=30, what="base change")
    assert builds(count) == 2
    assert await data_of(rest, namespace, "settings") == {"greeting": "bonjour"}
    await expect_revisions(rest, namespace, "Deployment", "web", 2, hold=2.0)
    assert await proc.metric("reloader_gitops_renders_total", result="rendered") == 2
