"""``reloader validate`` and ``reloader status``: what a CI job and an operator run."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from reloader.gitops import state as gitops_state
from reloader.gitops.applying import Applier
from reloader.gitops.decrypting import is_encrypted
from reloader.gitops.rendering import RenderTools, kustomization_of, render_tree
from reloader.gitops.validating import server_dry_run
from reloader.kube.clients import connect, load_configuration


async def run_validate(args: argparse.Namespace) -> int:
    """Print every problem as path:line: message; 0 when there are none."""
    root, subdir = await asyncio.to_thread(_checkout_of, Path(args.path))
    tools = RenderTools(
        kustomize=args.kustomize_binary,
        helm=args.helm_binary,
        sops=args.sops_binary,
        decryption_key_file=args.decryption_key_file,
        keep_encrypted=True,
    )
    manifests, problems = await render_tree(root, subdir, tools=tools)
    encrypted = [m for m in manifests if is_encrypted(m)]
    if encrypted:  # only without a key: with one, they are decrypted or problems
        print(
            f"{len(encrypted)} object(s) encrypted with SOPS; not decrypted "
            "(no --decryption-key-file): checked as they are, not dry-run",
            file=sys.stderr,
        )
    if not problems and args.server_dry_run:
        configuration = await load_configuration(args.kubeconfig, args.context)
        async with connect(configuration) as rest:
            applier = Applier(rest, default_namespace=args.default_namespace)
            plain = [m for m in manifests if not is_encrypted(m)]
            dry = await server_dry_run(applier, plain)
            problems = dry.problems
            if dry.pending:
                print(
                    f"{len(dry.pending)} object(s) wait for a CRD that is not served yet "
                    "(they asked to: the loop applies them once it is)",
                    file=sys.stderr,
                )
            if dry.deferred:
                print(
                    f"{len(dry.deferred)} object(s) not dry-run: their namespace or CRD is "
                    "created by these manifests (the loop dry-runs them once it exists)",
                    file=sys.stderr,
                )
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.path}", file=sys.stderr)
        return 1
    checked = "offline and with a server dry-run" if args.server_dry_run else "offline"
    print(f"{len(manifests)} object(s) valid ({checked})", file=sys.stderr)
    return 0


def _checkout_of(path: Path) -> tuple[Path, str]:
    """Where to render ``path`` from: a kustomization may reach bases above it (``../base``),
    so it is rendered from the top of its git checkout, as the loop would; a plain directory
    is read as it is, its problems named relative to it."""
    if kustomization_of(path) is None:
        return path, "."
    for top in (path.resolve(), *path.resolve().parents):
        if (top / ".git").exists():
            return top, path.resolve().relative_to(top).as_posix()
    return path, "."


def _revision(revision: gitops_state.Revision | None) -> str:
    if revision is None:
        return "none"
    return f"{revision.sha[:12]} {revision.subject!r} by {revision.author} at {revision.time}"


async def run_status(args: argparse.Namespace) -> int:
    """Exit 0 when the last attempt applied cleanly and live objects match git, 1 otherwise."""
    configuration = await load_configuration(args.kubeconfig, args.context)
    async with connect(configuration) as rest:
        state, found = await gitops_state.load(rest, args.state_namespace)
    if found is None:
        print(
            f"no GitOps state in namespace {args.state_namespace} "
            "(is `reloader run --git-url` running, with this --state-namespace?)"
        )
        return 1
    suspension = gitops_state.Suspension.of(found)
    healthy = not state.errors and state.in_sync is not False and state.health != "Unhealthy"
    if args.output == "json":
        paused = dataclasses.asdict(suspension) if suspension else None
        body = {**dataclasses.asdict(state), "healthy": healthy, "suspended": paused}
        print(json.dumps(body, indent=2))
        return 0 if healthy else 1
    applied_ok = (
        state.last_applied is not None
        and state.last_attempted is not None
        and (state.last_applied.sha == state.last_attempted.sha)
    )
    print(f"source:          {state.url} ({state.ref}, path {state.path})")
    if suspension is not None:
        print(
            f"SUSPENDED:       by {suspension.by} at {suspension.at}: {suspension.reason} "
            "(nothing is applied, pruned or corrected; `reloader resume` ends it)"
        )
        if state.held is not None:
            print(f"held back:       {state.held.sha[:12]} (applied on resume)")
    print(f"last applied:    {_revision(state.last_applied)}")
    print(f"last attempted:  {_revision(state.last_attempted)} -> {state.last_result}")
    sync = {True: "yes", False: "no (drift detected)", None: "not checked yet"}[state.in_sync]
    print(f"live matches git: {sync}" + ("" if applied_ok else " (for the last applied revision)"))
    if state.health:
        print(f"revision health: {state.health}")
    for line in state.unhealthy:
        print(f"  unhealthy: {line}")
    print(f"objects managed: {len(state.inventory)}")
    if state.history:
        print(f"history:         {state.history}")
    for line in state.drift:
        print(f"  drifted: {line}")
    for line in state.pending:
        print(f"  pending (waits for its CRD): {line}")
    for line in state.not_pruned:
        print(f"  not pruned: {line}")
    for line in state.warnings:
        print(f"  warning: {line}")
    if state.errors:
        print(f"errors ({len(state.errors)}):")
        for error in state.errors:
            print(f"  {error}")
    return 0 if healthy else 1
