"""``reloader image set``: the CI step that bumps an image in a GitOps repository.

It replaces clone + ``yq`` + commit + push + "open a PR" scripts: the edit is made in place
(only the changed scalars differ), checked with ``reloader validate``'s own code before
anything is committed, and pushed with retries that re-apply the edit on the newest head.
Exit status: 0 done (or already as asked), 1 nothing matched or a refusal (an edit that
cannot be exact, a validation problem, a push that never landed), 2 a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reloader.cli.inspecting import run_validate
from reloader.gitops.source import Credentials
from reloader.imaging import forges, messages, setting
from reloader.imaging.committing import (
    Edited,
    GitFailed,
    Published,
    Repository,
    check_author,
    publish,
)
from reloader.imaging.editing import Change, Refused
from reloader.imaging.locating import CustomPath, parse_key
from reloader.imaging.locating import Path as KeyPath
from reloader.imaging.references import USAGE, ImageChange, parse_change

PUBLIC_FORGES = ("github", "gitlab")
"""Forges whose API address is known without --forge-url."""


def add_image_commands(commands: argparse._SubParsersAction[Any], env: Mapping[str, str]) -> None:
    image = commands.add_parser("image", help="edit image references in a GitOps repository")
    verbs = image.add_subparsers(dest="image_command", metavar="VERB", required=True)
    cmd = verbs.add_parser(
        "set",
        help="set images as `kustomize edit set image` does, in place; optionally commit, "
        "push and open a pull request",
        description=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("images", nargs="+", type=_change, metavar="IMAGE", help="NAME=NEWNAME:TAG")
    cmd.add_argument("--path", default=".", help="directory whose files are edited (default .)")
    cmd.add_argument(
        "--custom-path",
        action="append",
        type=_custom_path,
        default=[],
        metavar="[GROUP/]KIND:PATH",
        help="a pod template in a custom resource, e.g. argoproj.io/Rollout:spec.template",
    )
    cmd.add_argument(
        "--helm-values",
        action="append",
        type=_helm_values,
        default=[],
        metavar="FILE:KEY",
        help="a values file (under --path) and the dotted key holding an image: a string, "
        "or repository (+ registry) with tag (+ digest), e.g. values.yaml:image",
    )
    cmd.add_argument("--dry-run", action="store_true", help="print a diff, write nothing")
    _git_flags(cmd, env)
    _validate_flags(cmd, env)
    _forge_flags(cmd, env)


def _git_flags(cmd: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    cmd.add_argument("--commit", action="store_true", help="commit the edited files")
    cmd.add_argument(
        "--push",
        metavar="BRANCH",
        help="commit on the remote head of BRANCH (new: made from --base) and push there, "
        "re-applying the edit whenever another push lands first",
    )
    cmd.add_argument("--remote", default="origin", help="remote to push to (default origin)")
    cmd.add_argument(
        "--base", help="branch a new --push branch starts from (default: the current branch)"
    )
    cmd.add_argument(
        "--push-attempts", type=_positive_int, default=10, help="pushes tried (default 10)"
    )
    cmd.add_argument(
        "--author",
        default=env.get("RELOADER_GIT_AUTHOR"),
        help="'Name <email>' of the commit (default: git's config) [RELOADER_GIT_AUTHOR]",
    )
    cmd.add_argument(
        "--git-token-file",
        default=env.get("RELOADER_GIT_TOKEN_FILE"),
        help="file holding an https token (the token itself: RELOADER_GIT_TOKEN) "
        "[RELOADER_GIT_TOKEN_FILE]",
    )
    cmd.add_argument("--git-username", default=env.get("RELOADER_GIT_USERNAME"))
    cmd.add_argument("--git-ssh-key-file", default=env.get("RELOADER_GIT_SSH_KEY_FILE"))
    cmd.add_argument("--git-known-hosts-file", default=env.get("RELOADER_GIT_KNOWN_HOSTS_FILE"))
    cmd.add_argument("--git-ca-file", default=env.get("RELOADER_GIT_CA_FILE"))
    cmd.add_argument(
        "--git-timeout", type=float, default=60.0, help="deadline of each git command, seconds"
    )


def _validate_flags(cmd: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    cmd.add_argument(
        "--server-dry-run",
        action="store_true",
        help="before committing, also dry-run every object against the current cluster",
    )
    cmd.add_argument("--kubeconfig", default=env.get("KUBECONFIG"), help="[KUBECONFIG]")
    cmd.add_argument("--context", help="kubeconfig context to use")
    cmd.add_argument("--default-namespace", default="default")
    cmd.add_argument("--kustomize-binary", default="kustomize")
    cmd.add_argument("--helm-binary", default="helm")
    cmd.add_argument("--sops-binary", default="sops")
    cmd.add_argument("--decryption-key-file")


def _forge_flags(cmd: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    cmd.add_argument(
        "--pull-request",
        action="store_true",
        help="open (or update) a pull request from the --push branch into --base",
    )
    cmd.add_argument("--forge", choices=["github", "gitlab", "gitea"], default="github")
    cmd.add_argument(
        "--forge-url",
        help="the forge's address or API root (default: github.com's or gitlab.com's)",
    )
    cmd.add_argument(
        "--forge-token-file",
        default=env.get("RELOADER_FORGE_TOKEN_FILE"),
        help="file holding the forge token (the token itself: RELOADER_FORGE_TOKEN)",
    )
    cmd.add_argument("--repository", metavar="OWNER/NAME", help="repository on the forge")
    cmd.add_argument("--title", help="pull request title (default: the commit subject)")
    cmd.add_argument(
        "--forge-timeout", type=float, default=30.0, help="deadline of the forge's API calls"
    )


def _change(text: str) -> ImageChange:
    try:
        return parse_change(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _custom_path(text: str) -> CustomPath:
    try:
        return CustomPath.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _helm_values(text: str) -> tuple[str, KeyPath]:
    name, sep, key = text.rpartition(":")
    try:
        if not sep or not name:
            raise ValueError(f"{text!r}: want FILE:KEY, e.g. values.yaml:image")
        return os.path.normpath(name), parse_key(key)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"want a whole number of at least 1, got {text!r}")
    return int(text)


def usage_problem(args: argparse.Namespace) -> str | None:
    """What makes this combination of flags unusable (exit 2), if anything."""
    if not Path(args.path).is_dir():
        return f"--path {args.path}: not a directory"
    if args.pull_request and not args.push:
        return "--pull-request needs --push BRANCH (the branch the pull request is from)"
    if args.pull_request and not args.repository:
        return "--pull-request needs --repository OWNER/NAME"
    if args.pull_request and args.forge not in PUBLIC_FORGES and not args.forge_url:
        return f"--forge {args.forge} needs --forge-url (its API root)"
    if args.pull_request and not (args.forge_token_file or os.environ.get("RELOADER_FORGE_TOKEN")):
        return "--pull-request needs --forge-token-file or RELOADER_FORGE_TOKEN"
    try:
        check_author(args.author)
    except ValueError as exc:
        return str(exc)
    if args.git_timeout <= 0 or args.forge_timeout <= 0:
        return "timeouts must be more than zero"
    return None


class _NothingMatched(Exception):
    pass


class _Invalid(Exception):
    pass


class ImageSet:
    """One run of ``reloader image set``: plan and write the edit (again on every attempt),
    validate it, and report."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.changes: list[ImageChange] = args.images
        self.root = Path(args.path)
        helm: dict[str, list[KeyPath]] = {}
        for name, key in args.helm_values:
            helm.setdefault(name, []).append(key)
        self.helm = helm
        self.reported = False
        self.top: Path | None = None
        """The repository's top: commit messages name files relative to it."""

    def plan(self) -> setting.Outcome:
        return setting.plan_tree(
            self.root,
            shown_root=self.args.path,
            changes=self.changes,
            custom=self.args.custom_path,
            helm_values=self.helm,
        )

    def report(self, outcome: setting.Outcome) -> None:
        """``path:line: old -> new`` per reference (once, however many attempts)."""
        if self.reported:
            return
        self.reported = True
        for problem in outcome.skipped:
            print(problem, file=sys.stderr)
        for shown, c in sorted(outcome.changes, key=lambda sc: (sc[0], sc[1].line)):
            already = "  (already)" if c.old == c.new else ""
            print(f"{shown}:{c.line}: {c.old} -> {c.new}{already}")
        for change in outcome.unmatched:
            print(f"no reference to image {change.name} under {self.args.path}", file=sys.stderr)

    async def apply(self) -> Edited | None:
        """Edit the tree as it is now; None when it already reads as asked. Raises
        ``Refused``, ``_NothingMatched`` or ``_Invalid`` (the files then are as before)."""
        outcome = self.plan()
        self.report(outcome)
        if not outcome.changes:
            raise _NothingMatched
        if not outcome.files:
            return None
        await asyncio.to_thread(setting.write, outcome.files)
        if not await self.valid():
            await asyncio.to_thread(_restore, outcome.files)
            raise _Invalid
        return Edited(
            files=[f.path for f in outcome.files],
            message=messages.message(self.changes, self.in_repository(outcome)),
        )

    def in_repository(self, outcome: setting.Outcome) -> list[tuple[str, Change]]:
        """Each change with its file named from the repository's top (as git shows it)."""
        by_shown = {f.shown: f.path for f in outcome.files}
        named = []
        for shown, change in outcome.changes:
            path, top = by_shown.get(shown), self.top
            name = shown if path is None or top is None else os.path.relpath(path.resolve(), top)
            named.append((name, change))
        return named

    async def valid(self) -> bool:
        a = self.args
        check = argparse.Namespace(
            path=a.path,
            server_dry_run=a.server_dry_run,
            kustomize_binary=a.kustomize_binary,
            helm_binary=a.helm_binary,
            sops_binary=a.sops_binary,
            decryption_key_file=a.decryption_key_file,
            kubeconfig=a.kubeconfig,
            context=a.context,
            default_namespace=a.default_namespace,
        )
        return await run_validate(check) == 0


