"""Benchmark the GitOps loop against `kubectl apply --server-side --prune` (prints figures).

One run, on the local cluster, for a repository of N objects (ConfigMaps, Services and
Deployments in equal parts, in one namespace each for kubectl and for reloader):
  * first sync: kubectl's apply of the directory vs reloader's first sync (which dry-runs
    every object on the server before applying any: the namespace exists beforehand);
  * no-op resync: kubectl's second apply vs reloader's next cycle, and the writes each made
    (objects whose resourceVersion moved);
  * a commit changing 10 objects: kubectl's apply vs reloader's webhook-to-applied time;
  * commit-to-applied through the webhook for a repository of 100 objects.

With ``--kustomize``, the same objects (less one ConfigMap, which a generator makes) in a
``base/`` under an ``overlays/<side>/`` kustomization (namespace, labels, ``images:``, a
``configMapGenerator``, a strategic-merge patch on ten Deployments): kubectl runs
``kubectl apply -k overlays/kubectl --server-side --prune --applyset=...``, reloader
``--git-path overlays/gitops`` with kustomize and helm from ``hack/build-tools`` on its PATH.
Both pay for the first render. A resync of the same commit, and an empty commit (a new
revision of the same tree: dry-run and compare, with nothing to write), reuse reloader's last
render, since nothing it depends on changed; kubectl renders each time, as any resync must.

Usage: .venv/bin/python -m bench.gitops_apply [--objects 1000] [--kustomize]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from reloader.kube.clients import connect, load_configuration
from reloader.kube.rest import ApiError, Rest
from tests.integration.cluster import ensure_cluster, kubectl_path
from tests.integration.controller import ReloaderProcess, free_port

SECRET = "bench-webhook-secret"


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def manifests(
    namespace: str, count: int, generation: int, changed: int = 0
) -> list[dict[str, Any]]:
    """``count`` objects; the first ``changed`` ConfigMaps carry ``generation`` in their data."""
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    ]
    third = count // 3
    label = {"bench": "gitops"}
    for i in range(third):
        version = str(generation) if i < changed else "0"
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i}", "namespace": namespace, "labels": label},
                "data": {"index": str(i), "version": version},
            }
        )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"svc-{i}", "namespace": namespace, "labels": label},
                # Headless: the local cluster's service range has only 254 addresses.
                "spec": {
                    "clusterIP": "None",
                    "selector": {"app": f"app-{i}"},
                    "ports": [{"port": 80}],
                },
            }
        )
        app = {"app": f"app-{i}"}
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"app-{i}", "namespace": namespace, "labels": label},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": app},
                    "template": {
                        "metadata": {"labels": app},
                        "spec": {"containers": [{"name": "app", "image": "registry.invalid/a:1"}]},
                    },
                },
            }
        )
    return docs


class _NoAliases(yaml.SafeDumper):
    """Write shared dicts out in full: reloader (rightly) refuses YAML anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.dump_all(docs, Dumper=_NoAliases, sort_keys=False)


def write_repo(path: Path, docs: list[dict[str, Any]], message: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "objects.yaml").write_text(dump(docs))
    commit_repo(path, message)


def commit_repo(path: Path, message: str) -> None:
    """Commit the whole tree (an empty commit if nothing changed), ``git init`` first if new."""
    if not (path / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
        subprocess.run(
            ["git", "-C", str(path), "config", "user.email", "b@example.com"], check=True
        )
        subprocess.run(["git", "-C", str(path), "config", "user.name", "Bench"], check=True)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "--allow-empty", "-qm", message], check=True)


def kubectl_apply(kubeconfig: str, directory: Path, *, kustomize: bool = False) -> float:
    """kubectl's server-side apply with prune, which needs an ApplySet (a Secret as parent)."""
    started = time.monotonic()
    subprocess.run(
        [
            kubectl_path(),
            "--kubeconfig",
            kubeconfig,
            "apply",
            "--server-side",
            "--prune",
            "--applyset=bench-kubectl",
            "--namespace=bench-kubectl",
            "-k" if kustomize else "-f",
            str(directory),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "KUBECTL_APPLYSET": "true"},
    )
    return time.monotonic() - started


