"""The GitOps benchmark on a kustomize overlay: ``python -m bench.kustomize_apply [--objects N]``
(or ``python -m bench.gitops_apply --kustomize``).

The repository holds ``base/`` (the plain benchmark's objects, without a namespace, in three
files listed in ``base/kustomization.yaml``) and one overlay per side, ``overlays/kubectl`` and
``overlays/gitops``, differing only in ``namespace:``: labels, an ``images:`` entry, a
``configMapGenerator`` (whose ConfigMap makes up the count) and a strategic-merge patch on ten
Deployments. kubectl applies with ``apply -k --server-side --prune --applyset``; reloader runs
with ``--git-path overlays/gitops`` and kustomize and helm from ``hack/build-tools`` on PATH.
Timed, each against kubectl's own time for the same overlay, kustomize's render included on
both sides (reloader's figure is its sync's, from ``ls-remote`` to the state saved): the first
sync; a no-op resync of the same commit; a no-op resync of an empty commit (a new revision whose
tree and tools are unchanged: reloader reuses its render, ``reloader_gitops_renders_total``
says so); both against kubectl's second ``apply -k``. Then a commit changing 10 ConfigMaps.
Writes are objects whose resourceVersion moved, and the loop's own count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from bench.gitops_apply import (
    commit_repo,
    delete_namespace,
    dump,
    kubectl_apply,
    loop_writes,
    manifests,
    moved,
    post_webhook,
    reloader_run,
    say,
    settle,
    versions,
    wait_changed,
    wait_synced,
)
from reloader.kube.clients import connect, load_configuration
from reloader.kube.rest import Rest
from tests.integration.cluster import ensure_cluster, kubectl_path
from tests.integration.controller import ReloaderProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
SIDES = {"kubectl": "bench-kubectl", "gitops": "bench-gitops"}
PATCHED = 10


def tools_dir() -> Path:
    """Where ``hack/build-tools`` put kustomize and helm (it builds them the first time)."""
    out = subprocess.run(
        [str(REPO_ROOT / "hack/build-tools"), "--print-dir"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def write_tree(repo: Path, count: int, generation: int, changed: int = 0) -> None:
    """``base/`` with ``count - 1`` objects and an overlay per side; the generator adds one."""
    base = repo / "base"
    base.mkdir(parents=True, exist_ok=True)
    docs = manifests("unused", count - 1, generation, changed)[1:]
    files: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        del doc["metadata"]["namespace"]
        files.setdefault(f"{doc['kind'].lower()}s.yaml", []).append(doc)
    for name, group in files.items():
        (base / name).write_text(dump(group))
    (base / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": sorted(files)}, sort_keys=False)
    )
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "patched"},  # the target below names the Deployments
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "resources": {"limits": {"memory": "64Mi"}}}]
                }
            }
        },
    }
    for side, namespace in SIDES.items():
        overlay = repo / "overlays" / side
        overlay.mkdir(parents=True, exist_ok=True)
        (overlay / "memory-patch.yaml").write_text(dump([patch]))
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": namespace,
            "resources": ["../../base"],
            "labels": [{"pairs": {"bench": "gitops", "env": "prod"}}],
            "images": [
                {"name": "registry.invalid/a", "newName": "registry.invalid/b", "newTag": "2"}
            ],
            "configMapGenerator": [
                {"name": "settings", "literals": ["mode=prod", f"replicas={PATCHED}"]}
            ],
            "patches": [
                {
                    "path": "memory-patch.yaml",
                    "target": {"kind": "Deployment", "name": f"app-[0-{PATCHED - 1}]"},
                }
            ],
        }
        (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))


def render_seconds(kustomize: Path, overlay: Path, runs: int = 3) -> list[float]:
    """``kustomize build`` of the overlay alone, as the loop builds a clean revision (with
    origins, :func:`wrapper_of`, only to locate a problem)."""
    timings = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(
            [str(kustomize), "build", str(overlay)], check=True, stdout=subprocess.DEVNULL
        )
        timings.append(time.monotonic() - started)
    return timings


def wrapper_of(work: Path, overlay: Path) -> Path:
    """A kustomization over ``overlay`` recording origins, like reloader's careful build."""
    wrapper = work / "wrapper"
    wrapper.mkdir(exist_ok=True)
    body = {
        "resources": [os.path.relpath(overlay, wrapper)],
        "buildMetadata": ["originAnnotations"],
    }
    (wrapper / "kustomization.yaml").write_text(yaml.safe_dump(body))
    return wrapper


