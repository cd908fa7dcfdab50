"""Run ``reloader run`` as a real subprocess against the test cluster, as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.cluster import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ReloaderProcess:
    """One controller process; its JSON log lines are kept in a file for the test to read."""

    def __init__(
        self,
        *,
        kubeconfig: str,
        namespace: str,
        log_dir: Path,
        args: list[str],
        scoped: bool = True,
    ) -> None:
        self.kubeconfig, self.namespace, self.args, self.scoped = (
            kubeconfig,
            namespace,
            args,
            scoped,
        )
        self.log_path = log_dir / f"reloader-{namespace}-{time.monotonic_ns()}.log"
        self.metrics_port, self.health_port = free_port(), free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "reloader",
            "run",
            "--kubeconfig",
            self.kubeconfig,
            *(["--namespace", self.namespace] if self.scoped else []),
            "--hash-key-secret",
            f"{self.namespace}/reloader-hash-key",
            "--metrics-bind-address",
            f"127.0.0.1:{self.metrics_port}",
            "--health-probe-bind-address",
            f"127.0.0.1:{self.health_port}",
            "--log-level",
            "debug",
            *self.args,
        ]

    async def start(self, *, ready_within: float = 30.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELOADER_")}
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command, stdout=log, stderr=log, cwd=REPO, env=env
            )
        deadline = time.monotonic() + ready_within
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise AssertionError(f"reloader exited early:\n{self.log_path.read_text()}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.health_port}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"reloader not ready in {ready_within}s:\n{self.log_path.read_text()}")

    async def stop(self, sig: int = signal.SIGTERM, *, within: float = 15.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), within)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text().splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"event": raw})
        return lines

    async def metric(self, name: str, **labels: str) -> float:
        """The value of one sample on /metrics (0 when absent)."""
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            async with http.get(url) as resp:
                text = await resp.text()
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            metric, _, rest = key.partition("{")
            got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
            if metric == name and got == want:
                return float(value)
        return 0.0
