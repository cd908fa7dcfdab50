"""Selecting objects, the observed record, and the roll decision (reloader.core.deciding)."""

from __future__ import annotations

import json
from dataclasses import replace

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
    paused_until,
    replay,
    select,
    to_write,
    unmet,
)
from reloader.core.hashing import ABSENT, Hasher, content_digest, fingerprint
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


# --- key-level views ---

KEYS_A = frozenset({"a"})


def cm_state(data: dict[str, str], flags: ObjectFlags | None = None) -> ObjectState:
    digest, packed = fingerprint(CM, {"data": data})
    return ObjectState(digest, flags or ObjectFlags(), packed)


def key_ref(name: str, *keys: str, optional: bool = False) -> Ref:
    required = frozenset() if optional else frozenset(keys)
    return Ref(CM, name, optional, frozenset(keys), required)


OBJECT_MODE = parse_policy({names.AUTO: "true", names.RELOAD_ON: "object"})


def test_a_change_of_another_key_changes_nothing_seen() -> None:
    ref = frozenset({key_ref("cm", "a")})
    before = select(AUTO, ref, {(CM, "cm"): cm_state({"a": "1", "b": "1"})})
    after = select(AUTO, ref, {(CM, "cm"): cm_state({"a": "1", "b": "2"})})
    assert before == after
    assert before.by_key == {(CM, "cm"): KEYS_A}


def test_a_change_of_the_key_read_is_a_change() -> None:
    ref = frozenset({key_ref("cm", "a")})
    before = select(AUTO, ref, {(CM, "cm"): cm_state({"a": "1"})})
    after = select(AUTO, ref, {(CM, "cm"): cm_state({"a": "2"})})
    assert before != after


def test_a_key_appearing_or_disappearing_is_a_change() -> None:
    ref = frozenset({key_ref("cm", "a", optional=True)})
    without = select(AUTO, ref, {(CM, "cm"): cm_state({"b": "1"})})
    with_key = select(AUTO, ref, {(CM, "cm"): cm_state({"a": "", "b": "1"})})
    assert without != with_key


def test_a_missing_object_read_by_key_is_all_keys_absent() -> None:
    ref = frozenset({key_ref("cm", "a", optional=True)})
    gone = select(AUTO, ref, {})
    assert gone == select(AUTO, ref, {(CM, "cm"): cm_state({"other": "1"})})
    assert gone != select(AUTO, ref, {(CM, "cm"): cm_state({"a": "1"})})


def test_object_mode_sees_every_key() -> None:
    ref = frozenset({key_ref("cm", "a")})
    before = select(OBJECT_MODE, ref, {(CM, "cm"): cm_state({"a": "1", "b": "1"})})
    after = select(OBJECT_MODE, ref, {(CM, "cm"): cm_state({"a": "1", "b": "2"})})
    assert before != after
    assert before.by_key == {}


def test_state_without_key_digests_is_seen_whole() -> None:
    ref = frozenset({key_ref("cm", "a")})
    chosen = select(AUTO, ref, {(CM, "cm"): state(b"whole")})
    assert chosen == {(CM, "cm"): b"whole"}
    assert chosen.by_key == {}


def test_whole_refs_give_the_digest_of_the_first_release() -> None:
    """The record of a workload seen whole is byte for byte what the first release wrote."""
    data = {"a": "1", "b": "2"}
    chosen = select(AUTO, refs((CM, "cm")), {(CM, "cm"): cm_state(data)})
    old = desired_record(HASHER, {(CM, "cm"): content_digest(CM, {"data": data})})
    assert desired_record(HASHER, chosen).render() == old.render()


def test_the_record_names_the_keys_seen() -> None:
    ref = frozenset({key_ref("cm", "b", "a")})
    record = desired_record(HASHER, select(AUTO, ref, {(CM, "cm"): cm_state({"a": "1"})}))
    assert record.by_key == {"ConfigMap/cm": ("a", "b")}
    assert json.loads(record.render())["keys"] == {"ConfigMap/cm": ["a", "b"]}
    assert Record.parse(record.render()) == record


