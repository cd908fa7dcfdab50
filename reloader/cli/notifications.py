"""Flags of what reloader tells the outside: alerts on reload, ``--webhook-url``, and the
switch of Stakater Reloader's per-namespace metric.

Stakater Reloader configures these with plain environment variables (``ALERT_ON_RELOAD``,
``ALERT_SINK``, ``ALERT_WEBHOOK_URL``, ``ALERT_WEBHOOK_PROXY``, ``ALERT_ADDITIONAL_INFO``,
``METRICS_COUNT_BY_NAMESPACE=enabled``); they work unchanged here. Each also has a reloader
flag and ``RELOADER_`` variable, which win over Stakater's name. The alert URL is read from
the environment or a file only, never from a flag: arguments show in ``ps`` and pod specs.

The variable of ``--webhook-url`` is ``RELOADER_RELOAD_WEBHOOK_URL``, not
``RELOADER_WEBHOOK_URL``: the ``--webhook-*`` flags of the GitOps loop configure a receiver
of git webhooks, this one a URL that reloader calls instead of rolling.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from reloader.alerting.messages import parse_sink
from reloader.alerting.urls import check
from reloader.core.settings import Alerts

RELOAD_WEBHOOK_ENV = "RELOADER_RELOAD_WEBHOOK_URL"


def _truthy(text: str, *, name: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on", "enabled"):
        return True
    if value in ("0", "false", "no", "off", "disabled", ""):
        return False
    raise ValueError(f"{name} wants true or false, got {text!r}")


def _first(env: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """The first of ``names`` set in ``env``, with its value."""
    for name in names:
        if name in env:
            return name, env[name]
    return None


def add_flags(run: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    """Add the flags to ``run``; defaults come from ``env``, checked in ``alerts_from``."""
    group = run.add_argument_group("alerts and the reload webhook")
    group.add_argument(
        "--alert-on-reload",
        metavar="BOOL",
        default=_first(env, "RELOADER_ALERT_ON_RELOAD", "ALERT_ON_RELOAD"),
        help="send an alert to --alert-sink on every rollout "
        "[RELOADER_ALERT_ON_RELOAD, ALERT_ON_RELOAD]",
    )
    group.add_argument(
        "--alert-sink",
        metavar="SINK",
        default=_first(env, "RELOADER_ALERT_SINK", "ALERT_SINK"),
        help="slack, teams, gchat or raw (JSON; the default) [RELOADER_ALERT_SINK, ALERT_SINK]",
    )
    group.add_argument(
        "--alert-webhook-url-file",
        metavar="PATH",
        default=env.get("RELOADER_ALERT_WEBHOOK_URL_FILE"),
        help="file holding the sink's webhook URL, a credential (or the URL itself in "
        "ALERT_WEBHOOK_URL) [RELOADER_ALERT_WEBHOOK_URL_FILE]",
    )
    group.add_argument(
        "--alert-webhook-proxy",
        metavar="URL",
        default=_first(env, "RELOADER_ALERT_WEBHOOK_PROXY", "ALERT_WEBHOOK_PROXY"),
        help="HTTP proxy to reach the sink through (default: none; HTTP_PROXY is not read) "
        "[RELOADER_ALERT_WEBHOOK_PROXY, ALERT_WEBHOOK_PROXY]",
    )
    group.add_argument(
        "--alert-additional-info",
        metavar="TEXT",
        default=_first(env, "RELOADER_ALERT_ADDITIONAL_INFO", "ALERT_ADDITIONAL_INFO"),
        help="text put before every alert, e.g. the cluster's name "
        "[RELOADER_ALERT_ADDITIONAL_INFO, ALERT_ADDITIONAL_INFO]",
    )
    group.add_argument(
        "--webhook-url",
        metavar="URL",
        default=_first(env, RELOAD_WEBHOOK_ENV),
        help="instead of rolling a workload, POST a JSON description of the change here "
        "(not the GitOps loop's --webhook-* receiver) [" + RELOAD_WEBHOOK_ENV + "]",
    )
    group.add_argument(
        "--metrics-count-by-namespace",
        metavar="BOOL",
        default=_first(env, "RELOADER_METRICS_COUNT_BY_NAMESPACE", "METRICS_COUNT_BY_NAMESPACE"),
        help="also export reloader_reload_executed_total_by_namespace (a series per namespace) "
        "[RELOADER_METRICS_COUNT_BY_NAMESPACE, METRICS_COUNT_BY_NAMESPACE=enabled]",
    )
    run.set_defaults(
        alert_webhook_url_env=_first(env, "RELOADER_ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_URL")
    )


def _given(value: object, flag: str) -> tuple[str, str] | None:
    """A flag's value with where it came from: a flag (a str) or ``(variable, value)``."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return value
    return flag, str(value)


def alerts_from(args: argparse.Namespace) -> Alerts:
    """The alert settings, or ValueError naming the flag or variable that cannot work."""
    on = _given(args.alert_on_reload, "--alert-on-reload")
    enabled = _truthy(on[1], name=on[0]) if on else False
    sink = _given(args.alert_sink, "--alert-sink")
    try:
        sink_value = parse_sink(sink[1] if sink else "")
    except ValueError as exc:
        raise ValueError(f"{exc} (from {sink[0] if sink else '--alert-sink'})") from None
    url: str | None = None
    if args.alert_webhook_url_file:
        where = f"--alert-webhook-url-file {args.alert_webhook_url_file}"
        try:
            url = Path(args.alert_webhook_url_file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read {where}: {exc.strerror}") from None
    elif args.alert_webhook_url_env and args.alert_webhook_url_env[1].strip():
        where = args.alert_webhook_url_env[0]
        url = args.alert_webhook_url_env[1]
    if url is not None:
        url = check(url, what=f"the alert webhook URL ({where})")
    proxy = _given(args.alert_webhook_proxy, "--alert-webhook-proxy")
    proxy_url = check(proxy[1], what=proxy[0]) if proxy and proxy[1].strip() else None
    info = _given(args.alert_additional_info, "--alert-additional-info")
    return Alerts(
        on_reload=enabled,
        sink=sink_value.value,
        webhook_url=url if enabled else None,
        webhook_proxy=proxy_url,
        additional_info=info[1].strip() if info else "",
    )


def reload_webhook_from(args: argparse.Namespace) -> str | None:
    given = _given(args.webhook_url, "--webhook-url")
    if not given or not given[1].strip():
        return None
    return check(given[1], what=given[0])


def count_by_namespace_from(args: argparse.Namespace) -> bool:
    given = _given(args.metrics_count_by_namespace, "--metrics-count-by-namespace")
    return _truthy(given[1], name=given[0]) if given else False
