"""How API clients read the environment: once, and like client-go."""

from __future__ import annotations

import pytest
from kubernetes_asyncio.client import Configuration

from reloader.kube.clients import connect, environment_proxy


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.corp,.svc")


@pytest.mark.usefixtures("proxied")
def test_the_environment_proxy_applies_to_remote_servers() -> None:
    assert environment_proxy("https://api.example.com:6443") == "http://proxy.corp:3128"


@pytest.mark.usefixtures("proxied")
@pytest.mark.parametrize(
    "server",
    [
        "https://127.0.0.1:6443",
        "https://[::1]:6443",
        "https://localhost:6443",
        "https://internal.corp",
        "https://kubernetes.default.svc",
    ],
)
def test_loopback_and_no_proxy_hosts_are_not_proxied(server: str) -> None:
    assert environment_proxy(server) is None


def test_no_proxy_without_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert environment_proxy("https://api.example.com") is None


@pytest.mark.usefixtures("proxied")
async def test_a_client_looks_nothing_up_per_request_but_keeps_the_proxy() -> None:
    configuration = Configuration(host="https://api.example.com:6443")
    async with connect(configuration) as rest:
        rest_client = rest.api.rest_client
        assert rest_client.pool_manager.trust_env is False
        assert rest_client.proxy == "http://proxy.corp:3128"
        connector = rest_client.pool_manager.connector
        assert connector is not None
        assert not connector.closed
    assert rest_client.pool_manager.closed


@pytest.mark.usefixtures("proxied")
async def test_a_proxy_from_the_kubeconfig_wins_over_the_environment() -> None:
    configuration = Configuration(host="https://api.example.com:6443")
    configuration.proxy = "http://kubeconfig.proxy:8080"
    async with connect(configuration) as rest:
        assert rest.api.rest_client.proxy == "http://kubeconfig.proxy:8080"
