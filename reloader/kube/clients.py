"""The one place that builds API clients, from a kubeconfig or the in-cluster service account."""

from __future__ import annotations

import ipaddress
import os
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration

from reloader.kube.rest import Rest

IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def _in_cluster() -> bool:
    return os.path.exists(IN_CLUSTER_TOKEN)


async def load_configuration(kubeconfig: str | None, context: str | None = None) -> Configuration:
    """Kubeconfig if one is named, else in-cluster config inside a pod, else ~/.kube/config."""
    configuration = Configuration()
    if kubeconfig is None and _in_cluster():
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    return configuration


def environment_proxy(server: str) -> str | None:
    """The proxy that HTTPS_PROXY/HTTP_PROXY and NO_PROXY name for ``server``, read the way
    client-go reads them: loopback addresses are never proxied."""
    url = urlsplit(server)
    host = url.hostname
    if not host or host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a name, not an address
    if urllib.request.proxy_bypass(host):  # NO_PROXY
        return None
    return urllib.request.getproxies_environment().get(url.scheme)


def _read_environment_once(api: ApiClient) -> None:
    """kubernetes_asyncio opens its session with ``trust_env``, which makes aiohttp look up
    netrc and the proxy variables in a worker thread on every request: half of this
    process's CPU when a sync sends a thousand requests. Read the proxy once instead, and
    keep the library's connector (its TLS context and pool)."""
    rest_client = api.rest_client
    shared = rest_client.pool_manager
    rest_client.pool_manager = aiohttp.ClientSession(
        connector=shared.connector,
        trust_env=False,
        read_bufsize=2**21,  # as the library's: one watch event can hold a 1.5 MiB object
    )
    shared.detach()
    proxy = environment_proxy(api.configuration.host or "")
    if proxy and not rest_client.proxy:
        rest_client.proxy = proxy


@asynccontextmanager
async def connect(configuration: Configuration) -> AsyncIterator[Rest]:
    """An authenticated JSON client; its connections are closed on exit.

    Its pool has no connection limit (the library's is 100): over HTTP/1.1 every watch holds
    a connection for good, six per watched namespace, so a limit would leave a reloader
    scoped to 17 namespaces with requests, lease renewals included, waiting forever for one.
    Concurrency is bounded where requests are made (workers, ``--apply-concurrency``).
    """
    configuration.connection_pool_maxsize = 0  # aiohttp: 0 is no limit
    api = ApiClient(configuration=configuration)
    _read_environment_once(api)
    try:
        yield Rest(api)
    finally:
        await api.close()
