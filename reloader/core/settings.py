"""The one settings object, built from flags and environment variables by the CLI.

Passed down explicitly; no other module reads the environment, so what a component does is
visible from how it was constructed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reloader.core.annotations import ReloadOn
from reloader.core.references import Kind

LogFormat = Literal["json", "console"]


@dataclass(frozen=True)
class Alerts:
    """Alerts on reload, as Stakater Reloader's ``ALERT_*`` variables describe them.

    The URLs are credentials (whoever has a chat webhook URL can post to the channel): they
    are kept out of ``repr`` so that logging the settings cannot leak them."""

    on_reload: bool = False
    sink: str = "raw"
    """slack, teams, gchat or raw (checked by the CLI against ``alerting.messages.Sink``)."""
    webhook_url: str | None = field(default=None, repr=False)
    webhook_proxy: str | None = field(default=None, repr=False)
    additional_info: str = ""

    def __post_init__(self) -> None:
        if self.on_reload and not self.webhook_url:
            raise ValueError(
                "alerts on reload need a webhook URL: set ALERT_WEBHOOK_URL or "
                "--alert-webhook-url-file"
            )


@dataclass(frozen=True)
class Settings:
    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    """Watch only these namespaces; empty means all (or those the selector picks)."""
    namespace_selector: str | None = None
    """Act only in namespaces whose labels match (with ``namespaces``: in both)."""
    namespaces_to_ignore: tuple[str, ...] = ()
    """Never watched: the API server does not even send their objects."""
    resource_label_selector: str | None = None
    """Only ConfigMaps and Secrets whose labels match are watched, and so count."""
    ignored_resources: frozenset[Kind] = frozenset()
    """Kinds not watched at all: references to them never count and never hold a workload."""
    ignored_workload_kinds: frozenset[str] = frozenset()
    """Workload kinds not watched, so never reloaded."""
    notes: tuple[str, ...] = ()
    """What Stakater Reloader flags given asked for and what reloader does; logged at start."""
    metrics_bind_address: str = ":8080"
    health_probe_bind_address: str = ":8081"
    log_format: LogFormat = "json"
    log_level: str = "info"
    auto_reload_all: bool = False
    """Reload every workload on its referenced objects unless it says ``auto: "false"``."""
    reload_on: ReloadOn = ReloadOn.KEYS
    """Default of ``reloader.dev/reload-on``: only the keys read by key count, or whole objects."""
    debounce: float = 0.1
    """Quiet time after the last change of a workload's objects before it rolls."""
    hash_key_namespace: str = "reloader"
    hash_key_name: str = "reloader-hash-key"
    workers: int = 8
    discovery_interval: float = 30.0
    """How often to ask whether the kinds a CRD brings (Argo Rollouts) are served."""
    watch_seconds: int = 300
    leader_elect: bool = False
    """Act only while holding the Lease ``leader_election_namespace/leader_election_id``."""
    leader_election_namespace: str = "reloader"
    leader_election_id: str = "reloader-leader"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    config_reloader: bool = True
    """Run the config reloader; off for a process that should only run the GitOps loop."""
    git_url: str | None = None
    """Also run the GitOps loop on this repository (None: the reloader only)."""
    git_ref: str = "main"
    git_path: str = "."
    sync_interval: float = 30.0
    prune: bool = False
    prune_max_share: float = 0.5
    force_prune: bool = False
    drift: str = "correct"
    default_namespace: str = "default"
    state_namespace: str = "reloader"
    git_token_file: str | None = None
    git_token: str | None = None
    git_username: str | None = None
    git_ssh_key_file: str | None = None
    git_known_hosts_file: str | None = None
    git_ca_file: str | None = None
    git_workdir: str = "/tmp/reloader-gitops"
    git_timeout: float = 60.0
    sync_timeout: float = 600.0
    health_timeout: float = 120.0
    """How long a fresh revision may take to become healthy (0: not checked)."""
    """Deadline of each git command; git and all it started are killed when it passes."""
    kustomize_binary: str = "kustomize"
    """Renders a git path holding a kustomization (a bare name is looked up on PATH)."""
    helm_binary: str = "helm"
    """Inflates a kustomization's ``helmCharts:``."""
    decryption_key_file: str | None = None
    """age identities that decrypt SOPS-encrypted objects; None: such an object is refused."""
    sops_binary: str = "sops"
    webhook_bind_address: str = "0"
    webhook_secret: str | None = None
    webhook_advertise_address: str | None = None
    """host:port where other replicas reach this one's webhook; None: unknown, not advertised."""
    apply_concurrency: int = 32
    alerts: Alerts = field(default_factory=Alerts)
    reload_webhook_url: str | None = field(default=None, repr=False)
    """``--webhook-url``: POST each change here instead of rolling the workload."""
    metrics_count_by_namespace: bool = False
    """Also export ``reloader_reload_executed_total_by_namespace`` (one series a namespace)."""

    def __post_init__(self) -> None:
        if self.namespaces and set(self.namespaces) <= set(self.namespaces_to_ignore):
            raise ValueError("--namespaces-to-ignore leaves none of --namespace to watch")
        if len(self.ignored_resources) > 1:
            raise ValueError("--resources-to-ignore takes configmaps or secrets, not both")
        if self.debounce < 0:
            raise ValueError("--debounce must not be negative")
        if self.workers < 1:
            raise ValueError("--workers must be at least 1")
        if not self.discovery_interval > 0:
            raise ValueError("--discovery-interval must be more than zero")
        if not self.config_reloader and not self.git_url:
            raise ValueError("--config-reloader=false leaves nothing to run without --git-url")
        if not self.git_timeout > 0:
            raise ValueError(f"--git-timeout must be more than zero, got {self.git_timeout!r}")
        if self.drift not in ("correct", "detect"):
            raise ValueError("--drift must be correct or detect")
        if not 0 < self.prune_max_share <= 1:
            raise ValueError("--prune-max-share must be in (0, 1]")
        if self.webhook_bind_address.strip() not in ("", "0") and not self.webhook_secret:
            raise ValueError(
                "--webhook-bind-address needs a secret: set RELOADER_WEBHOOK_SECRET "
                "or --webhook-secret-file"
            )
