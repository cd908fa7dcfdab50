"""Secrets encrypted with SOPS and age are decrypted in memory, right before they are checked and
applied; their plaintext reaches the cluster and nowhere else (log, Events, state, disk).

These run the real sops, age-keygen and kustomize that ``hack/build-tools`` builds.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import subprocess
from functools import partial
from pathlib import Path

import yaml

from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import eventually, path_of
from tests.integration.controller import ReloaderProcess
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import (
    GitRepo,
    event_with,
    is_applied,
    reloader_status,
    run_reloader,
    state,
)
from tests.integration.gitops.test_rendering import tools_dir

SECRET_PATH = "secrets/db.yaml"


def age_key(path: Path) -> str:
    """Write a new age identities file at ``path``; its public key (the recipient)."""
    subprocess.run(
        [str(tools_dir() / "age-keygen"), "-o", str(path)], check=True, capture_output=True
    )
    found = re.search(r"(?m)^# public key: (age1\w+)$", path.read_text())
    assert found is not None, "age-keygen wrote no public key comment"
    return found.group(1)


def encrypted_secret(name: str, plaintext: str, recipient: str, scratch: Path) -> str:
    """A Secret holding ``plaintext``, encrypted for ``recipient`` as a user would (sops encrypt
    --age); the plaintext goes in through stdin, so it is never on disk."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": {"password": base64.b64encode(plaintext.encode()).decode()},
    }
    scratch.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            str(tools_dir() / "sops"),
            "encrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "--age",
            recipient,
            "--encrypted-regex",
            "^(data|stringData)$",
            "/dev/stdin",
        ],
        input=yaml.safe_dump(secret, sort_keys=False),
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(scratch)},
    )
    assert "ENC[AES256_GCM" in done.stdout
    assert plaintext not in done.stdout
    return done.stdout


def forms(plaintext: str) -> list[str]:
    return [plaintext, base64.b64encode(plaintext.encode()).decode()]


def assert_nowhere(plaintext: str, where: str, text: str) -> None:
    for form in forms(plaintext):
        assert form not in text, f"the plaintext is in {where}"


def assert_not_on_disk(plaintext: str, root: Path) -> None:
    needles = [form.encode() for form in forms(plaintext)]
    walked = 0
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            walked += 1
            body = path.read_bytes()
            for needle in needles:
                assert needle not in body, f"the plaintext is on disk in {path}"
    assert walked > 0, f"nothing on disk under {root}"


async def assert_told_nowhere(
    rest: Rest, namespace: str, plaintext: str, loop: ReloaderProcess
) -> None:
    assert_nowhere(plaintext, "the loop's log", loop.log_path.read_text())
    answer = await rest.get(f"/api/v1/namespaces/{namespace}/events")
    for event in answer["items"]:
        assert_nowhere(plaintext, "an Event", event.get("message") or "")
    assert_nowhere(plaintext, "the state ConfigMap", repr(await state(rest, namespace)))
    _, said = await reloader_status(loop.kubeconfig, namespace)
    assert_nowhere(plaintext, "`reloader status`", said)


def sops_args(key: Path) -> tuple[str, ...]:
    return ("--decryption-key-file", str(key), "--sops-binary", str(tools_dir() / "sops"))


async def test_an_encrypted_secret_is_applied_decrypted_and_its_plaintext_is_nowhere_else(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, tmp_path: Path
) -> None:
    key = tmp_path / "keys" / "flux.agekey"
    key.parent.mkdir()
    plaintext = f"pw-{secrets.token_hex(12)}"
    repo.write(SECRET_PATH, encrypted_secret("db", plaintext, age_key(key), tmp_path / "sops-home"))
    sha = repo.commit("an encrypted Secret")
    loop = await start_loop(*sops_args(key))

    await eventually(partial(is_applied, rest, namespace, sha), within=30, what="applied")
    live = await rest.get(path_of("Secret", namespace, "db"))
    assert base64.b64decode(live["data"]["password"]).decode() == plaintext
    assert "sops" not in live
    await asyncio.sleep(2.0)  # a few idle cycles, and their logs
    await assert_told_nowhere(rest, namespace, plaintext, loop)
    assert_not_on_disk(plaintext, tmp_path / "work")
    assert_not_on_disk(plaintext, repo.path)


