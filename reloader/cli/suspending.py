"""``reloader suspend`` and ``reloader resume``: protect a hand-made hotfix from the loop.

The suspension is written where the loop reads its state (annotations on its state
ConfigMap), so it needs the rights that writing that state needs, holds for every replica and
survives restarts. Who suspended is the name the API server knows the caller by (a
SelfSubjectReview), not a name the caller types: an audit line should not be up to the
person it is about. Only when the server cannot say (an old server, or no right to ask) does
the local ``$USER`` stand in, marked as such.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

from reloader.gitops import state as gitops_state
from reloader.kube.clients import connect, load_configuration
from reloader.kube.rest import ApiError, Rest

SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


async def who_am_i(rest: Rest) -> str:
    """The user name of the kubeconfig's credentials, as the API server authenticated them."""
    try:
        review = await rest.request(
            "POST",
            SELF_SUBJECT_REVIEWS,
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        name = ((review.get("status") or {}).get("userInfo") or {}).get("username")
        if name:
            return str(name)
    except (ApiError, OSError, TimeoutError):
        pass
    return f"{os.environ.get('USER') or 'unknown'} (local user)"


async def run_suspend(args: argparse.Namespace) -> int:
    configuration = await load_configuration(args.kubeconfig, args.context)
    async with connect(configuration) as rest:
        suspension = gitops_state.Suspension(
            by=await who_am_i(rest),
            at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            reason=args.reason,
        )
        try:
            await gitops_state.set_suspension(rest, args.state_namespace, suspension)
        except ApiError as exc:
            print(
                f"cannot suspend the GitOps loop in {args.state_namespace}: {exc}", file=sys.stderr
            )
            return 1
    print(
        f"GitOps loop in {args.state_namespace} suspended by {suspension.by}: {suspension.reason}\n"
        "It stops applying, pruning and correcting drift within one sync interval; "
        "`reloader resume` lets it go on."
    )
    return 0


async def run_resume(args: argparse.Namespace) -> int:
    configuration = await load_configuration(args.kubeconfig, args.context)
    async with connect(configuration) as rest:
        try:
            found = await gitops_state.read(rest, args.state_namespace)
            if gitops_state.Suspension.of(found) is None:
                print(f"the GitOps loop in {args.state_namespace} is not suspended")
                return 0
            await gitops_state.set_suspension(rest, args.state_namespace, None)
        except ApiError as exc:
            print(
                f"cannot resume the GitOps loop in {args.state_namespace}: {exc}", file=sys.stderr
            )
            return 1
    print(
        f"GitOps loop in {args.state_namespace} resumed: within one sync interval it applies "
        "git's newest revision and corrects drift"
    )
    return 0
