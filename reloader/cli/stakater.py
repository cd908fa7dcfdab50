"""Stakater Reloader's command line, understood: filters, aliases, and clear refusals.

Users moving from Stakater Reloader v1.4 keep their args. A flag whose meaning maps is taken
(``--namespaces``, ``--namespace-selector``, ``--namespaces-to-ignore``,
``--resource-label-selector``, ``--resources-to-ignore``, ``--ignored-workload-types``,
``--enable-ha``); one that asks for something reloader always does, or never needs, is
accepted and the start log says what reloader does (``--reload-strategy``,
``--reload-on-create``, ``--reload-on-delete``, ``--sync-after-restart``,
``--is-Argo-Rollouts``); one that cannot work here is refused as a usage error saying why
(exit 2), never dropped in silence: an ignored ``--auto-annotation=x`` would leave every
workload annotated ``x`` unreloaded without a word.

Lists are comma-separated and may repeat, as Stakater's are; given on the command line they
replace their ``RELOADER_<FLAG>`` variable. A flag some other module defined first (the
alerting's ``--webhook-url``) is left to it, so ``add_flags`` runs last.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reloader.core import filtering
from reloader.core.references import Kind

ENV_PREFIX = "RELOADER_"

_REFUSED = {
    "is-openshift": "OpenShift DeploymentConfigs are not reloaded; use Deployments",
    "enable-csi-integration": "Secrets Store CSI volumes are not followed",
    "enable-pprof": "there is no pprof; `kill -USR2` prints every task's stack",
    "pprof-addr": "there is no pprof; `kill -USR2` prints every task's stack",
    "webhook-url": "reloader always rolls; Reloaded Events and metrics tell what it did",
}
"""Stakater flags that cannot work here, and why (said in the error)."""

_ANNOTATION_FLAGS = {
    "auto-annotation": "reloader.stakater.com/auto",
    "configmap-auto-annotation": "configmap.reloader.stakater.com/auto",
    "secret-auto-annotation": "secret.reloader.stakater.com/auto",
    "configmap-annotation": "configmap.reloader.stakater.com/reload",
    "secret-annotation": "secret.reloader.stakater.com/reload",
    "configmap-exclude-annotation": "configmaps.exclude.reloader.stakater.com/reload",
    "secret-exclude-annotation": "secrets.exclude.reloader.stakater.com/reload",
    "auto-search-annotation": "reloader.stakater.com/search",
    "search-match-annotation": "reloader.stakater.com/match",
    "ignore-annotation": "reloader.stakater.com/ignore",
    "pause-deployment-annotation": "deployment.reloader.stakater.com/pause-period",
    "pause-deployment-time-annotation": "deployment.reloader.stakater.com/paused-at",
}
"""Annotation-name overrides: accepted when they name Stakater's default, refused otherwise."""

_NOTES = {
    "reload_strategy": "reloader always writes one pod-template annotation, "
    "reloader.dev/config-hash, holding a keyed hash of the content (never a timestamp, never "
    "an env var), so re-applying it changes nothing",
    "reload_on_create": "creating a ConfigMap or Secret that a workload references already "
    "counts as a change: reloader compares content, and a missing object is content too",
    "reload_on_delete": "deleting an object a workload references as optional rolls it once "
    "(its pods would start without it); deleting a required one holds the workload until the "
    "object is back (new pods could not start)",
    "sync_after_restart": "reloader is level-triggered: a change made while it was down rolls "
    "once at start, and nothing else does",
    "is_argo_rollouts": "Argo Rollouts are reloaded wherever their CRD is served",
}


