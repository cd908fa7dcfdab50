"""Benchmark the config reloader on a real cluster (not a test: it prints figures).

Fills a namespace with N opted-in Deployments and M ConfigMaps/Secrets of a given size, runs
``reloader run`` as a subprocess, and reports:
  * startup: process start to /readyz, and to every workload recorded (started once the
    control plane has observed every Deployment, so the API server is quiet);
  * reaction: ConfigMap PATCH sent to the Deployment's template carrying the new hash, as
    seen by an independent watch (p50/p90/p99/max over the changes);
  * peak RSS of the controller (VmHWM);
  * Deployments written by the controller across a restart (must be 0).

Usage: .venv/bin/python -m bench.reload_latency [--deployments 1000] [--objects 10000]
Defaults to the local cluster (started with hack/local-cluster up if needed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from reloader.core import names
from reloader.kube.clients import connect, load_configuration
from reloader.kube.rest import ApiError, Rest
from tests.integration.cluster import ensure_cluster
from tests.integration.controller import ReloaderProcess

NS = "bench-reloader"


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def fresh_namespace(rest: Rest) -> None:
    try:
        await rest.request("DELETE", f"/api/v1/namespaces/{NS}")
        say(f"deleting the previous {NS} namespace")
        while True:
            await rest.get(f"/api/v1/namespaces/{NS}")
            await asyncio.sleep(0.5)
    except ApiError as exc:
        if not exc.not_found:
            raise
    await rest.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NS}})


async def bounded(jobs: list[Any], limit: int, label: str) -> None:
    """Run coroutines with at most ``limit`` in flight, printing progress."""
    sem = asyncio.Semaphore(limit)
    done = 0
    step = max(1, len(jobs) // 10)

    async def one(job: Any) -> None:
        nonlocal done
        async with sem:
            await job
        done += 1
        if done % step == 0 or done == len(jobs):
            say(f"  {label}: {done}/{len(jobs)}")

    await asyncio.gather(*(one(j) for j in jobs))


def payload(size: int, seed: int) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))


async def populate(rest: Rest, *, deployments: int, objects: int, size: int) -> None:
    half = objects // 2
    say(f"creating {half} ConfigMaps and {objects - half} Secrets of {size} bytes")
    blob = payload(size, 1)
    jobs = [
        rest.request(
            "POST",
            f"/api/v1/namespaces/{NS}/configmaps",
            body={"metadata": {"name": f"cm-{i}"}, "data": {"payload": blob, "i": str(i)}},
        )
        for i in range(half)
    ] + [
        rest.request(
            "POST",
            f"/api/v1/namespaces/{NS}/secrets",
            body={"metadata": {"name": f"secret-{i}"}, "stringData": {"payload": blob}},
        )
        for i in range(objects - half)
    ]
    await bounded(jobs, 32, "objects")
    say(
        f"creating {deployments} opted-in Deployments (replicas 0), each using a ConfigMap "
        "and a Secret"
    )
    jobs = []
    for i in range(deployments):
        labels = {"app": f"app-{i}"}
        spec = {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.invalid/app:1",
                    "envFrom": [{"configMapRef": {"name": f"cm-{i % half}"}}],
                }
            ],
            "volumes": [{"name": "s", "secret": {"secretName": f"secret-{i % (objects - half)}"}}],
        }
        body = {
            "metadata": {"name": f"app-{i}", "annotations": {"reloader.stakater.com/auto": "true"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec},
            },
        }
        jobs.append(rest.request("POST", f"/apis/apps/v1/namespaces/{NS}/deployments", body=body))
    await bounded(jobs, 32, "deployments")


async def wait_settled(rest: Rest, *, within: float = 180.0) -> None:
    """Wait until kube-controller-manager has caught up with every Deployment (its
    ``observedGeneration``), so that start-up is timed against a quiet API server rather
    than against the control plane still creating a thousand ReplicaSets."""
    deadline = time.monotonic() + within
    while True:
        listing = await rest.get(f"/apis/apps/v1/namespaces/{NS}/deployments")
        behind = sum(
            1
            for d in listing["items"]
            if (d.get("status") or {}).get("observedGeneration") != d["metadata"]["generation"]
        )
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{behind} Deployments not observed by the control plane")
        await asyncio.sleep(0.5)


async def deployment_versions(rest: Rest) -> dict[str, tuple[int, str | None, str | None]]:
    """Per Deployment: generation (bumped by any template write) and reloader's annotations."""
    listing = await rest.get(f"/apis/apps/v1/namespaces/{NS}/deployments")
    out = {}
    for item in listing["items"]:
        meta = item["metadata"]
        tmpl = item["spec"]["template"]["metadata"].get("annotations") or {}
        out[meta["name"]] = (
            int(meta["generation"]),
            (meta.get("annotations") or {}).get(names.OBSERVED),
            tmpl.get(names.CONFIG_HASH),
        )
    return out


