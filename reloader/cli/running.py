"""``reloader run``: serve probes and metrics, run the engines until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import sys
from pathlib import Path

from reloader import __version__
from reloader.core import names
from reloader.core.settings import Settings
from reloader.gitops import state as gitops_state
from reloader.gitops.forwarding import Forwarder
from reloader.gitops.rendering import RenderTools
from reloader.gitops.source import Credentials
from reloader.gitops.syncing import Syncer, SyncSettings
from reloader.gitops.webhook import WebhookLimits, receiver_url, webhook_app
from reloader.kube import hashkey
from reloader.kube.clients import connect, load_configuration
from reloader.kube.leasing import LeaderElector, LeadershipLost, LeaseConfig
from reloader.kube.rest import ApiError
from reloader.reloading.controller import Controller
from reloader.serving.http import Servers, health_app, metrics_app
from reloader.telemetry import logging as logs


def sync_settings(settings: Settings) -> SyncSettings:
    assert settings.git_url is not None
    return SyncSettings(
        url=settings.git_url,
        ref=settings.git_ref,
        path=settings.git_path,
        interval=settings.sync_interval,
        prune=settings.prune,
        prune_max_share=settings.prune_max_share,
        force_prune=settings.force_prune,
        drift="detect" if settings.drift == "detect" else "correct",
        default_namespace=settings.default_namespace,
        state_namespace=settings.state_namespace,
        concurrency=settings.apply_concurrency,
        workdir=Path(settings.git_workdir),
        git_timeout=settings.git_timeout,
        sync_timeout=settings.sync_timeout,
        health_timeout=settings.health_timeout,
        render=RenderTools(
            kustomize=settings.kustomize_binary,
            helm=settings.helm_binary,
            sops=settings.sops_binary,
            decryption_key_file=settings.decryption_key_file,
        ),
        credentials=Credentials(
            token=settings.git_token,
            token_file=settings.git_token_file,
            username=settings.git_username,
            ssh_key_file=settings.git_ssh_key_file,
            known_hosts_file=settings.git_known_hosts_file,
            ca_file=settings.git_ca_file,
        ),
    )


def _print_tasks() -> None:
    """``kill -USR2``: every asyncio task's stack on stderr, for a process that will not stop
    or has stopped making progress (``kill -USR1`` prints every thread's)."""
    for task in asyncio.all_tasks():
        print(f"--- {task!r}", file=sys.stderr)
        task.print_stack(file=sys.stderr)
    sys.stderr.flush()


def _advertised(settings: Settings) -> dict[str, str | None]:
    """What the leader publishes on its Lease so that standbys forward webhook deliveries to
    it (``gitops.forwarding``); without an address of its own, it clears a predecessor's."""
    if settings.webhook_advertise_address is None:
        logs.get_logger("main").warning(
            "this replica's webhook is not advertised: while it leads, deliveries to the "
            "other replicas are refused (503) and wait for the next poll",
            next_step="set --webhook-advertise-address, or POD_IP from the downward API",
        )
        return {names.WEBHOOK_URL: None}
    return {names.WEBHOOK_URL: receiver_url(settings.webhook_advertise_address)}


def _filters(settings: Settings) -> dict[str, object]:
    """The filters in force, for the start line (only those set)."""
    given = {
        "namespaces_to_ignore": list(settings.namespaces_to_ignore),
        "resource_label_selector": settings.resource_label_selector,
        "resources_to_ignore": sorted(k.value for k in settings.ignored_resources),
        "ignored_workload_kinds": sorted(settings.ignored_workload_kinds),
    }
    return {name: value for name, value in given.items() if value}


def _log_started(settings: Settings) -> None:
    """The start line, then what reloader does where a Stakater Reloader flag asked for
    something else."""
    log = logs.get_logger("main")
    log.info(
        "started",
        version=__version__,
        namespaces=list(settings.namespaces) or None,
        namespace_selector=settings.namespace_selector,
        debounce_s=settings.debounce,
        git_url=settings.git_url,
        git_ref=settings.git_ref if settings.git_url else None,
        **_filters(settings),
    )
    for note in settings.notes:
        log.info("Stakater Reloader flag", note=note)


async def run_controller(settings: Settings) -> int:
    """Serve probes and metrics and run the controller until SIGTERM or SIGINT."""
    log = logs.get_logger("main")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR2, _print_tasks)

    configuration = await load_configuration(settings.kubeconfig, settings.context)
    servers = Servers()
    async with connect(configuration) as rest:
        try:
            if settings.git_url:  # the loop creates its state namespace; the key may live there
                await gitops_state.ensure_namespace(rest, settings.state_namespace)
            hasher = await hashkey.load_or_create(
                rest, settings.hash_key_namespace, settings.hash_key_name
            )
        except (ApiError, RuntimeError, OSError) as exc:
            log.error(
                "cannot load the hash key",
                secret=f"{settings.hash_key_namespace}/{settings.hash_key_name}",
                error=str(exc),
                next_step="create its namespace, or point --hash-key-secret where reloader "
                "may create a Secret",
            )
            return 1
        controller = Controller(rest=rest, settings=settings, hasher=hasher)
        hook = bool(settings.git_url and settings.webhook_secret) and (
            settings.webhook_bind_address.strip() not in ("", "0")
        )
        elector = (
            LeaderElector(
                rest,
                LeaseConfig(
                    namespace=settings.leader_election_namespace,
                    name=settings.leader_election_id,
                    identity=f"{socket.gethostname()}_{secrets.token_hex(4)}",
                    lease_duration=settings.lease_duration,
                    renew_deadline=settings.renew_deadline,
                    retry_period=settings.retry_period,
                ),
                annotations=_advertised(settings) if hook else None,
            )
            if settings.leader_elect
            else None
        )

        syncer = (
            Syncer(
                rest=rest,
                settings=sync_settings(settings),
                hasher=hasher,
                reload_all=settings.auto_reload_all,
                reload_on=settings.reload_on,
            )
            if settings.git_url
            else None
        )

        def ready() -> bool:
            # A standby is ready: waiting is its job, and requiring the lease would stall
            # every rolling update of reloader itself.
            if elector is not None and not elector.leading:
                return True
            reloading = controller.ready or not settings.config_reloader
            return reloading and (syncer is None or syncer.synced.is_set())

        async def lead() -> None:
            async with asyncio.TaskGroup() as group:
                if settings.config_reloader:
                    group.create_task(controller.run())
                if syncer is not None:
                    group.create_task(syncer.run())

        try:
            await servers.start(health_app(ready), settings.health_probe_bind_address)
            await servers.start(metrics_app(), settings.metrics_bind_address)
            if syncer is not None and settings.webhook_secret:
                hook_limits = WebhookLimits()
                await servers.start(
                    webhook_app(
                        settings.webhook_secret.encode(),
                        syncer.trigger,
                        limits=hook_limits,
                        forwarder=None if elector is None else Forwarder(elector),
                    ),
                    settings.webhook_bind_address,
                    limits=hook_limits.connections,
                )
            _log_started(settings)
            task = asyncio.create_task(lead() if elector is None else elector.run(lead))
            waiter = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            task.cancel()
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if task in done and isinstance(task.exception(), LeadershipLost):
                log.error(
                    "leadership lost; exiting so that a fresh process can stand by",
                    error=str(task.exception()),
                )
                return 1
            if task in done and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
            log.info("stopped")
            return 0
        finally:
            await servers.close()