def _env(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


class _Lists(argparse.Action):
    """Collects a repeatable flag's values; the first one given replaces the variable's."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        given = f"_{self.dest}_given"
        before = list(getattr(namespace, self.dest)) if getattr(namespace, given, False) else []
        setattr(namespace, given, True)
        setattr(namespace, self.dest, [*before, str(values)])


class _Refused(argparse.Action):
    """A Stakater flag that cannot work here: a usage error that says why."""

    def __init__(self, *args: Any, why: str, default_value: str | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.why, self.default_value = why, default_value

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if self.default_value is not None and values == self.default_value:
            return  # it names what reloader reads anyway
        parser.error(
            f"{option_string} is a Stakater Reloader flag that reloader does not support: "
            f"{self.why}"
        )


def _add(group: argparse._ArgumentGroup, flag: str, **kwargs: Any) -> None:
    """Add ``--flag`` unless another module already did (then its meaning wins)."""
    with contextlib.suppress(argparse.ArgumentError):
        group.add_argument(f"--{flag}", **kwargs)


def add_flags(run: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    """Add the filters and Stakater's flags to ``run``; call it after every other flag."""
    filters = run.add_argument_group("filters (Stakater Reloader's names and syntax)")
    lists = {
        "namespaces": "watch only these namespaces (comma list; the same as --namespace)",
        "namespace-selector": "act only in namespaces whose labels match: a label selector "
        "(team=a,env in (prod)) or Stakater's key:value list (key:* = has the label); with "
        "--namespace, in namespaces both pick",
        "namespaces-to-ignore": "never watch these namespaces (comma list): the API server "
        "does not even send their objects",
        "resource-label-selector": "only ConfigMaps and Secrets with these labels count "
        "(selector or key:value list, as --namespace-selector)",
        "resources-to-ignore": "configmaps or secrets: do not watch that kind; references to "
        "it never count and never hold a workload",
        "ignored-workload-types": "do not watch these workload kinds: jobs, cronjobs, "
        "deployments, statefulsets, daemonsets, rollouts",
    }
    for flag, help in lists.items():
        variable = _env(flag)
        default = [env[variable]] if env.get(variable) else []
        filters.add_argument(
            f"--{flag}", action=_Lists, default=default, metavar="LIST", help=f"{help} [{variable}]"
        )

    compat = run.add_argument_group("Stakater Reloader compatibility")
    for flag, help in (
        ("enable-ha", "the same as --leader-elect"),
        ("reload-on-create", "accepted; see the start log for what reloader does"),
        ("reload-on-delete", "accepted; see the start log for what reloader does"),
        ("sync-after-restart", "accepted; reloader always catches up at start"),
        ("is-Argo-Rollouts", "accepted; Rollouts are reloaded wherever their CRD is served"),
    ):
        variable = _env(flag)
        _add(
            compat,
            flag,
            dest=flag.lower().replace("-", "_"),
            nargs="?",
            const="true",
            default=env.get(variable),
            metavar="BOOL",
            help=f"{help} [{variable}]",
        )
    _add(
        compat,
        "reload-strategy",
        choices=["env-vars", "annotations"],
        default=env.get(_env("reload-strategy")),
        help="accepted; reloader always writes one pod-template annotation "
        f"[{_env('reload-strategy')}]",
    )
    for flag, why in _REFUSED.items():
        _add(compat, flag, action=_Refused, nargs="?", why=why, help=argparse.SUPPRESS)
    for flag, annotation in _ANNOTATION_FLAGS.items():
        why = f"annotation names are fixed ({annotation}); rename the annotations instead"
        _add(
            compat,
            flag,
            action=_Refused,
            nargs="?",
            why=why,
            default_value=annotation,
            help=argparse.SUPPRESS,
        )


def _bool(text: str | None, flag: str) -> bool | None:
    if text is None:
        return None
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"--{flag} wants true or false, got {text!r}")


@dataclass(frozen=True)
class Compat:
    """What the filters and Stakater's flags add to ``Settings``."""

    namespaces: tuple[str, ...]
    namespace_selector: str | None
    namespaces_to_ignore: tuple[str, ...]
    resource_label_selector: str | None
    ignored_resources: frozenset[Kind]
    ignored_workload_kinds: frozenset[str]
    enable_ha: bool
    notes: tuple[str, ...]


def _selector(values: list[str], flag: str) -> str | None:
    try:
        return filtering.label_selector(values)
    except ValueError as exc:
        raise ValueError(f"--{flag}: {exc}") from None


def compat_from(args: argparse.Namespace) -> Compat:
    """Check and convert the values; a ValueError names the flag (the CLI exits 2)."""
    notes = []
    for dest, note in _NOTES.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        shown = value if dest == "reload_strategy" else _bool(value, dest.replace("_", "-"))
        notes.append(f"--{dest.replace('_', '-')}={str(shown).lower()}: {note}")
    return Compat(
        namespaces=filtering.namespace_names(args.namespaces, flag="--namespaces"),
        namespace_selector=_selector(args.namespace_selector, "namespace-selector"),
        namespaces_to_ignore=filtering.namespace_names(
            args.namespaces_to_ignore, flag="--namespaces-to-ignore"
        ),
        resource_label_selector=_selector(args.resource_label_selector, "resource-label-selector"),
        ignored_resources=filtering.ignored_resources(args.resources_to_ignore),
        ignored_workload_kinds=filtering.ignored_workload_kinds(args.ignored_workload_types),
        enable_ha=bool(_bool(getattr(args, "enable_ha", None), "enable-ha")),
        notes=tuple(notes),
    )