async def wait_all_recorded(rest: Rest, count: int, within: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        versions = await deployment_versions(rest)
        if sum(1 for v in versions.values() if v[1]) == count:
            return time.monotonic() - start
        await asyncio.sleep(0.2)
    raise SystemExit(f"not every Deployment was recorded within {within}s")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class TemplateWatch:
    """An independent watch on the namespace's Deployments: when did each hash change."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self.seen: dict[str, tuple[str | None, float]] = {}
        self.changed = asyncio.Condition()

    async def run(self, version: str) -> None:
        query: dict[str, str | int | bool] = {
            "watch": True,
            "resourceVersion": version,
            "timeoutSeconds": 3600,
        }
        limits = aiohttp.ClientTimeout(total=None, sock_read=3700)
        path = f"/apis/apps/v1/namespaces/{NS}/deployments"
        async for event in self.rest.stream(path, query, limits=limits):
            obj = event["object"]
            tmpl = obj["spec"]["template"]["metadata"].get("annotations") or {}
            value = tmpl.get(names.CONFIG_HASH)
            name = obj["metadata"]["name"]
            if self.seen.get(name, (None, 0.0))[0] != value:
                self.seen[name] = (value, time.monotonic())
                async with self.changed:
                    self.changed.notify_all()

    async def next_change(self, name: str, old: str | None, within: float) -> float:
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: self.seen.get(name, (old, 0.0))[0] != old), within
            )
        return self.seen[name][1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def measure_reaction(
    rest: Rest, *, deployments: int, objects: int, changes: int
) -> list[float]:
    """Seconds from each ConfigMap PATCH sent to its Deployment's new hash seen by a watch."""
    listing = await rest.get(f"/apis/apps/v1/namespaces/{NS}/deployments")
    watch = TemplateWatch(rest)
    for item in listing["items"]:
        tmpl = item["spec"]["template"]["metadata"].get("annotations") or {}
        watch.seen[item["metadata"]["name"]] = (tmpl.get(names.CONFIG_HASH), 0.0)
    watcher = asyncio.create_task(watch.run(listing["metadata"]["resourceVersion"]))
    pool = min(deployments, objects // 2)
    targets = random.Random(7).sample(range(pool), k=min(changes, pool))
    say(f"measuring reaction over {len(targets)} ConfigMap changes")
    latencies: list[float] = []
    try:
        for n, i in enumerate(targets, 1):
            name = f"app-{i}"
            old = watch.seen.get(name, (None, 0.0))[0]
            sent = time.monotonic()
            await rest.request(
                "PATCH",
                f"/api/v1/namespaces/{NS}/configmaps/cm-{i}",
                body={"data": {"i": f"{i}-{n}-{time.time()}"}},
                content_type="application/merge-patch+json",
            )
            latencies.append(await watch.next_change(name, old, within=10) - sent)
            if n % 50 == 0:
                p50 = statistics.median(latencies) * 1000
                say(f"  {n}/{len(targets)} changes, p50 so far {p50:.0f} ms")
    finally:
        watcher.cancel()
    return latencies


async def start_controller(kubeconfig: str) -> tuple[ReloaderProcess, float]:
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    proc = ReloaderProcess(
        kubeconfig=kubeconfig, namespace=NS, log_dir=logs, args=["--log-level", "info"]
    )
    started = time.monotonic()
    await proc.start(ready_within=120)
    return proc, time.monotonic() - started


async def run(args: argparse.Namespace) -> dict[str, Any]:
    kubeconfig = ensure_cluster()
    async with connect(await load_configuration(kubeconfig)) as rest:
        if not args.keep:
            await fresh_namespace(rest)
            started = time.monotonic()
            await populate(
                rest, deployments=args.deployments, objects=args.objects, size=args.object_size
            )
            say(f"populated in {time.monotonic() - started:.1f}s")
        await wait_settled(rest)

        say("starting reloader")
        proc, ready = await start_controller(kubeconfig)
        say(f"ready in {ready:.2f}s; waiting until every Deployment is recorded")
        recorded = await wait_all_recorded(rest, args.deployments, within=300) + ready

        say("restarting reloader: it must write nothing")
        before = await deployment_versions(rest)
        await proc.stop()
        await wait_settled(rest)
        proc, ready_again = await start_controller(kubeconfig)
        await asyncio.sleep(3.0)  # the window in which a restart storm would show
        after = await deployment_versions(rest)
        restart_writes = sum(1 for k, v in before.items() if after.get(k) != v)

        writes = sum(
            [
                await proc.metric("reloader_reloads_total", kind="Deployment", result=r)
                for r in ("rolled", "recorded", "rekeyed", "failed")
            ]
        )
        latencies = await measure_reaction(
            rest, deployments=args.deployments, objects=args.objects, changes=args.changes
        )
        assert proc.proc is not None
        rss = peak_rss_mib(proc.proc.pid)
        await proc.stop()

    ms = [x * 1000 for x in latencies]
    return {
        "deployments": args.deployments,
        "objects": args.objects,
        "object_size": args.object_size,
        "ready_s": round(ready, 2),
        "all_recorded_s": round(recorded, 2),
        "ready_after_restart_s": round(ready_again, 2),
        "workloads_changed_by_restart": restart_writes,
        "controller_writes_after_restart": writes,
        "reaction_ms": {
            "n": len(ms),
            "p50": round(percentile(ms, 0.50), 1),
            "p90": round(percentile(ms, 0.90), 1),
            "p99": round(percentile(ms, 0.99), 1),
            "max": round(max(ms), 1),
        },
        "peak_rss_mib": round(rss, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--objects", type=int, default=10000)
    parser.add_argument("--object-size", type=int, default=4096)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="reuse the populated namespace")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
