"""``reloader validate`` and ``reloader status``: what a CI job and an operator run."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from reloader.gitops import state as gitops_state
from reloader.gitops.applying import Applier
from reloader.gitops.reading import read_tree
from reloader.gitops.validating import server_dry_run
from reloader.kube.clients import connect, load_configuration


async def run_validate(args: argparse.Namespace) -> int:
    """Print every problem as path:line: message; 0 when there are none."""
    root = Path(args.path)
    manifests, problems = await read_tree(root)
    if not problems and args.server_dry_run:
        configuration = await load_configuration(args.kubeconfig, args.context)
        async with connect(configuration) as rest:
            applier = Applier(rest, default_namespace=args.default_namespace)
            dry = await server_dry_run(applier, manifests)
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
    healthy = not state.errors and state.in_sync is not False
    if args.output == "json":
        print(json.dumps({**dataclasses.asdict(state), "healthy": healthy}, indent=2))
        return 0 if healthy else 1
    applied_ok = (
        state.last_applied is not None
        and state.last_attempted is not None
        and (state.last_applied.sha == state.last_attempted.sha)
    )
    print(f"source:          {state.url} ({state.ref}, path {state.path})")
    print(f"last applied:    {_revision(state.last_applied)}")
    print(f"last attempted:  {_revision(state.last_attempted)} -> {state.last_result}")
    sync = {True: "yes", False: "no (drift detected)", None: "not checked yet"}[state.in_sync]
    print(f"live matches git: {sync}" + ("" if applied_ok else " (for the last applied revision)"))
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