# --- unmet: what new pods would lack ---


def test_unmet_names_missing_required_objects_and_keys() -> None:
    wanted = frozenset({key_ref("cm", "a", "b"), Ref(SECRET, "s"), Ref(SECRET, "opt", True)})
    objects = {(CM, "cm"): cm_state({"a": "1"})}
    chosen = select(AUTO, wanted, objects)
    assert unmet(wanted, chosen, objects) == ["ConfigMap/cm key b", "Secret/s"]


def test_optional_keys_and_uncounted_objects_are_not_unmet() -> None:
    wanted = frozenset({key_ref("cm", "a", optional=True), Ref(SECRET, "s")})
    objects = {(CM, "cm"): cm_state({})}
    chosen = select(parse_policy({names.CONFIGMAP_AUTO: "true"}), wanted, objects)
    assert unmet(wanted, chosen, objects) == []


def test_a_required_key_is_unmet_even_when_the_object_is_seen_whole() -> None:
    wanted = frozenset({Ref(CM, "cm", keys=None, required_keys=KEYS_A)})
    objects = {(CM, "cm"): cm_state({"b": "1"})}
    assert unmet(wanted, select(AUTO, wanted, objects), objects) == ["ConfigMap/cm key a"]


# --- replay: a changed view is re-recorded, changed content rolls ---


def _decide_on(
    recorded: Record, policy: Policy, wanted: frozenset[Ref], objects: dict[ObjectKey, ObjectState]
) -> Action:
    desired = desired_record(HASHER, select(policy, wanted, objects))
    return decide(
        recorded.hash,
        recorded,
        desired,
        replayed=lambda record: replay(HASHER, record, objects),
    )


def test_a_record_of_the_first_release_is_re_recorded_not_rolled() -> None:
    objects = {(CM, "cm"): cm_state({"a": "1", "b": "1"})}
    old = desired_record(HASHER, {(CM, "cm"): objects[(CM, "cm")].digest})  # whole, no keys
    assert _decide_on(old, AUTO, frozenset({key_ref("cm", "a")}), objects) is Action.RECORD


def test_a_record_of_the_first_release_rolls_when_the_content_changed_meanwhile() -> None:
    old = desired_record(HASHER, {(CM, "cm"): cm_state({"a": "1", "b": "1"}).digest})
    objects = {(CM, "cm"): cm_state({"a": "2", "b": "1"})}
    assert _decide_on(old, AUTO, frozenset({key_ref("cm", "a")}), objects) is Action.ROLL


def test_switching_between_keys_and_object_rolls_nothing() -> None:
    wanted = frozenset({key_ref("cm", "a")})
    objects = {(CM, "cm"): cm_state({"a": "1", "b": "1"})}
    by_key = desired_record(HASHER, select(AUTO, wanted, objects))
    whole = desired_record(HASHER, select(OBJECT_MODE, wanted, objects))
    assert by_key.hash != whole.hash
    assert _decide_on(by_key, OBJECT_MODE, wanted, objects) is Action.RECORD
    assert _decide_on(whole, AUTO, wanted, objects) is Action.RECORD


def test_a_template_edit_adding_a_reference_rolls_nothing() -> None:
    objects = {(CM, "a"): cm_state({"x": "1"}), (SECRET, "s"): state(b"s")}
    before = desired_record(HASHER, select(AUTO, refs((CM, "a")), objects))
    assert _decide_on(before, AUTO, refs((CM, "a"), (SECRET, "s")), objects) is Action.RECORD


def test_a_changed_key_rolls_even_when_the_view_changed_too() -> None:
    wanted = frozenset({key_ref("cm", "a")})
    before = desired_record(HASHER, select(AUTO, wanted, {(CM, "cm"): cm_state({"a": "1"})}))
    objects = {(CM, "cm"): cm_state({"a": "2"})}
    assert _decide_on(before, AUTO, frozenset({key_ref("cm", "a", "b")}), objects) is Action.ROLL


