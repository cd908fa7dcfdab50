"""The webhook: a signed POST makes the loop sync at once; anything else changes nothing."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from reloader.kube.rest import Rest
from tests.integration.cluster import configmap, eventually, path_of, stays
from tests.integration.controller import free_port
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    GitRepo,
    data_of,
    is_applied,
    post_hook,
    signed,
)

SECRET = b"it is a secret to everybody"
BODY = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()
JSON = {"Content-Type": "application/json", "X-GitHub-Event": "push"}


async def _listening(
    repo: GitRepo, start_loop: StartLoop, rest: Rest, namespace: str, tmp_path: Path
) -> int:
    """The loop with a webhook and an hour between polls, after its first sync; its port."""
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_bytes(SECRET + b"\n")
    port = free_port()
    repo.put("cfg.yaml", configmap("cfg", {"v": "1"}))
    sha = repo.commit("first")
    await start_loop(
        "--sync-interval",
        "1h",
        "--webhook-bind-address",
        f"127.0.0.1:{port}",
        "--webhook-secret-file",
        str(secret_file),
    )
    await eventually(partial(is_applied, rest, namespace, sha), within=10, what="first applied")
    return port


async def _at(rest: Rest, namespace: str, version: str) -> bool:
    return await data_of(rest, namespace, "cfg") == {"v": version}


async def test_webhook_without_a_valid_signature_is_refused_and_syncs_nothing(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, tmp_path: Path
) -> None:
    port = await _listening(repo, start_loop, rest, namespace, tmp_path)
    repo.put("cfg.yaml", configmap("cfg", {"v": "2"}))
    repo.commit("second")

    forged = signed(b"a guess", BODY)
    assert await post_hook(port, BODY, {**JSON, "X-Hub-Signature-256": forged}) == 401
    assert await post_hook(port, BODY, {**JSON, "X-Signature": forged}) == 401
    assert await post_hook(port, BODY, {**JSON, "X-Hub-Signature-256": "sha256="}) == 401
    assert await post_hook(port, BODY, JSON) == 401
    tampered = signed(SECRET, BODY)
    assert await post_hook(port, BODY + b" ", {**JSON, "X-Hub-Signature-256": tampered}) == 401
    await stays(partial(_at, rest, namespace, "1"), for_=2.0, what="the new commit not applied")


async def test_github_signed_webhook_syncs_at_once(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, tmp_path: Path
) -> None:
    port = await _listening(repo, start_loop, rest, namespace, tmp_path)
    repo.put("cfg.yaml", configmap("cfg", {"v": "2"}))
    repo.commit("second")

    headers = {**JSON, "X-Hub-Signature-256": signed(SECRET, BODY)}
    assert await post_hook(port, BODY, headers) == 202
    await eventually(partial(_at, rest, namespace, "2"), within=5, what="the new commit applied")


async def test_generic_signature_header_syncs_at_once(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, tmp_path: Path
) -> None:
    port = await _listening(repo, start_loop, rest, namespace, tmp_path)
    repo.put("cfg.yaml", configmap("cfg", {"v": "2"}))
    repo.commit("second")

    body = b"anything at all"
    assert await post_hook(port, body, {"X-Signature": signed(SECRET, body)}) == 202
    await eventually(partial(_at, rest, namespace, "2"), within=5, what="the new commit applied")


async def test_webhook_arriving_during_a_sync_is_not_lost(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, tmp_path: Path
) -> None:
    port = await _listening(repo, start_loop, rest, namespace, tmp_path)
    headers = {**JSON, "X-Hub-Signature-256": signed(SECRET, BODY)}
    repo.put("many.yaml", *(configmap(f"many-{i:03d}", {"i": str(i)}) for i in range(300)))
    big = repo.commit("300 ConfigMaps: a sync that takes a while")
    assert await post_hook(port, BODY, headers) == 202

    async def applying() -> bool:
        listing = await rest.get(path_of("ConfigMap", namespace))
        return any(item["metadata"]["name"].startswith("many-") for item in listing["items"])

    await eventually(applying, within=10, what="the big revision being applied", interval=0)
    repo.put("cfg.yaml", configmap("cfg", {"v": "2"}))
    repo.commit("pushed while the loop applies the previous push")
    assert await post_hook(port, BODY, headers) == 202
    assert not await is_applied(rest, namespace, big), "the sync ended before the 2nd webhook"

    await eventually(
        partial(_at, rest, namespace, "2"),
        within=10,
        what="the commit announced by the second webhook applied",
    )
