"""The ``reloader`` command line: ``run``, ``validate``, ``status``, ``suspend``, ``resume``
and ``image set``."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import os
import resource
import signal
import sys
from collections.abc import Sequence

from reloader.cli.flags import build_parser, settings_from
from reloader.cli.imaging import run_image_set, usage_problem
from reloader.cli.inspecting import run_status, run_validate
from reloader.cli.running import run_controller
from reloader.cli.suspending import run_resume, run_suspend
from reloader.telemetry import logging as logs

__all__ = ["build_parser", "main", "settings_from"]


def _raise_open_files_limit() -> None:
    """Each watch holds a connection (six per watched namespace): lift the soft limit on open
    files (often 1,024) to the hard one, as Go programs such as kube-controller-manager do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(os.environ)
    args = parser.parse_args(argv)
    if args.command == "run":
        try:
            settings = settings_from(args)
            logs.configure(fmt=settings.log_format, level=settings.log_level)
        except ValueError as exc:
            parser.error(str(exc))
        # `kill -USR1` prints every thread's stack, even when the event loop is stuck.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        _raise_open_files_limit()
        return asyncio.run(run_controller(settings))
    if args.command == "validate":
        return asyncio.run(run_validate(args))
    if args.command == "status":
        return asyncio.run(run_status(args))
    if args.command == "suspend":
        return asyncio.run(run_suspend(args))
    if args.command == "resume":
        return asyncio.run(run_resume(args))
    if args.command == "image":
        problem = usage_problem(args)
        if problem:
            parser.error(problem)
        return asyncio.run(run_image_set(args))
    parser.print_help(sys.stderr)
    return 2
