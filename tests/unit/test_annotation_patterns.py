"""Reload-list patterns are RE2: linear time on hostile input, Go's syntax, errors as values."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reloader.core import names
from reloader.core.annotations import NamePattern, compile_name_pattern, parse_policy
from reloader.core.deciding import ObjectState, select
from reloader.core.references import Kind

CM, SECRET = Kind.CONFIGMAP, Kind.SECRET


def _compiled(source: str) -> NamePattern:
    pattern = compile_name_pattern(source)
    assert isinstance(pattern, NamePattern), pattern
    return pattern


@pytest.mark.parametrize("pattern", ["(a+)+b", "(a|a)*b", "(a*)*b", "(a|aa)+b", "(.*a){20}b"])
def test_catastrophic_backtracking_patterns_answer_in_linear_time(pattern: str) -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: pattern})
    assert policy.errors == ()
    started = time.perf_counter()
    listed = policy.listed(CM, "a" * 40 + "c")
    elapsed = time.perf_counter() - started
    assert not listed
    assert elapsed < 0.05, f"{pattern!r} took {elapsed * 1000:.1f} ms"


def test_hostile_pattern_does_not_stall_selection_over_many_objects() -> None:
    policy = parse_policy({names.SECRET_RELOAD: "(a+)+b"})
    objects = {(SECRET, "a" * 250 + str(i)): ObjectState(b"d") for i in range(1000)}
    started = time.perf_counter()
    assert select(policy, set(), objects) == {}
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\1", "backreference"),
        ("a(?=b)", "lookahead"),
        ("(?<!a)b", "lookbehind"),
        ("a(?!b)", "negative lookahead"),
        ("a{1001}", "repetition over Go's limit of 1000"),
        (r"a\Z", "Python-only escape"),
    ],
)
def test_what_go_regexp_refuses_is_an_invalid_annotation(pattern: str, why: str) -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: f"good,{pattern}"})
    assert len(policy.errors) == 1, why
    assert policy.errors[0].startswith(f"annotation {names.CONFIGMAP_RELOAD}:")
    assert repr(pattern) in policy.errors[0]
    assert "not a valid RE2 regular expression" in policy.errors[0]
    assert policy.listed(CM, "good")
    assert policy.active


def test_pattern_too_large_for_the_memory_bound_is_an_error_not_a_stall() -> None:
    policy = parse_policy({names.SECRET_RELOAD: "((((a{100}){100}){100}){100})"})
    assert len(policy.errors) == 1
    assert not policy.active


def test_long_invalid_pattern_is_shortened_in_the_message() -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: "(" * 5000})
    assert len(policy.errors) == 1
    assert len(policy.errors[0]) < 300


def test_go_syntax_that_python_re_lacks_is_accepted() -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: r"\Qa.b\E,[[:digit:]]+,(?i)UP"})
    assert policy.errors == ()
    assert policy.listed(CM, "a.b")
    assert not policy.listed(CM, "axb")
    assert policy.listed(CM, "123")
    assert policy.listed(CM, "up")


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("app", "app", True),
        ("app", "app-2", False),
        ("app-.*", "app-2", True),
        ("a|b", "ab", False),
        ("a|b", "b", True),
        ("^app$", "app", True),
        (".*-config", "web-config", True),
        (".*-config", "web-config-2", False),
    ],
)
def test_matching_stays_anchored_at_both_ends(pattern: str, name: str, expected: bool) -> None:
    assert _compiled(pattern).fullmatch(name) is expected


def test_each_distinct_pattern_is_compiled_once() -> None:
    assert compile_name_pattern("cached-.*") is compile_name_pattern("cached-.*")
    assert compile_name_pattern(r"(x)\1") == compile_name_pattern(r"(x)\1")


def test_patterns_compare_by_source_so_reparsed_policies_are_equal() -> None:
    annotations = {names.CONFIGMAP_RELOAD: "a-.*,b"}
    assert parse_policy(annotations) == parse_policy(dict(annotations))


def test_lone_surrogate_is_an_error_not_an_exception() -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: "a\ud800"})
    assert len(policy.errors) == 1
    assert not _compiled("a.*").fullmatch("a\ud800")


@given(st.text(max_size=40), st.text(max_size=40))
def test_compiling_and_matching_never_raise(source: str, name: str) -> None:
    pattern = compile_name_pattern(source)
    if isinstance(pattern, NamePattern):
        assert pattern.fullmatch(name) in (True, False)
