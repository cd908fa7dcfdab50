"""Reload policy from workload annotations, Stakater semantics (reloader.core.annotations)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reloader.core import names
from reloader.core.annotations import ObjectFlags, parse_object_flags, parse_policy
from reloader.core.references import Kind

CM, SECRET = Kind.CONFIGMAP, Kind.SECRET
BOTH = frozenset({CM, SECRET})

POLICY_KEYS = [
    names.AUTO,
    names.CONFIGMAP_AUTO,
    names.SECRET_AUTO,
    names.CONFIGMAP_RELOAD,
    names.SECRET_RELOAD,
    names.SEARCH,
    names.CONFIGMAP_EXCLUDE,
    names.SECRET_EXCLUDE,
]
BOOL_KEYS = [names.AUTO, names.CONFIGMAP_AUTO, names.SECRET_AUTO, names.SEARCH]


# --- auto ---


def test_no_annotations_is_an_inactive_policy() -> None:
    policy = parse_policy({})
    assert not policy.active
    assert policy.auto == frozenset()
    assert not policy.search
    assert policy.errors == ()


def test_auto_true_covers_both_kinds() -> None:
    policy = parse_policy({names.AUTO: "true"})
    assert policy.auto == BOTH
    assert policy.active


def test_auto_false_is_inactive() -> None:
    policy = parse_policy({names.AUTO: "false"})
    assert policy.auto == frozenset()
    assert not policy.active
    assert policy.errors == ()


@pytest.mark.parametrize("value", ["True", "TRUE", " true ", "tRuE\n"])
def test_bool_values_are_case_and_space_insensitive(value: str) -> None:
    policy = parse_policy({names.AUTO: value})
    assert policy.auto == BOTH
    assert policy.errors == ()


def test_typed_configmap_auto_covers_only_configmaps() -> None:
    assert parse_policy({names.CONFIGMAP_AUTO: "true"}).auto == {CM}


def test_typed_secret_auto_covers_only_secrets() -> None:
    assert parse_policy({names.SECRET_AUTO: "true"}).auto == {SECRET}


def test_typed_auto_false_does_not_narrow_an_explicit_auto_true() -> None:
    # As in Stakater Reloader: auto "true" covers both kinds whatever the typed flags say.
    policy = parse_policy({names.AUTO: "true", names.SECRET_AUTO: "false"})
    assert policy.auto == BOTH


def test_typed_auto_true_applies_even_with_auto_false() -> None:
    # As in Stakater Reloader: the typed flag is its own request.
    policy = parse_policy({names.AUTO: "false", names.CONFIGMAP_AUTO: "true"})
    assert policy.auto == {CM}


# --- reload_all ---


def test_reload_all_turns_auto_on_without_annotations() -> None:
    assert parse_policy({}, reload_all=True).auto == BOTH


def test_auto_false_opts_out_of_reload_all() -> None:
    policy = parse_policy({names.AUTO: "false"}, reload_all=True)
    assert policy.auto == frozenset()
    assert not policy.active


def test_typed_auto_false_opts_one_kind_out_of_reload_all() -> None:
    policy = parse_policy({names.CONFIGMAP_AUTO: "false"}, reload_all=True)
    assert policy.auto == {SECRET}


def test_explicit_list_still_applies_when_auto_false_under_reload_all() -> None:
    policy = parse_policy({names.AUTO: "false", names.CONFIGMAP_RELOAD: "cm"}, reload_all=True)
    assert policy.auto == frozenset()
    assert policy.listed(CM, "cm")
    assert policy.active


def test_malformed_auto_is_treated_as_absent_under_reload_all() -> None:
    policy = parse_policy({names.AUTO: "yes"}, reload_all=True)
    assert policy.auto == BOTH
    assert len(policy.errors) == 1


# --- explicit reload lists ---


def test_reload_list_matches_whole_names_only() -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: "app"})
    assert policy.listed(CM, "app")
    assert not policy.listed(CM, "app-2")
    assert not policy.listed(CM, "my-app")


def test_reload_list_entries_are_regexes() -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: "app-.*"})
    assert policy.listed(CM, "app-2")
    assert not policy.listed(CM, "app")


def test_reload_list_anchors_the_whole_alternation() -> None:
    policy = parse_policy({names.SECRET_RELOAD: "a|b"})
    assert policy.listed(SECRET, "a")
    assert policy.listed(SECRET, "b")
    assert not policy.listed(SECRET, "ab")
    assert not policy.listed(SECRET, "xb")


def test_reload_list_is_comma_separated_and_trimmed() -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: " one , two,,  "})
    assert policy.listed(CM, "one")
    assert policy.listed(CM, "two")
    assert not policy.listed(CM, "")
    assert len(policy.reload[CM]) == 2


def test_reload_lists_are_per_kind() -> None:
    policy = parse_policy({names.SECRET_RELOAD: "x"})
    assert policy.listed(SECRET, "x")
    assert not policy.listed(CM, "x")


def test_reload_list_makes_policy_active_without_auto() -> None:
    policy = parse_policy({names.SECRET_RELOAD: "x"})
    assert policy.active
    assert policy.auto == frozenset()


def test_blank_reload_list_is_inactive() -> None:
    assert not parse_policy({names.CONFIGMAP_RELOAD: " , ,"}).active


def test_invalid_regex_is_reported_and_other_entries_kept() -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: "good,bad[,also-good"})
    assert policy.listed(CM, "good")
    assert policy.listed(CM, "also-good")
    assert len(policy.errors) == 1
    assert names.CONFIGMAP_RELOAD in policy.errors[0]
    assert "bad[" in policy.errors[0]


# --- search and exclude ---


def test_search_true_turns_search_on() -> None:
    policy = parse_policy({names.SEARCH: "true"})
    assert policy.search
    assert policy.active
    assert policy.auto == frozenset()


def test_search_false_is_off() -> None:
    assert not parse_policy({names.SEARCH: "false"}).search


def test_excludes_are_per_kind_exact_names() -> None:
    policy = parse_policy(
        {
            names.AUTO: "true",
            names.CONFIGMAP_EXCLUDE: "skip-me, other",
            names.SECRET_EXCLUDE: "secret-skip",
        }
    )
    assert policy.excluded(CM, "skip-me")
    assert policy.excluded(CM, "other")
    assert not policy.excluded(CM, "skip")
    assert not policy.excluded(CM, "skip-me-too")
    assert not policy.excluded(SECRET, "skip-me")
    assert policy.excluded(SECRET, "secret-skip")


def test_exclude_entries_are_not_regexes() -> None:
    policy = parse_policy({names.CONFIGMAP_EXCLUDE: "a.*"})
    assert policy.excluded(CM, "a.*")
    assert not policy.excluded(CM, "abc")


def test_excludes_alone_do_not_opt_in() -> None:
    assert not parse_policy({names.CONFIGMAP_EXCLUDE: "x"}).active


# --- malformed values ---


@pytest.mark.parametrize("key", BOOL_KEYS)
@pytest.mark.parametrize("value", ["yes", "2", "on", "", "truee"])
def test_malformed_bool_is_reported_naming_the_annotation(key: str, value: str) -> None:
    policy = parse_policy({key: value})
    assert len(policy.errors) == 1
    assert key in policy.errors[0]
    assert repr(value) in policy.errors[0]
    assert not policy.active


def test_every_malformed_annotation_gets_its_own_error() -> None:
    policy = parse_policy(
        {names.AUTO: "yes", names.SEARCH: "no", names.SECRET_RELOAD: "(", names.SECRET_AUTO: "2"}
    )
    assert len(policy.errors) == 4
    for key in (names.AUTO, names.SEARCH, names.SECRET_RELOAD, names.SECRET_AUTO):
        assert any(key in error for error in policy.errors)


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("t", True), ("TRUE", True), ("0", False), ("F", False)]
)
def test_bools_are_read_like_go_parse_bool(value: str, expected: bool) -> None:
    policy = parse_policy({names.AUTO: value})
    assert policy.errors == ()
    assert (policy.auto == BOTH) is expected


def test_unrelated_annotations_are_ignored() -> None:
    policy = parse_policy({"example.com/auto": "yes", "reloader.stakater.com/other": "x"})
    assert policy.errors == ()
    assert not policy.active


@pytest.mark.filterwarnings("ignore::FutureWarning")
@given(st.dictionaries(st.sampled_from(POLICY_KEYS), st.text(max_size=12)), st.booleans())
def test_parse_policy_never_raises_and_errors_name_annotations(
    annotations: dict[str, str], reload_all: bool
) -> None:
    policy = parse_policy(annotations, reload_all=reload_all)
    for error in policy.errors:
        assert any(error.startswith(f"annotation {key}:") for key in annotations)
    for key in BOOL_KEYS:
        value = annotations.get(key)
        valid = value is None or value.strip().lower() in ("true", "t", "1", "false", "f", "0")
        assert valid == (not any(error.startswith(f"annotation {key}:") for error in policy.errors))


# --- object flags ---


def test_object_flags_default_off() -> None:
    assert parse_object_flags({}) == ObjectFlags(ignore=False, match=False)


@pytest.mark.parametrize("value", ["true", "True", " TRUE "])
def test_object_flags_on_for_true_any_case(value: str) -> None:
    flags = parse_object_flags({names.IGNORE: value, names.MATCH: value})
    assert flags == ObjectFlags(ignore=True, match=True)


@pytest.mark.parametrize("value", ["false", "yes", "1", "", "on"])
def test_object_flags_off_for_anything_but_true(value: str) -> None:
    flags = parse_object_flags({names.IGNORE: value, names.MATCH: value})
    assert flags == ObjectFlags(ignore=False, match=False)


def test_object_flags_are_independent() -> None:
    assert parse_object_flags({names.MATCH: "true"}) == ObjectFlags(ignore=False, match=True)
    assert parse_object_flags({names.IGNORE: "true"}) == ObjectFlags(ignore=True, match=False)
