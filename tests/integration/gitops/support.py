"""Helpers of the GitOps loop tests: a real git repository, `reloader status`, the loop's state."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import REPO, container, deployment, path_of

STATE = "reloader-gitops"
FAILED = "sync failed; the last good revision stays in force"
AUTO = {"reloader.stakater.com/auto": "true"}
PRUNE_DISABLED = {"reloader.dev/prune": "disabled"}


class _Dumper(yaml.SafeDumper):
    """Writes shared dicts out in full: the loop (rightly) refuses YAML anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class GitRepo:
    """A git work tree the test commits to, as a developer would (``git`` on the command line)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def init(cls, path: Path, *, bare: bool = False) -> GitRepo:
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        repo.git("init", "--quiet", "-b", "main", *(["--bare"] if bare else []))
        if not bare:
            repo.git("config", "user.name", "Test Author")
            repo.git("config", "user.email", "author@example.com")
        return repo

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"},
        )
        assert done.returncode == 0, f"git {' '.join(args)} failed:\n{done.stderr}"
        return done.stdout

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def put(self, rel: str, *objects: JSONDict) -> None:
        """Write ``objects`` as one YAML file of one document each."""
        self.write(rel, yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False))

    def remove(self, rel: str) -> None:
        self.git("rm", "-r", "--quiet", rel)

    def commit(self, message: str) -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


async def run_reloader(*args: str) -> tuple[int, str, str]:
    """Exit code, standard output and standard error of ``reloader ARGS``, run as a user
    would (no ``RELOADER_*`` variable of the test run leaks into it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELOADER_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reloader",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def reloader_status(kubeconfig: str, namespace: str, *args: str) -> tuple[int, str]:
    """Exit code and output of ``reloader status``."""
    code, out, err = await run_reloader(
        "status", "--kubeconfig", kubeconfig, "--state-namespace", namespace, *args
    )
    return code, out + err


async def state(rest: Rest, namespace: str) -> dict[str, Any]:
    """The loop's status.json plus its inventory (empty when the loop has saved nothing yet)."""
    obj = await rest.get_or_none(path_of("ConfigMap", namespace, STATE))
    if obj is None:
        return {}
    data = obj.get("data") or {}
    body: dict[str, Any] = json.loads(data.get("status.json") or "{}")
    body["inventory"] = json.loads(data.get("inventory.json") or "[]")
    return body


async def seed_state(rest: Rest, namespace: str, inventory: list[Any]) -> None:
    """A state ConfigMap holding ``inventory`` as written, before the loop starts: one left by
    an earlier release, or one tampered with by whoever may patch it."""
    await rest.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        body={
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": STATE},
            "data": {"status.json": "{}", "inventory.json": json.dumps(inventory)},
        },
    )


async def applied_sha(rest: Rest, namespace: str) -> str | None:
    last = (await state(rest, namespace)).get("last_applied") or {}
    sha: str | None = last.get("sha")
    return sha


async def events(rest: Rest, namespace: str, reason: str) -> list[JSONDict]:
    """The Events of ``reason`` recorded on the loop's state ConfigMap."""
    answer = await rest.get(
        f"/api/v1/namespaces/{namespace}/events",
        {"fieldSelector": f"involvedObject.name={STATE},reason={reason}"},
    )
    items: list[JSONDict] = answer["items"]
    return items


async def event_with(rest: Rest, namespace: str, reason: str, text: str) -> JSONDict | None:
    """The first Event of ``reason`` on the state ConfigMap whose message contains ``text``."""
    for event in await events(rest, namespace, reason):
        if text in (event.get("message") or ""):
            return event
    return None


async def is_applied(rest: Rest, namespace: str, sha: str) -> bool:
    """Whether the loop's state names ``sha`` as the last applied revision."""
    return await applied_sha(rest, namespace) == sha


async def exists(rest: Rest, namespace: str, kind: str, name: str) -> bool:
    return await rest.get_or_none(path_of(kind, namespace, name)) is not None


async def data_of(rest: Rest, namespace: str, name: str) -> dict[str, str] | None:
    obj = await rest.get_or_none(path_of("ConfigMap", namespace, name))
    return None if obj is None else dict(obj.get("data") or {})


def opted_in_deployment(name: str, *refs: tuple[str, str], image: str = "app:1") -> JSONDict:
    """An opted-in Deployment whose container takes its env from ConfigMaps and Secrets."""
    sources = [
        {"configMapRef" if kind == "ConfigMap" else "secretRef": {"name": ref}}
        for kind, ref in refs
    ]
    spec = {"containers": [container(image=f"registry.invalid/{image}", envFrom=sources)]}
    return deployment(name, annotations=AUTO, pod_spec=spec)


def signed(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


async def post_hook(port: int, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{port}/hooks/git", data=body, headers=headers) as resp,
    ):
        return resp.status
