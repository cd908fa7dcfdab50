"""The ``reloader`` command line: flags (each with an environment variable) into ``Settings``.

Flag names follow Kubernetes controllers (``--metrics-bind-address``,
``--health-probe-bind-address``, ``--leader-elect``-style booleans); each also reads
``RELOADER_<FLAG>`` (``KUBECONFIG`` for ``--kubeconfig``), so the same image is configured
from a Deployment's ``env`` or its ``args``.

A value that cannot work is refused before anything starts, as a usage error naming the flag
(exit 2): a concurrency of 0 would deadlock the apply, a zero interval would spin, a share
outside (0, 1] would make pruning refuse everything or nothing, and a password in
``--git-url`` would be copied into logs, the state ConfigMap and ``reloader status``. An
environment variable is checked the same way, and the message says it came from there.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reloader import __version__
from reloader.cli import notifications, stakater
from reloader.cli.imaging import add_image_commands
from reloader.core.annotations import ReloadOn
from reloader.core.durations import parse_duration
from reloader.core.settings import Settings
from reloader.kube.leasing import LeaseConfig
from reloader.serving.http import parse_bind_address

ENV_PREFIX = "RELOADER_"


def _env_name(flag: str) -> str:
    return "KUBECONFIG" if flag == "kubeconfig" else ENV_PREFIX + flag.upper().replace("-", "_")


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"want true or false, got {text!r}")


def _log_format(text: str) -> str:
    """json or console; Stakater Reloader's empty value and ``text`` are its console format."""
    value = text.strip().lower()
    if value in ("", "text", "console"):
        return "console"
    if value == "json":
        return "json"
    raise argparse.ArgumentTypeError(f"want json or console, got {text!r}")


_LOG_LEVELS = {"trace": "debug", "warn": "warning", "fatal": "error", "panic": "error"}


def _log_level(text: str) -> str:
    """A level, with logrus' names (Stakater Reloader's) mapped onto the nearest of ours."""
    value = text.strip().lower()
    return _LOG_LEVELS.get(value, value)


def _duration(text: str) -> float:
    """A duration of zero or more (a negative wait or timeout has no meaning)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return seconds


def _positive_duration(text: str) -> float:
    seconds = _duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be more than zero, got {text!r}")
    return seconds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _share(text: str) -> float:
    """A fraction in (0, 1]: 0 would refuse every prune, more than 1 none."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"want a share in (0, 1], e.g. 0.5, got {text!r}")
    return value


