"""The one place that builds API clients, from a kubeconfig or the in-cluster service account."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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


@asynccontextmanager
async def connect(configuration: Configuration) -> AsyncIterator[Rest]:
    """An authenticated JSON client; its connections are closed on exit."""
    api = ApiClient(configuration=configuration)
    try:
        yield Rest(api)
    finally:
        await api.close()