def test_a_change_of_an_unread_key_is_nothing_to_do() -> None:
    wanted = frozenset({key_ref("cm", "a")})
    before = desired_record(HASHER, select(AUTO, wanted, {(CM, "cm"): cm_state({"a": "1"})}))
    objects = {(CM, "cm"): cm_state({"a": "1", "b": "9"})}
    assert _decide_on(before, AUTO, wanted, objects) is Action.NOTHING


def test_replay_cannot_tell_an_unknown_kind() -> None:
    record = Record(HASHER.key_id, "h", {"Widget/x": "1"})
    assert replay(HASHER, record, {}) is None


def test_replay_cannot_tell_keys_without_key_digests() -> None:
    record = Record(HASHER.key_id, "h", {"ConfigMap/cm": "1"}, by_key={"ConfigMap/cm": ("a",)})
    assert replay(HASHER, record, {(CM, "cm"): state(b"whole")}) is None


@pytest.mark.parametrize(
    "keys",
    [[1], "a", {"a": 1}, [["a"]]],
)
def test_a_record_with_malformed_keys_is_unreadable(keys: object) -> None:
    body = {"v": 1, "key": "k", "hash": "h", "objects": {}, "keys": {"ConfigMap/a": keys}}
    assert Record.parse(json.dumps(body)) is None


# --- pause period ---

NOW = 1_000_000.0


def rolled(at: int | None) -> Record:
    return replace(DESIRED, rolled_at=at)


def test_no_pause_without_a_period_or_a_recorded_roll() -> None:
    assert paused_until(rolled(int(NOW)), None, NOW) is None
    assert paused_until(rolled(None), 60.0, NOW) is None
    assert paused_until(None, 60.0, NOW) is None


def test_pause_runs_until_the_period_after_the_last_roll() -> None:
    assert paused_until(rolled(int(NOW) - 10), 60.0, NOW) == NOW + 50
    assert paused_until(rolled(int(NOW) - 60), 60.0, NOW) is None
    assert paused_until(rolled(int(NOW) - 61), 60.0, NOW) is None


def test_a_roll_time_in_the_future_holds_at_most_one_period() -> None:
    assert paused_until(rolled(int(NOW) + 10_000), 60.0, NOW) == NOW + 60


def test_the_roll_time_is_not_compared() -> None:
    assert rolled(1) == rolled(2) == DESIRED
    assert decide(DESIRED.hash, rolled(5), DESIRED) is Action.NOTHING


def test_a_roll_under_a_pause_period_records_its_time() -> None:
    written = to_write(Action.ROLL, rolled(5), DESIRED, now=NOW + 0.2, period=60.0)
    assert written.rolled_at == int(NOW) + 1
    parsed = Record.parse(written.render())
    assert parsed is not None
    assert parsed.rolled_at == int(NOW) + 1


def test_a_roll_without_a_pause_period_records_no_time() -> None:
    assert to_write(Action.ROLL, rolled(5), DESIRED, now=NOW, period=None).rolled_at is None
    assert "rolled" not in DESIRED.render()


@pytest.mark.parametrize("action", [Action.RECORD, Action.REKEY])
def test_other_writes_keep_the_recorded_roll_time(action: Action) -> None:
    assert to_write(action, rolled(7), DESIRED, now=NOW, period=60.0).rolled_at == 7
    assert to_write(action, None, DESIRED, now=NOW, period=60.0).rolled_at is None


@pytest.mark.parametrize("raw", ["1.5", "x", True, None, [1]])
def test_a_malformed_roll_time_is_ignored(raw: object) -> None:
    body = json.loads(DESIRED.render())
    body["rolled"] = raw
    parsed = Record.parse(json.dumps(body))
    assert parsed == DESIRED
    assert parsed is not None
    assert parsed.rolled_at is None
