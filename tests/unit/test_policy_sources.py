"""Annotations on the pod template, reload-on and pause-period (reloader.core.annotations)."""

from __future__ import annotations

import pytest

from reloader.core import names
from reloader.core.annotations import ON_TEMPLATE, ReloadOn, parse_policy
from reloader.core.references import Kind

CM, SECRET = Kind.CONFIGMAP, Kind.SECRET
BOTH = frozenset({CM, SECRET})


# --- where annotations are read ---


def test_opt_in_on_the_pod_template_alone_counts() -> None:
    policy = parse_policy({}, template_annotations={names.AUTO: "true"})
    assert policy.auto == BOTH


def test_the_workload_wins_over_the_pod_template() -> None:
    policy = parse_policy({names.AUTO: "false"}, template_annotations={names.AUTO: "true"})
    assert not policy.active


def test_opt_in_annotations_are_read_from_one_place_as_a_whole() -> None:
    """Any opt-in annotation on the workload hides every opt-in one on the template."""
    policy = parse_policy(
        {names.SECRET_RELOAD: "s"},
        template_annotations={names.CONFIGMAP_AUTO: "true", names.SEARCH: "true"},
    )
    assert policy.auto == frozenset()
    assert not policy.search
    assert policy.listed(SECRET, "s")


def test_other_annotations_are_read_by_name() -> None:
    policy = parse_policy(
        {names.AUTO: "true", names.PAUSE_PERIOD: "1m"},
        template_annotations={
            names.CONFIGMAP_EXCLUDE: "skip",
            names.PAUSE_PERIOD: "5m",
            names.RELOAD_ON: "object",
        },
    )
    assert policy.excluded(CM, "skip")
    assert policy.pause_period == 60.0
    assert policy.reload_on is ReloadOn.OBJECT


def test_an_error_says_the_value_came_from_the_pod_template() -> None:
    policy = parse_policy({}, template_annotations={names.AUTO: "yes"})
    assert policy.errors == (
        f'annotation {names.AUTO}{ON_TEMPLATE}: want "true" or "false", got \'yes\'',
    )
    workload = parse_policy({names.AUTO: "yes"})
    assert workload.errors[0].startswith(f"annotation {names.AUTO}: ")


def test_an_invalid_pattern_on_the_template_is_reported_there() -> None:
    policy = parse_policy({}, template_annotations={names.CONFIGMAP_RELOAD: "a,("})
    assert len(policy.errors) == 1
    assert policy.errors[0].startswith(f"annotation {names.CONFIGMAP_RELOAD}{ON_TEMPLATE}:")
    assert policy.listed(CM, "a")


# --- reload-on ---


def test_keys_is_the_default() -> None:
    assert parse_policy({}).reload_on is ReloadOn.KEYS


def test_the_controller_default_applies_unless_the_workload_says() -> None:
    assert parse_policy({}, reload_on=ReloadOn.OBJECT).reload_on is ReloadOn.OBJECT
    policy = parse_policy({names.RELOAD_ON: " Keys "}, reload_on=ReloadOn.OBJECT)
    assert policy.reload_on is ReloadOn.KEYS


def test_a_malformed_reload_on_keeps_the_default_and_is_reported() -> None:
    policy = parse_policy({names.RELOAD_ON: "bytes"}, reload_on=ReloadOn.OBJECT)
    assert policy.reload_on is ReloadOn.OBJECT
    assert policy.errors == (
        f'annotation {names.RELOAD_ON}: want "keys" or "object", got \'bytes\'',
    )


# --- pause-period ---


@pytest.mark.parametrize(
    ("raw", "seconds"), [("5m", 300.0), ("1h30m", 5400.0), ("750ms", 0.75), ("90", 90.0)]
)
def test_pause_period_is_a_go_duration(raw: str, seconds: float) -> None:
    policy = parse_policy({names.AUTO: "true", names.PAUSE_PERIOD: raw})
    assert policy.pause_period == seconds
    assert policy.errors == ()


def test_a_zero_pause_period_is_none() -> None:
    assert parse_policy({names.PAUSE_PERIOD: "0s"}).pause_period is None


@pytest.mark.parametrize("raw", ["", "5 minutes", "-5m", "5d", "inf", "1e400"])
def test_a_malformed_pause_period_is_ignored_and_reported(raw: str) -> None:
    policy = parse_policy({names.AUTO: "true", names.PAUSE_PERIOD: raw})
    assert policy.pause_period is None
    assert len(policy.errors) == 1
    assert policy.errors[0].startswith(f"annotation {names.PAUSE_PERIOD}: ")
    assert policy.active