async def test_a_secret_encrypted_for_another_key_refuses_the_revision_at_its_path_and_line(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, tmp_path: Path
) -> None:
    key = tmp_path / "ours.agekey"
    age_key(key)
    theirs = age_key(tmp_path / "theirs.agekey")
    plaintext = f"pw-{secrets.token_hex(12)}"
    repo.write(SECRET_PATH, encrypted_secret("db", plaintext, theirs, tmp_path / "sops-home"))
    repo.put(
        "cm.yaml",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}},
    )
    repo.commit("a Secret we cannot read")
    loop = await start_loop(*sops_args(key))

    async def refused() -> JSONDict | None:
        return await event_with(rest, namespace, "RevisionInvalid", f"{SECRET_PATH}:1:")

    event = await eventually(refused, within=30, what="RevisionInvalid naming the file")
    assert "cannot decrypt (SOPS)" in event["message"]
    assert await rest.get_or_none(path_of("Secret", namespace, "db")) is None
    assert await rest.get_or_none(path_of("ConfigMap", namespace, "cfg")) is None  # nothing
    await assert_told_nowhere(rest, namespace, plaintext, loop)
    assert_not_on_disk(plaintext, tmp_path / "work")


async def test_without_a_key_an_encrypted_secret_refuses_the_revision(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, tmp_path: Path
) -> None:
    recipient = age_key(tmp_path / "k.agekey")
    repo.write(SECRET_PATH, encrypted_secret("db", "x-" * 8, recipient, tmp_path / "sops-home"))
    repo.commit("encrypted, no key given")
    await start_loop()

    async def refused() -> JSONDict | None:
        return await event_with(rest, namespace, "RevisionInvalid", f"{SECRET_PATH}:1:")

    event = await eventually(refused, within=30, what="RevisionInvalid naming the file")
    assert "no --decryption-key-file" in event["message"]
    assert await rest.get_or_none(path_of("Secret", namespace, "db")) is None


async def test_a_kustomize_base_holding_an_encrypted_secret_is_rendered_then_decrypted(
    rest: Rest, namespace: str, repo: GitRepo, start_loop: StartLoop, tmp_path: Path
) -> None:
    key = tmp_path / "k.agekey"
    plaintext = f"pw-{secrets.token_hex(12)}"
    repo.write("base/kustomization.yaml", "resources:\n- secret.enc.yaml\n")
    repo.write(
        "base/secret.enc.yaml",
        encrypted_secret("db", plaintext, age_key(key), tmp_path / "sops-home"),
    )
    repo.write(
        "prod/kustomization.yaml",
        "resources:\n- ../base\nconfigMapGenerator:\n- name: app\n  literals: [A=1]\n",
    )
    sha = repo.commit("overlay over an encrypted base")
    bins = tools_dir()
    await start_loop(
        "--git-path", "prod", "--kustomize-binary", str(bins / "kustomize"), *sops_args(key)
    )

    await eventually(partial(is_applied, rest, namespace, sha), within=30, what="applied")
    live = await rest.get(path_of("Secret", namespace, "db"))
    assert base64.b64decode(live["data"]["password"]).decode() == plaintext


async def validate(path: Path, *args: str) -> tuple[int, str, str]:
    return await run_reloader(
        "validate", str(path), "--sops-binary", str(tools_dir() / "sops"), *args
    )


async def test_validate_decrypts_with_the_key_and_points_at_tampered_ciphertext(
    tmp_path: Path,
) -> None:
    key = tmp_path / "k.agekey"
    plaintext = f"pw-{secrets.token_hex(12)}"
    tree = tmp_path / "tree"
    text = encrypted_secret("db", plaintext, age_key(key), tmp_path / "sops-home")
    (tree / "secrets").mkdir(parents=True)
    (tree / SECRET_PATH).write_text(text)

    code, out, err = await validate(tree, "--decryption-key-file", str(key))
    assert (code, out) == (0, ""), err
    assert "1 object(s) valid" in err

    code, out, err = await validate(tree)  # no key: checked encrypted, said so
    assert code == 0, out + err
    assert "encrypted with SOPS; not decrypted (no --decryption-key-file)" in err

    cipher = re.search(r"data:([A-Za-z0-9+/=]+),iv:", text)
    assert cipher is not None
    flipped = "A" if cipher.group(1)[0] != "A" else "B"
    (tree / SECRET_PATH).write_text(text.replace(cipher.group(1), flipped + cipher.group(1)[1:]))
    code, out, err = await validate(tree, "--decryption-key-file", str(key))
    assert code == 1
    assert out.startswith(f"{SECRET_PATH}:1: cannot decrypt (SOPS):"), out
    assert_nowhere(plaintext, "validate's output", out + err)