def _restore(files: Sequence[setting.FileEdit]) -> None:
    for f in files:
        setting.write_atomically(f.path, f.old.encode("utf-8"))


async def run_image_set(args: argparse.Namespace) -> int:
    run = ImageSet(args)
    try:
        if args.dry_run:
            outcome = run.plan()
            run.report(outcome)
            sys.stdout.write(setting.diff(outcome.files))
            return 0 if outcome.changes else 1
        if not (args.commit or args.push):
            outcome = run.plan()
            run.report(outcome)
            await asyncio.to_thread(setting.write, outcome.files)
            return 0 if outcome.changes else 1
        return await _committed(run, args)
    except Refused as exc:
        print(f"{exc}", file=sys.stderr)
        return 1
    except _NothingMatched:
        return 1
    except _Invalid:
        print("the edited revision is not valid: nothing committed or pushed", file=sys.stderr)
        return 1
    except GitFailed as exc:
        print(f"{exc}", file=sys.stderr)
        return 1
    except forges.ForgeError as exc:
        print(f"pull request: {exc}", file=sys.stderr)
        return 1


async def _committed(run: ImageSet, args: argparse.Namespace) -> int:
    credentials = Credentials(
        token=os.environ.get("RELOADER_GIT_TOKEN"),
        token_file=args.git_token_file,
        username=args.git_username,
        ssh_key_file=args.git_ssh_key_file,
        known_hosts_file=args.git_known_hosts_file,
        ca_file=args.git_ca_file,
    )
    repo = await Repository.containing(
        run.root, git_timeout=args.git_timeout, credentials=credentials, author=args.author
    )
    run.top = repo.top.resolve()
    try:
        if not args.push:
            edited = await run.apply()
            if edited is None:
                print("nothing to commit: every reference is already as asked", file=sys.stderr)
                return 0
            sha = await repo.commit(edited.files, edited.message)
            print(f"committed {sha[:12]}", file=sys.stderr)
            return 0
        base = args.base or await _current_branch(repo)
        published = await publish(
            repo,
            edit=run.apply,
            remote=args.remote,
            branch=args.push,
            base=base,
            attempts=args.push_attempts,
            say=lambda line: print(line, file=sys.stderr),
        )
        _say_published(published, args)
        if args.pull_request and (published.pushed or published.branch_existed):
            await _pull_request(run, args, base, published)
        return 0
    finally:
        repo.close()