def refuse_url_credentials(url: str) -> None:
    """Raise ValueError when ``url`` carries a password or token (``https://user:TOKEN@host``).

    A user name alone (``ssh://git@host/repo``, scp-like ``git@host:repo``,
    ``https://user@host/repo``) is no secret and stays allowed. The message never repeats the
    secret.
    """
    try:
        parts = urlsplit(url.strip())
        password = parts.password
    except ValueError:  # e.g. an invalid port or IPv6 literal: git will say what is wrong
        return
    if not password:
        return
    # The user name is not shown either: forms like https://TOKEN:x-oauth-basic@host put the
    # token there.
    shown = f"{parts.scheme}://***@{parts.hostname or 'host'}{parts.path}"
    raise ValueError(
        f"--git-url must not carry a password or token ({shown}): it would be written to "
        "logs, the state ConfigMap and `reloader status`. Put the token in a file named by "
        "--git-token-file, or in RELOADER_GIT_TOKEN (user name: --git-username), and use the "
        "URL without it"
    )


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reloader",
        description=(
            "Roll Kubernetes workloads exactly once per real ConfigMap/Secret change. "
            "Every flag also reads an environment variable, shown in brackets."
        ),
    )
    parser.add_argument("--version", action="version", version=f"reloader {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="run the controller against the current kubeconfig")

    flag = _flag_adder(run, env)
    _reloader_flags(flag, run, env)
    _leader_flags(flag)
    _gitops_flags(flag)
    notifications.add_flags(run, env)
    stakater.add_flags(run, env)  # last: it leaves flags defined above to their modules
    validate = commands.add_parser(
        "validate",
        help="check the manifests under PATH as the GitOps loop would; exit 1 on any problem",
    )
    validate.add_argument("path", help="a directory of .yaml, .yml and .json manifests")
    validate.add_argument(
        "--server-dry-run",
        action="store_true",
        help="also dry-run every object against the cluster of the current kubeconfig",
    )
    validate.add_argument(
        "--kustomize-binary", default="kustomize", help="kustomize for a PATH with a kustomization"
    )
    validate.add_argument("--helm-binary", default="helm", help="helm for kustomize's helmCharts:")
    validate.add_argument(
        "--decryption-key-file",
        help="age identities file that decrypts SOPS-encrypted objects (without it they are "
        "checked encrypted)",
    )
    validate.add_argument("--sops-binary", default="sops", help="sops for encrypted objects")
    validate.add_argument("--kubeconfig", default=env.get("KUBECONFIG"), help="[KUBECONFIG]")
    validate.add_argument("--context", help="kubeconfig context to use")
    validate.add_argument(
        "--default-namespace",
        default="default",
        help="namespace of namespaced objects that name none (default: default)",
    )
    status = commands.add_parser(
        "status",
        help="print the GitOps loop's last applied and attempted revision, errors and drift",
    )
    status.add_argument("--kubeconfig", default=env.get("KUBECONFIG"), help="[KUBECONFIG]")
    status.add_argument("--context", help="kubeconfig context to use")
    status.add_argument(
        "--state-namespace",
        default=env.get("RELOADER_STATE_NAMESPACE", "reloader"),
        help="where `reloader run` keeps its state [RELOADER_STATE_NAMESPACE]",
    )
    status.add_argument("--output", choices=["text", "json"], default="text")
    _suspend_commands(commands, env)
    add_image_commands(commands, env)
    return parser


def _suspend_commands(commands: argparse._SubParsersAction[Any], env: Mapping[str, str]) -> None:
    suspend = commands.add_parser(
        "suspend",
        help="pause the GitOps loop (applies, prunes, drift correction), e.g. during an incident",
    )
    suspend.add_argument("--reason", required=True, help="why, for `reloader status` and Events")
    resume = commands.add_parser("resume", help="let a suspended GitOps loop apply again")
    for command in (suspend, resume):
        command.add_argument("--kubeconfig", default=env.get("KUBECONFIG"), help="[KUBECONFIG]")
        command.add_argument("--context", help="kubeconfig context to use")
        command.add_argument(
            "--state-namespace",
            default=env.get("RELOADER_STATE_NAMESPACE", "reloader"),
            help="where `reloader run` keeps its state [RELOADER_STATE_NAMESPACE]",
        )


Flag = Callable[..., None]


def _flag_adder(run: argparse.ArgumentParser, env: Mapping[str, str]) -> Flag:
    """``flag(name, ...)`` adds ``--name`` whose default comes from its environment variable."""

    def flag(name: str, *, help: str, default: object = None, **kwargs: object) -> None:
        env_name = _env_name(name)
        raw = env.get(env_name)
        value: object = default
        if raw is not None:
            # argparse converts (and so checks) a string default with the flag's own type when
            # the flag is not given: a bad variable is a usage error, not a traceback.
            value = raw
            convert = kwargs.get("type")
            if callable(convert):
                value = _FromEnv(raw)
                kwargs["type"] = _naming_env(convert, env_name)
        run.add_argument(f"--{name}", default=value, help=f"{help} [{env_name}]", **kwargs)  # type: ignore[arg-type]

    return flag


class _FromEnv(str):
    """A flag's value read from its environment variable (so an error can say so)."""


def _naming_env(convert: Callable[[str], object], env_name: str) -> Callable[[str], object]:
    def converted(text: str) -> object:
        try:
            return convert(text)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            if not isinstance(text, _FromEnv):
                raise
            raise argparse.ArgumentTypeError(f"{exc} (from {env_name})") from exc

    converted.__name__ = getattr(convert, "__name__", "value")  # argparse names it on ValueError
    return converted


def _reloader_flags(flag: Flag, run: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    flag("kubeconfig", help="kubeconfig file (default: in-cluster config, else ~/.kube/config)")
    flag("context", help="kubeconfig context to use")
    run.add_argument(
        "--namespace",
        action="append",
        default=[n for n in env.get(ENV_PREFIX + "NAMESPACE", "").split(",") if n],
        help="watch only this namespace; repeat for several (default: all) "
        "[RELOADER_NAMESPACE, comma-separated]",
    )
    flag("metrics-bind-address", default=":8080", help="address of /metrics; 0 disables")
    flag(
        "health-probe-bind-address",
        default=":8081",
        help="address of /healthz and /readyz; 0 disables",
    )
    flag(
        "log-format",
        default="json",
        type=_log_format,
        help="log line format: json, or console (Stakater's empty value and text mean console)",
    )
    flag(
        "log-level",
        default="info",
        type=_log_level,
        choices=["debug", "info", "warning", "error"],
        help="least severe level logged (Stakater's trace, warn, fatal and panic are read as "
        "debug, warning, error and error)",
    )
    flag(
        "auto-reload-all",
        default=False,
        type=_bool,
        help="reload every workload on its referenced ConfigMaps/Secrets "
        'unless it says auto: "false"',
    )
    flag(
        "reload-on",
        default="keys",
        choices=["keys", "object"],
        help="what rolls a workload that reads single keys (configMapKeyRef, volume items): "
        "keys: a change of those keys; object: any change of the object, as Stakater "
        "Reloader does (per workload: reloader.dev/reload-on)",
    )
    flag(
        "debounce",
        default=0.1,
        type=_duration,
        help="quiet time after the last change of a workload's objects before it rolls "
        "(e.g. 100ms, 2s)",
    )
    flag(
        "hash-key-secret",
        default="reloader/reloader-hash-key",
        help="namespace/name of the Secret holding the hash key (created if missing)",
    )
    flag("workers", default=8, type=_positive_int, help="workloads reconciled concurrently")
    flag(
        "discovery-interval",
        default=30.0,
        type=_positive_duration,
        help="how often to look whether Argo Rollouts' CRD is served (Rollouts are watched "
        "while it is)",
    )
    flag(
        "config-reloader",
        default=True,
        type=_bool,
        help="run the config reloader (false: only the GitOps loop, under its own rights)",
    )


def _leader_flags(flag: Flag) -> None:
    flag(
        "leader-elect",
        default=False,
        type=_bool,
        help="act only while holding a Lease, so replicas can run side by side",
    )
    flag(
        "leader-election-namespace",
        default="reloader",
        help="namespace of the leader election Lease",
    )
    flag("leader-election-id", default="reloader-leader", help="name of the Lease")
    flag(
        "leader-elect-lease-duration",
        default=15.0,
        type=_positive_duration,
        help="how long a standby waits after the leader's last renewal before taking over",
    )
    flag(
        "leader-elect-renew-deadline",
        default=10.0,
        type=_positive_duration,
        help="how long the leader keeps acting without renewing (must be < lease duration)",
    )
    flag(
        "leader-elect-retry-period",
        default=2.0,
        type=_positive_duration,
        help="renew and retry interval",
    )


def _gitops_flags(flag: Flag) -> None:
    # --- the GitOps loop (on when --git-url is set) ---
    flag(
        "git-url", help="git repository to apply (file://, https:// or ssh); omit for reloader only"
    )
    flag("git-ref", default="main", help="branch, tag or commit sha to follow")
    flag("git-path", default=".", help="directory of the repository holding the manifests")
    flag(
        "sync-interval",
        default=30.0,
        type=_positive_duration,
        help="how often to check git and drift",
    )
    flag("prune", default=False, type=_bool, help="delete objects removed from git")
    flag(
        "prune-max-share",
        default=0.5,
        type=_share,
        help="refuse a revision that would prune more than this share of the inventory",
    )
    flag("force-prune", default=False, type=_bool, help="prune even an empty or large removal")
    flag("drift", default="correct", choices=["correct", "detect"], help="what to do about drift")
    flag(
        "default-namespace",
        default="default",
        help="namespace of namespaced objects in git that name none",
    )
    flag("state-namespace", default="reloader", help="where the loop keeps its state (created)")
    flag(
        "git-token-file", help="file holding an https token (the token itself: RELOADER_GIT_TOKEN)"
    )
    flag("git-username", help="https user name for the token (default x-access-token)")
    flag("git-ssh-key-file", help="private key for ssh remotes")
    flag("git-known-hosts-file", help="known_hosts for ssh remotes (strict host key checking)")
    flag("git-ca-file", help="CA bundle that https remotes' certificates chain to (PEM)")
    flag("git-workdir", default="/tmp/reloader-gitops", help="where checkouts are kept")
    flag(
        "git-timeout",
        default=60.0,
        type=_positive_duration,
        help="deadline of each git command (ls-remote, fetch, checkout); when it passes, git "
        "and everything it started are killed",
    )
    flag(
        "sync-timeout",
        default=600.0,
        type=_positive_duration,
        help="deadline of a whole sync cycle (git, validation, apply, prune); a cycle that "
        "passes it is ended, reported (SyncTimeout) and retried with backoff",
    )
    flag(
        "kustomize-binary",
        default="kustomize",
        help="kustomize that renders a --git-path holding a kustomization (looked up on PATH)",
    )
    flag(
        "helm-binary",
        default="helm",
        help="helm that kustomize inflates helmCharts: with (looked up on PATH)",
    )
    flag(
        "decryption-key-file",
        help="age identities file (as age-keygen writes it) that decrypts objects encrypted "
        "with SOPS, in memory; without it an encrypted object refuses the revision",
    )
    flag("sops-binary", default="sops", help="sops that decrypts them (looked up on PATH)")
    flag(
        "health-timeout",
        default=120.0,
        type=_duration,
        help="after applying a revision, how long to wait for what it declares to run "
        "(Deployments available, Jobs complete, Ready conditions True) before reporting it "
        "Unhealthy; 0 disables the check",
    )
    flag(
        "webhook-bind-address",
        default="0",
        help="address of POST /hooks/git (HMAC-signed); 0 disables",
    )
    flag(
        "webhook-secret-file",
        help="file holding the webhook's HMAC secret (or RELOADER_WEBHOOK_SECRET)",
    )
    flag(
        "webhook-advertise-address",
        type=_advertise_address,
        help="host:port where the other replicas reach this one's webhook (with --leader-elect, "
        "the leader publishes it on its Lease and standbys forward deliveries there; default: "
        "$POD_IP and the port of --webhook-bind-address)",
    )
    flag(
        "apply-concurrency",
        default=32,
        type=_positive_int,
        help="requests in flight at once when dry-running and applying a revision",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    if args.git_url:
        refuse_url_credentials(args.git_url)
    key_ns, sep, key_name = str(args.hash_key_secret).partition("/")
    if not sep or not key_ns or not key_name:
        raise ValueError(f"--hash-key-secret must be namespace/name, got {args.hash_key_secret!r}")
    compat = stakater.compat_from(args)
    leader_elect = args.leader_elect or compat.enable_ha
    if leader_elect:
        LeaseConfig(  # validates the three durations together
            namespace="-",
            name="-",
            identity="-",
            lease_duration=args.leader_elect_lease_duration,
            renew_deadline=args.leader_elect_renew_deadline,
            retry_period=args.leader_elect_retry_period,
        )
    return Settings(
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespaces=tuple(dict.fromkeys([*args.namespace, *compat.namespaces])),
        namespace_selector=compat.namespace_selector,
        namespaces_to_ignore=compat.namespaces_to_ignore,
        resource_label_selector=compat.resource_label_selector,
        ignored_resources=compat.ignored_resources,
        ignored_workload_kinds=compat.ignored_workload_kinds,
        notes=compat.notes,
        metrics_bind_address=args.metrics_bind_address,
        health_probe_bind_address=args.health_probe_bind_address,
        log_format=args.log_format,
        log_level=args.log_level,
        auto_reload_all=args.auto_reload_all,
        reload_on=ReloadOn(args.reload_on),
        debounce=args.debounce,
        hash_key_namespace=key_ns,
        hash_key_name=key_name,
        workers=args.workers,
        discovery_interval=args.discovery_interval,
        config_reloader=args.config_reloader,
        leader_elect=leader_elect,
        leader_election_namespace=args.leader_election_namespace,
        leader_election_id=args.leader_election_id,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
        git_url=args.git_url,
        git_ref=args.git_ref,
        git_path=args.git_path,
        sync_interval=args.sync_interval,
        prune=args.prune,
        prune_max_share=args.prune_max_share,
        force_prune=args.force_prune,
        drift=args.drift,
        default_namespace=args.default_namespace,
        state_namespace=args.state_namespace,
        git_token_file=args.git_token_file,
        git_token=os.environ.get("RELOADER_GIT_TOKEN"),
        git_username=args.git_username,
        git_ssh_key_file=args.git_ssh_key_file,
        git_known_hosts_file=args.git_known_hosts_file,
        git_ca_file=args.git_ca_file,
        git_workdir=args.git_workdir,
        git_timeout=args.git_timeout,
        sync_timeout=args.sync_timeout,
        health_timeout=args.health_timeout,
        kustomize_binary=args.kustomize_binary,
        helm_binary=args.helm_binary,
        decryption_key_file=args.decryption_key_file,
        sops_binary=args.sops_binary,
        webhook_bind_address=args.webhook_bind_address,
        webhook_secret=_webhook_secret(args),
        webhook_advertise_address=_webhook_advertise_address(args),
        apply_concurrency=args.apply_concurrency,
        alerts=notifications.alerts_from(args),
        reload_webhook_url=notifications.reload_webhook_from(args),
        metrics_count_by_namespace=notifications.count_by_namespace_from(args),
    )


def _advertise_address(text: str) -> str:
    """``host:port`` another pod can dial (no empty host: "every interface" is no address)."""
    host, sep, port = text.strip().rpartition(":")
    bare_ipv6 = ":" in host and not (host.startswith("[") and host.endswith("]"))
    if not sep or not host.strip("[]") or bare_ipv6 or not port.isdigit() or int(port) == 0:
        raise argparse.ArgumentTypeError(
            f"want host:port, e.g. 10.0.0.7:9292 or [fd00::7]:9292, got {text!r}"
        )
    if int(port) > 65535:
        raise argparse.ArgumentTypeError(f"port out of range in {text!r}")
    return text.strip()


def _webhook_advertise_address(args: argparse.Namespace) -> str | None:
    """The flag, else ``$POD_IP`` (the downward API's ``status.podIP``) with the webhook's
    port; None when either is unknown (then this replica advertises nothing)."""
    if args.webhook_advertise_address:
        return str(args.webhook_advertise_address)
    pod_ip = os.environ.get("POD_IP", "").strip()
    try:
        bind = parse_bind_address(args.webhook_bind_address)
    except ValueError:
        return None  # the server refuses that address when it starts, and says why
    if not pod_ip or bind is None or bind[1] == 0:
        return None
    return f"[{pod_ip}]:{bind[1]}" if ":" in pod_ip else f"{pod_ip}:{bind[1]}"


def _webhook_secret(args: argparse.Namespace) -> str | None:
    if args.webhook_secret_file:
        return Path(args.webhook_secret_file).read_text().strip()
    return os.environ.get("RELOADER_WEBHOOK_SECRET")
