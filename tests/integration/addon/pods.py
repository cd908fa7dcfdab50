"""A rendered Deployment's container run as a local process, the way the kubelet would run it.

The test cluster's nodes are KWOK's: they report pods Running but run no container, so an
install can be proven to *run* only by starting the container's command here. What the pod
would get is taken from the rendered manifests, not restated by the test: the ``args`` and the
``env`` (``$(VAR)`` references expanded, ``fieldRef`` and ``secretKeyRef`` resolved as the
kubelet does), under a kubeconfig holding a token of the pod's own ServiceAccount. Only what
cannot be the same on a shared development machine is changed: listen addresses become free
ports on 127.0.0.1, and paths the caller names (the git work directory) move to a temporary
directory. Anything in the container this translation does not understand fails the test
rather than being dropped silently.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import REPO, account_kubeconfig, eventually
from tests.integration.controller import ReloaderProcess, free_port

#: ``$(NAME)`` refers to an earlier variable of the container; ``$$`` is a literal ``$``.
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
METRICS, HEALTH, WEBHOOK = (
    "--metrics-bind-address",
    "--health-probe-bind-address",
    "--webhook-bind-address",
)


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' expansion of ``$(VAR)`` in env values and args; unknown ones stay as they are."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def deployment(docs: list[dict[str, Any]], name: str) -> JSONDict:
    """The Deployment called ``name`` among rendered manifests."""
    (found,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
    return found


async def container_env(rest: Rest, deploy: JSONDict) -> dict[str, str]:
    """The environment the kubelet would give the Deployment's only container."""
    namespace = deploy["metadata"]["namespace"]
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    # The downward API of the pod, as the pod is here: a local process.
    pod_fields = {
        "metadata.namespace": namespace,
        "metadata.name": f"{deploy['metadata']['name']}-local",
        "status.podIP": "127.0.0.1",
    }
    env: dict[str, str] = {}
    for var in container.get("env") or ():
        name, source = var["name"], var.get("valueFrom")
        if source is None:
            env[name] = expand(str(var.get("value", "")), env)
        elif "fieldRef" in source:
            field = source["fieldRef"]["fieldPath"]
            assert field in pod_fields, f"env {name}: this translation does not know {field}"
            env[name] = pod_fields[field]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            path = f"/api/v1/namespaces/{namespace}/secrets/{ref['name']}"
            found = await rest.get_or_none(path)
            data = (found or {}).get("data") or {}
            if ref["key"] in data:
                env[name] = base64.b64decode(data[ref["key"]]).decode()
            elif not ref.get("optional"):  # the kubelet would not start the container
                raise AssertionError(f"{name}: Secret {ref['name']} has no key {ref['key']!r}")
        else:
            raise AssertionError(f"env {name}: this translation does not know {source}")
    return env


class PodProcess(ReloaderProcess):
    """The container of a rendered Deployment, run locally under ``kubeconfig``.

    ``paths`` names flags whose value must be local (``{"--git-workdir": tmp}``); ``overrides``
    flags the test points elsewhere (``--git-url`` at a file:// repository). Both replace the
    flag where the container sets it, and are added where it does not; a flag beats the
    environment, as in the container.
    """

    def __init__(
        self,
        *,
        kubeconfig: str,
        deploy: JSONDict,
        env: Mapping[str, str],
        log_dir: Path,
        paths: Mapping[str, str] | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        (container,) = deploy["spec"]["template"]["spec"]["containers"]
        assert "command" not in container, "the image's entrypoint (`reloader`) is assumed"
        super().__init__(
            kubeconfig=kubeconfig,
            namespace=deploy["metadata"]["name"],  # names the log file only
            log_dir=log_dir,
            args=[expand(a, env) for a in container.get("args") or ()],
            scoped=False,
        )
        self.env = dict(env)
        self.webhook_port = free_port()
        # Metrics and probes always (their defaults are fixed ports on every interface); the
        # webhook where the container turns it on.
        self.replaced = {
            METRICS: f"127.0.0.1:{self.metrics_port}",
            HEALTH: f"127.0.0.1:{self.health_port}",
        }
        if self._sets(WEBHOOK):
            self.replaced[WEBHOOK] = f"127.0.0.1:{self.webhook_port}"
        self.replaced |= {**(paths or {}), **(overrides or {})}

    def _sets(self, flag: str) -> bool:
        """Whether the container sets ``flag``, in its args or its environment variable."""
        variable = "RELOADER_" + flag.removeprefix("--").upper().replace("-", "_")
        return variable in self.env or any(a.startswith(f"{flag}=") for a in self.args)

    @property
    def command(self) -> list[str]:
        subcommand, *flags = self.args
        assert subcommand == "run", f"the container runs `reloader {subcommand}`"
        local: list[str] = []
        for arg in flags:
            flag, equals, _ = arg.partition("=")
            if not (flag.startswith("--") and equals):
                raise AssertionError(f"only --flag=value args are translated, not {arg!r}")
            if flag not in self.replaced:
                local.append(arg)
        local += [f"{flag}={value}" for flag, value in self.replaced.items()]
        return [
            sys.executable,
            "-m",
            "reloader",
            "run",
            *local,
            f"--kubeconfig={self.kubeconfig}",
            "--log-level=debug",
        ]

    async def start(self, *, ready_within: float = 30.0) -> None:
        """Start it with the container's environment (and no RELOADER_ variable of ours);
        return once ``/readyz`` answers 200, failing at once if it exits first."""
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("RELOADER_") and k != "KUBECONFIG"
        }
        with self.log_path.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                *self.command, stdout=log, stderr=log, cwd=REPO, env={**inherited, **self.env}
            )
        self.proc = proc
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                if proc.returncode is not None:
                    raise AssertionError(
                        f"{self.namespace} exited with {proc.returncode} before it was ready:\n"
                        f"{self.log_path.read_text()}"
                    )
                try:
                    async with http.get(url) as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(ready, within=ready_within, what=f"{self.namespace} /readyz 200")

    def denied(self) -> list[dict[str, Any]]:
        """Its log lines that report a request RBAC refused (the API server's own words)."""
        return [line for line in self.logs() if "is forbidden: User" in json.dumps(line)]


RunPod = Callable[..., Awaitable[PodProcess]]


@contextlib.asynccontextmanager
async def pods(rest: Rest, kubeconfig: str, log_dir: Path) -> AsyncIterator[RunPod]:
    """``run(deploy, ...)`` starts a Deployment's container under its own account's token;
    whatever still runs at the end is stopped and its log shown."""
    started: list[PodProcess] = []

    async def run(deploy: JSONDict, **local: dict[str, str]) -> PodProcess:
        namespace = deploy["metadata"]["namespace"]
        account = deploy["spec"]["template"]["spec"]["serviceAccountName"]
        token_kubeconfig = await account_kubeconfig(
            rest,
            kubeconfig,
            log_dir / f"{account}-{len(started)}.kubeconfig",
            namespace=namespace,
            account=account,
        )
        env = await container_env(rest, deploy)
        proc = PodProcess(
            kubeconfig=token_kubeconfig, deploy=deploy, env=env, log_dir=log_dir, **local
        )
        started.append(proc)
        await proc.start()
        return proc

    try:
        yield run
    finally:
        for proc in started:
            try:
                await proc.stop()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError, TimeoutError):
                    await proc.stop(signal.SIGKILL)
            print(f"--- log of {proc.namespace} ---\n{proc.log_path.read_text()}")