async def versions(rest: Rest, namespace: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in (
        "/api/v1/namespaces/{}/configmaps",
        "/api/v1/namespaces/{}/services",
        "/apis/apps/v1/namespaces/{}/deployments",
    ):
        listing = await rest.get(path.format(namespace), {"labelSelector": "bench=gitops"})
        for item in listing["items"]:
            out[f"{path}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return out


def moved(before: dict[str, str], after: dict[str, str]) -> int:
    return sum(1 for k, v in after.items() if before.get(k) != v)


async def loop_writes(proc: ReloaderProcess) -> float:
    """Objects the loop wrote so far (created, changed, corrected, pruned), from its metrics."""
    actions = ("created", "changed", "corrected", "pruned")
    return sum([await proc.metric("reloader_gitops_objects_total", action=a) for a in actions])


async def wait_synced(proc: ReloaderProcess, count: int, within: float) -> float:
    """Seconds of the ``count``-th completed sync, from reloader's own log."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        lines = proc.logs()
        failed = [line for line in lines if line.get("event", "").startswith("sync failed")]
        if failed:
            raise SystemExit(f"reloader refused the revision: {failed[-1].get('errors')}")
        done = [line for line in lines if line.get("event") in ("synced", "in sync")]
        if len(done) >= count:
            return float(done[count - 1]["seconds"])
        await asyncio.sleep(0.05)
    raise SystemExit(
        f"reloader did not finish sync #{count} in {within}s:\n{proc.log_path.read_text()[-3000:]}"
    )


async def post_webhook(port: int) -> None:
    body = b'{"ref": "refs/heads/main"}'
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{port}/hooks/git",
            data=body,
            headers={"X-Hub-Signature-256": f"sha256={signature}"},
        ) as resp,
    ):
        assert resp.status == 202, await resp.text()


async def wait_changed(
    rest: Rest, namespace: str, changed: int, generation: int, within: float
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        listing = await rest.get(
            f"/api/v1/namespaces/{namespace}/configmaps", {"labelSelector": "bench=gitops"}
        )
        done = sum(1 for i in listing["items"] if i["data"].get("version") == str(generation))
        if done >= changed:
            return
        await asyncio.sleep(0.01)
    raise SystemExit("the commit was not applied in time")


async def settle(rest: Rest, namespace: str, within: float = 120) -> None:
    """Until kube-controller-manager has caught up with every Deployment in ``namespace``: a
    timed phase must not pay for the reconciling that the phase before it started."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        listing = await rest.get(f"/apis/apps/v1/namespaces/{namespace}/deployments")
        behind = [
            d
            for d in listing["items"]
            if (d.get("status") or {}).get("observedGeneration") != d["metadata"]["generation"]
        ]
        if not behind:
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"the Deployments in {namespace} did not settle in {within}s")


async def delete_namespace(rest: Rest, namespace: str) -> None:
    try:
        await rest.request("DELETE", f"/api/v1/namespaces/{namespace}")
    except ApiError as exc:
        if not exc.not_found:
            raise
        return
    while True:
        try:
            await rest.get(f"/api/v1/namespaces/{namespace}")
        except ApiError:
            return
        await asyncio.sleep(0.5)


async def reloader_run(
    kubeconfig: str, work: Path, repo: Path, state_ns: str, extra: tuple[str, ...] = ()
) -> tuple[ReloaderProcess, int]:
    port = free_port()
    secret_file = work / "secret"
    secret_file.write_text(SECRET)
    proc = ReloaderProcess(
        kubeconfig=kubeconfig,
        namespace=state_ns,
        log_dir=work,
        scoped=True,
        args=[
            "--git-url",
            f"file://{repo}",
            "--sync-interval",
            "1h",
            "--prune",
            "true",
            "--state-namespace",
            state_ns,
            "--git-workdir",
            str(work / "checkouts"),
            "--webhook-bind-address",
            f"127.0.0.1:{port}",
            "--webhook-secret-file",
            str(secret_file),
            "--log-level",
            "debug",
            *extra,
        ],
    )
    return proc, port


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.kustomize:
        # Here, not at the top: that module builds on this one's functions.
        from bench.kustomize_apply import run_kustomize  # noqa: PLC0415

        return await run_kustomize(args.objects)
    kubeconfig = ensure_cluster()
    work = Path("/tmp/reloader-bench-gitops")
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    n = args.objects
    async with connect(await load_configuration(kubeconfig)) as rest:
        for ns in (
            "bench-kubectl",
            "bench-gitops",
            "bench-gitops-state",
            "bench-webhook",
            "bench-webhook-state",
        ):
            await delete_namespace(rest, ns)

        say(f"kubectl apply --server-side --prune: {n} objects")
        kdir = work / "kubectl"
        kdir.mkdir()
        await rest.request(
            "POST", "/api/v1/namespaces", body={"metadata": {"name": "bench-kubectl"}}
        )
        (kdir / "objects.yaml").write_text(dump(manifests("bench-kubectl", n, 0)[1:]))
        k_first = kubectl_apply(kubeconfig, kdir)
        await settle(rest, "bench-kubectl")
        before = await versions(rest, "bench-kubectl")
        k_noop = kubectl_apply(kubeconfig, kdir)
        k_noop_writes = moved(before, await versions(rest, "bench-kubectl"))
        (kdir / "objects.yaml").write_text(dump(manifests("bench-kubectl", n, 1, 10)[1:]))
        k_commit = kubectl_apply(kubeconfig, kdir)
        await settle(rest, "bench-kubectl")
        say(
            f"kubectl: first {k_first:.2f}s, no-op {k_noop:.2f}s ({k_noop_writes} writes), "
            f"10 changed {k_commit:.2f}s"
        )

        say(f"reloader GitOps loop: {n} objects")
        # The namespace exists beforehand, as kubectl's did: a revision's objects in a
        # namespace it creates cannot be dry-run, and every object should be, here.
        await rest.request(
            "POST", "/api/v1/namespaces", body={"metadata": {"name": "bench-gitops"}}
        )
        repo = work / "repo"
        write_repo(repo, manifests("bench-gitops", n, 0), "initial")
        proc, port = await reloader_run(kubeconfig, work, repo, "bench-gitops-state")
        try:
            r_first, r_noop, r_noop2, r_noop_writes, r_commit = await measure_loop(
                rest, proc, port, repo, n
            )
        finally:
            await proc.stop()
        say("commit-to-applied through the webhook: 100 objects")
        small = work / "small"
        write_repo(small, manifests("bench-webhook", 100, 0), "initial")
        proc, port = await reloader_run(kubeconfig, work, small, "bench-webhook-state")
        try:
            timings = await measure_webhook(rest, proc, port, small)
        finally:
            await proc.stop()
        return {
            "objects": n,
            "kubectl_first_s": round(k_first, 2),
            "reloader_first_s": round(r_first, 2),
            "first_ratio": round(r_first / k_first, 2),
            "kubectl_noop_s": round(k_noop, 2),
            "kubectl_noop_writes": k_noop_writes,
            "reloader_noop_s": [round(r_noop, 3), round(r_noop2, 3)],
            "noop_ratio": round(r_noop2 / k_noop, 3),
            "reloader_noop_writes": r_noop_writes,
            "kubectl_commit_10_s": round(k_commit, 2),
            "reloader_commit_10_via_webhook_s": round(r_commit, 2),
            "webhook_commit_to_applied_100_objects_s": {
                "runs": [round(t, 3) for t in timings],
                "max": round(max(timings), 3),
            },
        }


async def measure_loop(
    rest: Rest, proc: ReloaderProcess, port: int, repo: Path, n: int
) -> tuple[float, float, float, float, float]:
    """First sync, two no-op cycles (and the loop's writes in them), a 10-object commit."""
    await proc.start(ready_within=600)
    r_first = await wait_synced(proc, 1, within=600)
    await settle(rest, "bench-gitops")
    await post_webhook(port)
    r_noop = await wait_synced(proc, 2, within=120)
    writes_before = await loop_writes(proc)
    await post_webhook(port)  # once more: after kube-controller-manager's status updates settle
    r_noop2 = await wait_synced(proc, 3, within=120)
    r_noop_writes = await loop_writes(proc) - writes_before
    write_repo(repo, manifests("bench-gitops", n, 1, 10), "change 10 ConfigMaps")
    started = time.monotonic()
    await post_webhook(port)
    await wait_changed(rest, "bench-gitops", 10, 1, within=60)
    return r_first, r_noop, r_noop2, r_noop_writes, time.monotonic() - started


async def measure_webhook(rest: Rest, proc: ReloaderProcess, port: int, small: Path) -> list[float]:
    """Seconds from a signed webhook to a 10-object commit applied, five times."""
    await proc.start(ready_within=120)
    await wait_synced(proc, 1, within=120)
    timings = []
    for generation in range(1, 6):
        write_repo(small, manifests("bench-webhook", 100, generation, 10), f"change {generation}")
        started = time.monotonic()
        await post_webhook(port)
        await wait_changed(rest, "bench-webhook", 10, generation, within=30)
        timings.append(time.monotonic() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument(
        "--kustomize",
        action="store_true",
        help="render a kustomize overlay (bench/kustomize_apply.py) instead of a plain directory",
    )
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
