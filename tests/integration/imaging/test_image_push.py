"""`reloader image set --commit --push` against real git: bare repositories on file://.

Each test plays CI pipelines: clones of one origin, each running the real command as a
child process; what landed is read back from the origin with git.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reloader.kube.rest import Rest
from tests.integration.gitops.support import GitRepo, run_reloader

pytestmark = pytest.mark.integration
APPS = 10
DEPLOYMENT = """\
# app-{i}: the tag is bumped by CI, everything else by hand
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: {ns}
spec:
  selector:
    matchLabels: {{app: app-{i}}}
  template:
    metadata:
      labels: {{app: {label}}}
    spec:
      containers:
        - name: app
          image: "registry.example/app-{i}:1.0"   # the line CI edits
"""


def manifest(i: int, ns: str = "default", label: str = "") -> str:
    return DEPLOYMENT.format(i=i, ns=ns, label=label or f"app-{i}")


def seeded(tmp_path: Path, ns: str = "default", broken: int | None = None) -> GitRepo:
    """An origin (bare) whose main holds APPS Deployments, one file each."""
    origin = GitRepo.init(tmp_path / "origin.git", bare=True)
    seed = GitRepo.init(tmp_path / "seed")
    for i in range(APPS):
        label = "mismatch" if i == broken else ""
        seed.write(f"apps/app-{i}/deployment.yaml", manifest(i, ns, label))
    seed.commit("Seed ten apps")
    seed.git("push", "--quiet", origin.url, "main")
    return origin


def clone(origin: GitRepo, path: Path) -> GitRepo:
    path.parent.mkdir(parents=True, exist_ok=True)
    GitRepo(path.parent).git("clone", "--quiet", origin.url, str(path))
    repo = GitRepo(path)
    repo.git("config", "user.name", "CI")
    repo.git("config", "user.email", "ci@example.com")
    return repo


async def image_set(repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return await run_reloader("image", "set", *args, "--path", str(repo.path))


async def test_a_pushed_bump_is_one_commit_naming_the_change_and_one_changed_line(
    tmp_path: Path, kubeconfig: str, namespace: str
) -> None:
    origin = seeded(tmp_path, ns=namespace)
    before = origin.git("rev-parse", "main").strip()
    work = clone(origin, tmp_path / "ci")
    code, out, err = await image_set(
        work,
        "registry.example/app-3=registry.example/app-3:2.0",
        "--push",
        "main",
        "--server-dry-run",
        "--kubeconfig",
        kubeconfig,
    )
    assert code == 0, err
    assert out.splitlines()[0] == (
        f"{work.path}/apps/app-3/deployment.yaml:16: "
        "registry.example/app-3:1.0 -> registry.example/app-3:2.0"
    )
    assert "with a server dry-run" in err
    log = origin.git("log", "--format=%H%x00%P%x00%s%x00%b%x00%an", "-1", "main").split("\x00")
    assert log[1] == before  # one commit, on the head it found
    assert log[2] == "Set image registry.example/app-3 to registry.example/app-3:2.0"
    assert log[3].strip() == (
        "apps/app-3/deployment.yaml:16: registry.example/app-3:1.0 -> registry.example/app-3:2.0"
    )
    assert log[4].strip() == "CI"
    landed = origin.git("show", "main:apps/app-3/deployment.yaml")
    assert landed == manifest(3, namespace).replace("app-3:1.0", "app-3:2.0")
    assert origin.git("diff", "--numstat", before, "main").split() == [
        "1",
        "1",
        "apps/app-3/deployment.yaml",
    ]


async def test_ten_pipelines_pushing_at_once_all_land(tmp_path: Path) -> None:
    origin = seeded(tmp_path)
    seed = origin.git("rev-parse", "main").strip()
    clones = [clone(origin, tmp_path / f"ci-{i}") for i in range(APPS)]
    results = await asyncio.gather(
        *(
            image_set(
                work,
                f"registry.example/app-{i}:2.0",
                "--push",
                "main",
                "--author",
                f"Pipeline {i} <ci-{i}@example.com>",
            )
            for i, work in enumerate(clones)
        )
    )
    for i, (code, _, err) in enumerate(results):
        assert code == 0, f"pipeline {i}: {err}"
    for i in range(APPS):
        landed = origin.git("show", f"main:apps/app-{i}/deployment.yaml")
        assert landed == manifest(i).replace(f"app-{i}:1.0", f"app-{i}:2.0"), i
    commits = origin.git("log", "--format=%an", f"{seed}..main").split("\n")
    assert sorted(c for c in commits if c) == sorted(f"Pipeline {i}" for i in range(APPS))
    assert origin.git("rev-list", "--merges", "--count", "main").strip() == "0"
    assert any("retrying on its new head" in err for _, _, err in results)


async def test_two_pipelines_bumping_one_image_end_with_the_last_to_land(tmp_path: Path) -> None:
    origin = seeded(tmp_path)
    seed = origin.git("rev-parse", "main").strip()
    results = await asyncio.gather(
        *(
            image_set(
                clone(origin, tmp_path / f"ci-{tag}"),
                f"registry.example/app-0:{tag}",
                "--push",
                "main",
            )
            for tag in ("2.0", "3.0")
        )
    )
    assert [code for code, _, _ in results] == [0, 0], results
    last = origin.git("log", "-1", "--format=%s", "main").strip()
    tag = last.rpartition(":")[2]
    assert tag in ("2.0", "3.0")
    assert f'image: "registry.example/app-0:{tag}"' in origin.git(
        "show", "main:apps/app-0/deployment.yaml"
    )
    assert origin.git("rev-list", "--count", f"{seed}..main").strip() == "2"


async def test_a_new_branch_starts_from_the_base_and_leaves_it_alone(tmp_path: Path) -> None:
    origin = seeded(tmp_path)
    main = origin.git("rev-parse", "main").strip()
    work = clone(origin, tmp_path / "ci")
    code, _, err = await image_set(
        work, "registry.example/app-1:2.0", "--push", "bump/app-1-2.0", "--base", "main"
    )
    assert code == 0, err
    assert origin.git("rev-parse", "main").strip() == main
    assert origin.git("rev-parse", "bump/app-1-2.0~1").strip() == main
    # Run again (a retried pipeline): the branch already holds it, nothing is pushed.
    branch = origin.git("rev-parse", "bump/app-1-2.0").strip()
    code, out, err = await image_set(
        work, "registry.example/app-1:2.0", "--push", "bump/app-1-2.0", "--base", "main"
    )
    assert code == 0, err
    assert "(already)" in out
    assert "nothing to push" in err
    assert origin.git("rev-parse", "bump/app-1-2.0").strip() == branch


async def test_a_revision_the_server_refuses_is_not_pushed(
    tmp_path: Path, kubeconfig: str, namespace: str, rest: Rest
) -> None:
    origin = seeded(tmp_path, ns=namespace, broken=5)  # app-5's selector matches no labels
    main = origin.git("rev-parse", "main").strip()
    work = clone(origin, tmp_path / "ci")
    code, out, err = await image_set(
        work,
        "registry.example/app-2:2.0",
        "--push",
        "main",
        "--server-dry-run",
        "--kubeconfig",
        kubeconfig,
    )
    assert code == 1
    assert "apps/app-5/deployment.yaml" in out  # the problem, with its file
    assert "selector" in out
    assert "nothing committed or pushed" in err
    assert origin.git("rev-parse", "main").strip() == main
    assert work.git("status", "--porcelain") == ""  # the edit was taken back
    assert work.git("rev-parse", "HEAD").strip() == main


async def test_commit_alone_commits_the_edited_file_and_pushes_nothing(tmp_path: Path) -> None:
    origin = seeded(tmp_path)
    main = origin.git("rev-parse", "main").strip()
    work = clone(origin, tmp_path / "ci")
    work.write("notes.txt", "staged by hand, not part of the bump\n")
    work.git("add", "notes.txt")
    code, _, err = await image_set(work, "registry.example/app-4:2.0", "--commit")
    assert code == 0, err
    assert work.git("rev-parse", "HEAD~1").strip() == main
    assert work.git("show", "--name-only", "--format=", "HEAD").split() == [
        "apps/app-4/deployment.yaml"
    ]
    assert work.git("diff", "--cached", "--name-only").split() == ["notes.txt"]
    assert origin.git("rev-parse", "main").strip() == main
