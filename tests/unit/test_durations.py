"""Go-style duration parsing (reloader.core.durations.parse_duration)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reloader.core.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("30", 30.0),
        ("0.25", 0.25),
        (" 5 ", 5.0),
        ("250ms", 0.25),
        ("30s", 30.0),
        ("1.5s", 1.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1h2m3s", 3723.0),
        ("1s500ms", 1.5),
        ("0s", 0.0),
        ("\t100ms\n", 0.1),
    ],
)
def test_valid_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_ms_is_not_read_as_minutes() -> None:
    assert parse_duration("5ms") == pytest.approx(0.005)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "s", "ms", "10x", "1 s", "s10", "1m 30s", "1.s", ".5s", "-1s", "10S", "1d", "1m30"],
)
def test_invalid_durations_raise_value_error_naming_input(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("text", ["nan", "inf", "Infinity"])
def test_non_finite_numbers_are_not_durations(text: str) -> None:
    # A debounce of "inf" would make every change due never; "nan" passes `debounce < 0`.
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@given(
    st.integers(0, 99),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999),
)
def test_composed_units_add_up(hours: int, minutes: int, secs: int, millis: int) -> None:
    text = f"{hours}h{minutes}m{secs}s{millis}ms"
    expected = hours * 3600 + minutes * 60 + secs + millis / 1000
    assert parse_duration(text) == pytest.approx(expected)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_bare_numbers_are_seconds(value: float) -> None:
    assert parse_duration(repr(value)) == value


@given(st.text(max_size=12))
def test_arbitrary_text_raises_nothing_but_value_error(text: str) -> None:
    error: ValueError | None = None
    try:
        result = parse_duration(text)
    except ValueError as exc:
        error = exc
    if error is None:
        assert isinstance(result, float)
    else:
        assert repr(text) in str(error)