async def _current_branch(repo: Repository) -> str:
    try:
        return (await repo.git("symbolic-ref", "--quiet", "--short", "HEAD")).strip()
    except GitFailed:
        return "main"  # a detached checkout: the usual default branch


def _say_published(published: Published, args: argparse.Namespace) -> None:
    if published.pushed:
        tries = f" after {published.attempts} attempts" if published.attempts > 1 else ""
        print(f"pushed {published.sha[:12]} to {args.remote} {args.push}{tries}", file=sys.stderr)
    else:
        print(f"nothing to push: {args.push} already holds these images", file=sys.stderr)


async def _pull_request(
    run: ImageSet, args: argparse.Namespace, base: str, published: Published
) -> None:
    token = os.environ.get("RELOADER_FORGE_TOKEN", "")
    if args.forge_token_file:
        token = (await asyncio.to_thread(Path(args.forge_token_file).read_text)).strip()
    outcome = run.plan()  # already applied: every reference reads as asked, old = new
    subject = messages.subject(run.changes, outcome.changes)
    body = await _pushed_body(args, published)
    url = await forges.open_or_update_pull_request(
        forge=args.forge,
        api_url=args.forge_url or "",  # forges.py knows the public defaults
        token=token,
        repository=args.repository,
        head=args.push,
        base=base,
        title=args.title or subject,
        body=body,
        timeout=args.forge_timeout,
    )
    print(f"pull request: {url}")


async def _pushed_body(args: argparse.Namespace, published: Published) -> str:
    """The body of the commit at the branch's head: the ``old -> new`` lines."""
    repo = await Repository.containing(Path(args.path), git_timeout=args.git_timeout)
    return (await repo.git("log", "-1", "--format=%b", published.sha)).strip()
