"""structlog set up once for the process: one JSON object per line, or readable console lines.

Every decision is logged as one event with its fields, so ``kubectl logs | jq`` answers "why
did this workload roll". Secret values never reach a log: callers log names and keyed hashes.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["json", "console"]


def configure(*, fmt: LogFormat = "json", level: str = "info") -> None:
    """Route structlog (and the stdlib loggers of our libraries) to stderr in ``fmt``."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}; use debug, info, warning or error")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(message)s"
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger that names its component in every line."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(component=name)
    return logger
