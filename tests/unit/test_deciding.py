"""Selecting objects, the observed record, and the roll decision (reloader.core.deciding)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reloader.core import names
from reloader.core.annotations import ObjectFlags, Policy, parse_policy
from reloader.core.deciding import (
    Action,
    ObjectKey,
    ObjectState,
    Record,
    changed_objects,
    decide,
    desired_record,
    select,
)
from reloader.core.hashing import ABSENT, Hasher
from reloader.core.references import Kind, Ref

CM, SECRET = Kind.CONFIGMAP, Kind.SECRET
HASHER = Hasher(b"k" * 32)
OTHER_HASHER = Hasher(b"o" * 32)

AUTO = parse_policy({names.AUTO: "true"})
SEARCH = parse_policy({names.SEARCH: "true"})
IGNORED = ObjectFlags(ignore=True)
MATCHED = ObjectFlags(match=True)


def state(digest: bytes, flags: ObjectFlags | None = None) -> ObjectState:
    return ObjectState(digest, flags or ObjectFlags())


def refs(*items: tuple[Kind, str]) -> frozenset[Ref]:
    return frozenset(Ref(kind, name) for kind, name in items)


# --- select ---


def test_inactive_policy_selects_nothing() -> None:
    objects = {(CM, "a"): state(b"1")}
    assert select(Policy(), refs((CM, "a")), objects) == {}


def test_auto_selects_referenced_objects_only() -> None:
    objects = {(CM, "a"): state(b"1"), (SECRET, "s"): state(b"2"), (CM, "other"): state(b"3")}
    chosen = select(AUTO, refs((CM, "a"), (SECRET, "s")), objects)
    assert chosen == {(CM, "a"): b"1", (SECRET, "s"): b"2"}


def test_missing_referenced_object_counts_as_absent() -> None:
    assert select(AUTO, refs((SECRET, "gone")), {}) == {(SECRET, "gone"): ABSENT}


def test_typed_auto_selects_only_its_kind() -> None:
    policy = parse_policy({names.CONFIGMAP_AUTO: "true"})
    objects = {(CM, "a"): state(b"1"), (SECRET, "s"): state(b"2")}
    assert select(policy, refs((CM, "a"), (SECRET, "s")), objects) == {(CM, "a"): b"1"}


def test_ignored_object_never_counts_under_auto() -> None:
    objects = {(CM, "a"): state(b"1", IGNORED)}
    assert select(AUTO, refs((CM, "a")), objects) == {}


def test_ignored_object_never_counts_when_listed() -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: "a"})
    objects = {(CM, "a"): state(b"1", IGNORED)}
    assert select(policy, refs((CM, "a")), objects) == {}
    assert select(policy, frozenset(), objects) == {}


def test_excluded_object_is_left_out_of_auto() -> None:
    policy = parse_policy({names.AUTO: "true", names.CONFIGMAP_EXCLUDE: "a"})
    objects = {(CM, "a"): state(b"1"), (CM, "b"): state(b"2")}
    assert select(policy, refs((CM, "a"), (CM, "b")), objects) == {(CM, "b"): b"2"}


def test_excluded_missing_object_is_not_absent() -> None:
    policy = parse_policy({names.AUTO: "true", names.SECRET_EXCLUDE: "s"})
    assert select(policy, refs((SECRET, "s")), {}) == {}


def test_exclude_wins_over_explicit_list() -> None:
    # As in Stakater Reloader, which checks excludes first.
    policy = parse_policy({names.CONFIGMAP_RELOAD: "a", names.CONFIGMAP_EXCLUDE: "a"})
    objects = {(CM, "a"): state(b"1")}
    assert select(policy, refs((CM, "a")), objects) == {}
    assert select(policy, refs(), objects) == {}


def test_search_selects_referenced_objects_with_match() -> None:
    objects = {(CM, "m"): state(b"1", MATCHED), (CM, "plain"): state(b"2")}
    assert select(SEARCH, refs((CM, "m"), (CM, "plain")), objects) == {(CM, "m"): b"1"}


def test_search_ignores_unreferenced_matching_objects() -> None:
    objects = {(CM, "m"): state(b"1", MATCHED)}
    assert select(SEARCH, frozenset(), objects) == {}


def test_search_does_not_count_missing_referenced_objects() -> None:
    assert select(SEARCH, refs((CM, "gone")), {}) == {}


def test_search_respects_exclude() -> None:
    policy = parse_policy({names.SEARCH: "true", names.CONFIGMAP_EXCLUDE: "m"})
    objects = {(CM, "m"): state(b"1", MATCHED)}
    assert select(policy, refs((CM, "m")), objects) == {}


def test_matched_and_ignored_object_does_not_count() -> None:
    objects = {(CM, "m"): state(b"1", ObjectFlags(ignore=True, match=True))}
    assert select(SEARCH, refs((CM, "m")), objects) == {}


def test_explicit_list_selects_unreferenced_objects_in_namespace() -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: "app-.*"})
    objects = {
        (CM, "app-1"): state(b"1"),
        (CM, "app-2"): state(b"2"),
        (CM, "app"): state(b"3"),
        (SECRET, "app-1"): state(b"4"),
    }
    assert select(policy, frozenset(), objects) == {(CM, "app-1"): b"1", (CM, "app-2"): b"2"}


def test_explicit_list_does_not_select_unlisted_referenced_objects() -> None:
    policy = parse_policy({names.CONFIGMAP_RELOAD: "a"})
    objects = {(CM, "a"): state(b"1"), (CM, "b"): state(b"2")}
    assert select(policy, refs((CM, "b")), objects) == {(CM, "a"): b"1"}


def test_listed_missing_referenced_object_is_absent() -> None:
    policy = parse_policy({names.SECRET_RELOAD: "s"})
    assert select(policy, refs((SECRET, "s")), {}) == {(SECRET, "s"): ABSENT}


def test_listed_missing_unreferenced_object_is_not_selected() -> None:
    policy = parse_policy({names.SECRET_RELOAD: "s"})
    assert select(policy, frozenset(), {}) == {}


# --- Record ---


def test_record_render_is_canonical_json() -> None:
    record = Record(key_id="kid", hash="h", objects={"Secret/b": "2", "ConfigMap/a": "1"})
    rendered = record.render()
    assert rendered == (
        '{"hash":"h","key":"kid","objects":{"ConfigMap/a":"1","Secret/b":"2"},"v":1}'
    )


def test_record_render_ignores_object_insertion_order() -> None:
    first = Record("k", "h", {"a": "1", "b": "2"})
    second = Record("k", "h", {"b": "2", "a": "1"})
    assert first.render() == second.render()


def test_record_parse_reads_rendered_record() -> None:
    record = Record(key_id="kid", hash="h", objects={"ConfigMap/a": "1"})
    assert Record.parse(record.render()) == record


@given(
    st.text(max_size=10),
    st.text(max_size=10),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5),
)
def test_record_render_parse_round_trip(key_id: str, hash_: str, objects: dict[str, str]) -> None:
    record = Record(key_id=key_id, hash=hash_, objects=objects)
    assert Record.parse(record.render()) == record


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        "{",
        "null",
        "42",
        '"string"',
        "[]",
        "{}",
        '{"v":1,"key":"k","hash":"h"}',
        '{"v":1,"key":"k","objects":{}}',
        '{"v":1,"hash":"h","objects":{}}',
        '{"v":2,"key":"k","hash":"h","objects":{}}',
        '{"key":"k","hash":"h","objects":{}}',
        '{"v":1,"key":"k","hash":"h","objects":[]}',
        '{"v":1,"key":"k","hash":"h","objects":"x"}',
        '[{"v":1,"key":"k","hash":"h","objects":{}}]',
    ],
)
def test_record_parse_of_garbage_is_none(raw: str | None) -> None:
    assert Record.parse(raw) is None


@given(st.text())
def test_record_parse_never_raises_on_text(raw: str) -> None:
    parsed = Record.parse(raw)
    assert parsed is None or isinstance(parsed, Record)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(["v", "key", "hash", "objects"]), json_values))
def test_record_parse_never_raises_on_json_shaped_garbage(body: dict[str, object]) -> None:
    parsed = Record.parse(json.dumps(body))
    if parsed is not None:
        assert parsed.objects == body["objects"]


def test_record_parse_of_deeply_nested_json_is_none() -> None:
    # A record is user-editable annotation text; unreadable must mean None, not an exception.
    assert Record.parse("[" * 100_000) is None


# --- desired_record ---


def test_desired_record_uses_the_hasher() -> None:
    chosen: dict[ObjectKey, bytes] = {(CM, "a"): b"1", (SECRET, "s"): b"2"}
    record = desired_record(HASHER, chosen)
    assert record.key_id == HASHER.key_id
    assert record.hash == HASHER.workload_hash(chosen)
    assert record.objects == {
        "ConfigMap/a": HASHER.object_hash(CM, "a", b"1"),
        "Secret/s": HASHER.object_hash(SECRET, "s", b"2"),
    }


def test_desired_record_of_nothing_has_no_objects() -> None:
    record = desired_record(HASHER, {})
    assert record.objects == {}
    assert record.hash == HASHER.workload_hash({})


def test_desired_record_differs_per_key() -> None:
    chosen: dict[ObjectKey, bytes] = {(CM, "a"): b"1"}
    mine, theirs = desired_record(HASHER, chosen), desired_record(OTHER_HASHER, chosen)
    assert mine.key_id != theirs.key_id
    assert mine.hash != theirs.hash


# --- decide ---

DESIRED = desired_record(HASHER, {(CM, "a"): b"new"})
STALE = desired_record(HASHER, {(CM, "a"): b"old"})
OTHER_KEY = desired_record(OTHER_HASHER, {(CM, "a"): b"new"})


def test_nothing_when_template_and_record_are_current() -> None:
    assert decide(DESIRED.hash, DESIRED, DESIRED) is Action.NOTHING


def test_record_on_first_sight_without_template_hash() -> None:
    assert decide(None, None, DESIRED) is Action.RECORD


def test_record_when_template_hash_is_current_but_record_missing() -> None:
    assert decide(DESIRED.hash, None, DESIRED) is Action.RECORD


def test_record_when_template_hash_is_current_but_record_stale() -> None:
    assert decide(DESIRED.hash, STALE, DESIRED) is Action.RECORD


def test_record_not_rekey_when_template_hash_is_current_under_other_key() -> None:
    assert decide(DESIRED.hash, OTHER_KEY, DESIRED) is Action.RECORD


def test_roll_when_template_hash_present_without_record() -> None:
    assert decide("stamped-from-other-content", None, DESIRED) is Action.ROLL


def test_roll_when_content_changed() -> None:
    assert decide(STALE.hash, STALE, DESIRED) is Action.ROLL


def test_roll_when_content_changed_and_template_hash_removed() -> None:
    assert decide(None, STALE, DESIRED) is Action.ROLL


def test_rekey_when_record_was_made_with_another_key() -> None:
    assert decide(OTHER_KEY.hash, OTHER_KEY, DESIRED) is Action.REKEY


def test_rekey_when_other_key_record_and_no_template_hash() -> None:
    assert decide(None, OTHER_KEY, DESIRED) is Action.REKEY


def test_nothing_when_record_matches_but_template_hash_rewritten() -> None:
    assert decide("someone-else", DESIRED, DESIRED) is Action.NOTHING


def test_nothing_when_record_matches_but_template_hash_removed() -> None:
    assert decide(None, DESIRED, DESIRED) is Action.NOTHING


def _apply(action: Action, template: str | None, desired: Record) -> tuple[str | None, Record]:
    if action is Action.ROLL:
        return desired.hash, desired
    return template, desired


templates = st.sampled_from([None, DESIRED.hash, STALE.hash, OTHER_KEY.hash, "foreign"])
records = st.sampled_from([None, DESIRED, STALE, OTHER_KEY])


@given(templates, records)
def test_after_acting_the_decision_is_nothing(
    template: str | None, recorded: Record | None
) -> None:
    action = decide(template, recorded, DESIRED)
    if action is Action.NOTHING:
        return
    new_template, new_record = _apply(action, template, DESIRED)
    parsed = Record.parse(new_record.render())
    assert decide(new_template, parsed, DESIRED) is Action.NOTHING


@given(records)
def test_never_rolls_when_template_already_has_desired_hash(recorded: Record | None) -> None:
    assert decide(DESIRED.hash, recorded, DESIRED) is not Action.ROLL


# --- changed_objects ---


def test_changed_objects_without_record_is_everything_desired() -> None:
    desired = Record("k", "h", {"Secret/b": "2", "ConfigMap/a": "1"})
    assert changed_objects(None, desired) == ["ConfigMap/a", "Secret/b"]


def test_changed_objects_lists_changed_added_and_removed_sorted() -> None:
    before = Record("k", "h1", {"ConfigMap/same": "1", "ConfigMap/edit": "1", "Secret/gone": "1"})
    after = Record("k", "h2", {"ConfigMap/same": "1", "ConfigMap/edit": "2", "Secret/new": "1"})
    assert changed_objects(before, after) == ["ConfigMap/edit", "Secret/gone", "Secret/new"]


def test_changed_objects_of_identical_records_is_empty() -> None:
    assert changed_objects(DESIRED, DESIRED) == []


def test_changed_objects_names_the_changed_object() -> None:
    assert changed_objects(STALE, DESIRED) == ["ConfigMap/a"]
