"""From a CI image bump to a rolled Deployment, with nothing faked: a Gitea repository the GitOps
loop syncs, a CI step running ``reloader image set ... --push --pull-request``, a reviewer
merging the pull request on Gitea, and Gitea's signed push webhook waking the loop, which
applies the new image and rolls the Deployment exactly once."""

from __future__ import annotations

import secrets
from functools import partial
from pathlib import Path
from typing import Any

from reloader.kube.rest import Rest
from tests.integration.cluster import (
    configmap,
    container,
    deployment,
    eventually,
    path_of,
    stays,
)
from tests.integration.conftest import StartReloader
from tests.integration.controller import ReloaderProcess, free_port
from tests.integration.forge import USER, ApiAnswerError, Gitea
from tests.integration.gitops.support import AUTO, GitRepo, is_applied, run_reloader
from tests.integration.rollouts import expect_revisions

HEAD = "bump/app-2.0"
OLD, NEW = "app:1.0", "registry.example/app:2.0"


def _manifests() -> tuple[dict[str, Any], dict[str, Any]]:
    """A ConfigMap and an opted-in Deployment reading it, running ``OLD``."""
    spec = {"containers": [container(image=OLD, envFrom=[{"configMapRef": {"name": "cfg"}}])]}
    return configmap("cfg", {"mode": "prod"}), deployment("app", annotations=AUTO, pod_spec=spec)


def _authenticated(gitea: Gitea, repository: str) -> str:
    return gitea.clone_url(repository).replace("://", f"://x-access-token:{gitea.token}@")


async def _image(rest: Rest, namespace: str) -> str:
    obj = await rest.get(path_of("Deployment", namespace, "app"))
    image: str = obj["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


async def _merged(gitea: Gitea, repository: str, index: int) -> bool:
    """Merge once Gitea has checked the pull request (405 until then)."""
    try:
        await gitea.merge(repository, index)
    except ApiAnswerError as exc:
        if exc.status == 405:
            return False
        raise
    return True


def _webhook_syncs(loop: ReloaderProcess) -> int:
    """Deliveries the loop's receiver verified and synced on (Gitea signs them)."""
    return sum(1 for line in loop.logs() if line.get("event") == "webhook accepted; syncing now")


async def _woken(loop: ReloaderProcess, more_than: int) -> bool:
    return _webhook_syncs(loop) > more_than


async def test_a_merged_image_bump_rolls_the_deployment_once_woken_by_giteas_webhook(
    gitea: Gitea, rest: Rest, namespace: str, start_reloader: StartReloader, tmp_path: Path
) -> None:
    repository = await gitea.create_repository(f"e2e-{secrets.token_hex(4)}")
    seed = GitRepo.init(tmp_path / "seed")
    seed.put("app.yaml", *_manifests())
    first = seed.commit("app 1.0")
    seed.git("push", "--quiet", _authenticated(gitea, repository), "main")

    secret = secrets.token_hex(16)
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(secret + "\n")
    port = free_port()
    loop = await start_reloader(
        "--git-url",
        gitea.clone_url(repository),
        "--sync-interval",
        "1h",  # only the webhook can make it sync again within the test
        "--state-namespace",
        namespace,
        "--git-workdir",
        str(tmp_path / "loop"),
        "--default-namespace",
        namespace,
        "--webhook-bind-address",
        f"127.0.0.1:{port}",
        "--webhook-secret-file",
        str(secret_file),
    )
    await eventually(partial(is_applied, rest, namespace, first), within=30, what="app 1.0 applied")
    await expect_revisions(rest, namespace, "Deployment", "app", 1)
    await gitea.add_push_webhook(
        repository, url=f"http://127.0.0.1:{port}/hooks/git", secret=secret
    )

    # The CI step: a clone of the public repository, the bump, a branch, a pull request; one
    # token (a CI secret, in a file) pushes and opens it.
    ci = tmp_path / "ci"
    GitRepo(tmp_path).git("clone", "--quiet", gitea.clone_url(repository), str(ci))
    GitRepo(ci).git("config", "user.name", "CI")
    GitRepo(ci).git("config", "user.email", "ci@example.com")
    token_file = tmp_path / "ci-token"
    token_file.write_text(gitea.token + "\n")
    code, out, err = await run_reloader(
        "image",
        "set",
        f"app={NEW}",
        "--path",
        str(ci),
        "--commit",
        "--push",
        HEAD,
        "--git-token-file",
        str(token_file),
        "--pull-request",
        "--forge",
        "gitea",
        "--forge-url",
        gitea.url,
        "--forge-token-file",
        str(token_file),
        "--repository",
        repository,
        "--base",
        "main",
        "--title",
        "Bump app to 2.0",
    )
    assert code == 0, f"reloader image set failed:\n{out}\n{err}"
    assert gitea.token not in out + err
    [pull] = await gitea.open_pulls(repository)
    assert pull["html_url"] in out + err
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (HEAD, "main")
    assert NEW in pull["body"]
    assert pull["user"]["login"] == USER

    # Gitea's webhook for the branch push woke the loop, but main did not change: nothing rolls.
    await eventually(partial(_woken, loop, 0), within=30, what="the branch push's webhook")
    await stays(partial(_unchanged, rest, namespace), for_=2.0, what="app at 1.0 before the merge")

    woken = _webhook_syncs(loop)
    await eventually(
        partial(_merged, gitea, repository, int(pull["number"])), within=60, what="the merge"
    )
    # An hour between polls: only the merge's webhook can bring 2.0 within the deadline.
    await eventually(
        partial(_at_new_image, rest, namespace), within=30, what=f"the Deployment at {NEW}"
    )
    assert _webhook_syncs(loop) > woken, "the loop synced without Gitea's webhook waking it"
    await expect_revisions(rest, namespace, "Deployment", "app", 2, hold=3.0)


async def _unchanged(rest: Rest, namespace: str) -> bool:
    return await _image(rest, namespace) == OLD


async def _at_new_image(rest: Rest, namespace: str) -> bool:
    return await _image(rest, namespace) == NEW
