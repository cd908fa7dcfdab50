"""Bind address parsing, controller-runtime style (reloader.serving.http.parse_bind_address)."""

from __future__ import annotations

import pytest

from reloader.serving.http import parse_bind_address


@pytest.mark.parametrize("address", ["0", "", " 0 ", "  "])
def test_zero_or_empty_disables_the_endpoint(address: str) -> None:
    assert parse_bind_address(address) is None


@pytest.mark.parametrize(
    ("address", "bind"),
    [
        (":8080", ("0.0.0.0", 8080)),
        ("127.0.0.1:9090", ("127.0.0.1", 9090)),
        ("localhost:80", ("localhost", 80)),
        ("[::1]:8081", ("::1", 8081)),
        ("[::]:8081", ("::", 8081)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
    ],
)
def test_host_and_port(address: str, bind: tuple[str, int]) -> None:
    assert parse_bind_address(address) == bind


def test_empty_host_means_all_interfaces() -> None:
    assert parse_bind_address(":1234") == ("0.0.0.0", 1234)


def test_port_is_an_int() -> None:
    result = parse_bind_address(":0080")
    assert result == ("0.0.0.0", 80)


@pytest.mark.parametrize(
    "address",
    ["8080", "localhost", "host:", ":http", ":-1", ":80a", "host:8080:", ":8 0"],
)
def test_malformed_addresses_raise_value_error_naming_input(address: str) -> None:
    with pytest.raises(ValueError, match="invalid bind address") as info:
        parse_bind_address(address)
    assert repr(address) in str(info.value)


@pytest.mark.parametrize("address", [":65536", ":99999"])
def test_ports_above_65535_are_rejected(address: str) -> None:
    # Accepting them defers the failure to bind time, as an OverflowError, not a usage error.
    with pytest.raises(ValueError, match="invalid bind address"):
        parse_bind_address(address)