def kubectl_kustomize_seconds(kubeconfig: str, overlay: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [kubectl_path(), "--kubeconfig", kubeconfig, "kustomize", str(overlay)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


async def run_kustomize(n: int) -> dict[str, Any]:
    kubeconfig = ensure_cluster()
    tools = tools_dir()
    os.environ["PATH"] = f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"
    work = Path("/tmp/reloader-bench-kustomize")
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    repo = work / "repo"
    write_tree(repo, n, 0)
    commit_repo(repo, "initial")
    rendered = subprocess.run(
        [str(tools / "kustomize"), "build", str(repo / "overlays/gitops")],
        check=True,
        capture_output=True,
    ).stdout
    objects = sum(1 for doc in yaml.safe_load_all(rendered) if doc)
    render = render_seconds(tools / "kustomize", repo / "overlays/gitops")
    wrapped = render_seconds(tools / "kustomize", wrapper_of(work, repo / "overlays/gitops"))
    k_render = kubectl_kustomize_seconds(kubeconfig, repo / "overlays/kubectl")
    say(
        f"the overlay renders {objects} objects; kustomize build {min(render):.2f}s "
        f"({min(wrapped):.2f}s with origins), kubectl kustomize {k_render:.2f}s"
    )
    async with connect(await load_configuration(kubeconfig)) as rest:
        for ns in ("bench-kubectl", "bench-gitops", "bench-gitops-state"):
            await delete_namespace(rest, ns)
        for ns in SIDES.values():
            await rest.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})

        say(f"kubectl apply -k --server-side --prune: {objects} objects")
        overlay = repo / "overlays/kubectl"
        k_first = kubectl_apply(kubeconfig, overlay, kustomize=True)
        await settle(rest, "bench-kubectl")
        before = await versions(rest, "bench-kubectl")
        k_noop = kubectl_apply(kubeconfig, overlay, kustomize=True)
        k_noop_writes = moved(before, await versions(rest, "bench-kubectl"))
        say(f"kubectl: first {k_first:.2f}s, no-op {k_noop:.2f}s ({k_noop_writes} writes)")

        say(f"reloader GitOps loop, --git-path overlays/gitops: {objects} objects")
        proc, port = await reloader_run(
            kubeconfig, work, repo, "bench-gitops-state", ("--git-path", "overlays/gitops")
        )
        try:
            loop = await measure(rest, proc, port, repo, n)
        finally:
            await proc.stop()
        say(f"reloader: {loop}")
    r_first, r_noop_empty = loop["first_s"], loop["noop_empty_commit_s"]
    r_noop_same = loop["noop_same_commit_s"][-1]
    return {
        "objects": objects,
        "kustomize_build_s": [round(t, 2) for t in render],
        "kustomize_build_with_origins_s": [round(t, 2) for t in wrapped],
        "kubectl_kustomize_s": round(k_render, 2),
        "kubectl_first_s": round(k_first, 2),
        "reloader_first_s": round(r_first, 2),
        "first_ratio": round(r_first / k_first, 2),
        "kubectl_noop_s": round(k_noop, 2),
        "kubectl_noop_writes": k_noop_writes,
        "reloader_noop_same_commit_s": [round(t, 3) for t in loop["noop_same_commit_s"]],
        "reloader_noop_empty_commit_s": round(r_noop_empty, 3),
        "noop_ratio_same_commit": round(r_noop_same / k_noop, 3),
        "noop_ratio_empty_commit": round(r_noop_empty / k_noop, 3),
        "reloader_noop_writes": loop["noop_writes"],
        "reloader_noop_writes_by_metrics": loop["noop_writes_by_metrics"],
        "reloader_renders": loop["renders"],
        "reloader_commit_10_via_webhook_s": round(loop["commit_10_s"], 2),
    }


async def measure(
    rest: Rest, proc: ReloaderProcess, port: int, repo: Path, n: int
) -> dict[str, Any]:
    """First sync; two resyncs of the same commit, one of an empty commit (writes: live
    resourceVersions that moved, and the loop's own count); a 10-ConfigMap commit."""
    await proc.start(ready_within=600)
    first = await wait_synced(proc, 1, within=600)
    await settle(rest, "bench-gitops")
    await post_webhook(port)
    same = [await wait_synced(proc, 2, within=120)]
    await settle(rest, "bench-gitops")
    before = await versions(rest, "bench-gitops")
    writes_before = await loop_writes(proc)
    await post_webhook(port)
    same.append(await wait_synced(proc, 3, within=120))
    commit_repo(repo, "nothing changed")
    await post_webhook(port)
    empty = await wait_synced(proc, 4, within=300)
    writes = moved(before, await versions(rest, "bench-gitops"))
    by_metrics = await loop_writes(proc) - writes_before
    renders = {
        result: await proc.metric("reloader_gitops_renders_total", result=result)
        for result in ("rendered", "reused")
    }
    write_tree(repo, n, 1, 10)
    commit_repo(repo, "change 10 ConfigMaps")
    started = time.monotonic()
    await post_webhook(port)
    await wait_changed(rest, "bench-gitops", 10, 1, within=120)
    return {
        "first_s": first,
        "noop_same_commit_s": same,
        "noop_empty_commit_s": empty,
        "noop_writes": writes,
        "noop_writes_by_metrics": by_metrics,
        "renders": renders,
        "commit_10_s": time.monotonic() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=1000)
    print(json.dumps(asyncio.run(run_kustomize(parser.parse_args().objects)), indent=2))


if __name__ == "__main__":
    main()
