"""Per-key digests, and the fingerprint of a subset of keys (reloader.core.hashing)."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from reloader.core.hashing import content_digest, fingerprint, has_key, key_digests, keys_digest
from reloader.core.references import Kind

CM, SECRET = Kind.CONFIGMAP, Kind.SECRET

texts = st.dictionaries(st.text(min_size=1, max_size=6), st.text(max_size=8), max_size=8)


def packed(data: dict[str, str]) -> bytes:
    return key_digests(CM, {"data": data})


def test_fingerprint_keeps_the_whole_object_digest_of_the_first_release() -> None:
    obj = {"data": {"a": "1"}, "binaryData": {"b": base64.b64encode(b"\x00").decode()}}
    digest, keys = fingerprint(CM, obj)
    assert digest == content_digest(CM, obj)
    assert keys == key_digests(CM, obj)


def test_each_key_costs_24_bytes() -> None:
    assert len(packed({})) == 0
    assert len(packed({"a": "x" * 4096, "b": "y"})) == 48


@given(texts, st.data())
def test_a_subset_changes_only_when_one_of_its_keys_does(
    data: dict[str, str], draw: st.DataObject
) -> None:
    subset = draw.draw(st.frozensets(st.sampled_from(sorted(data) or ["none"]), min_size=1))
    other = {**data, "zz-unread": "changed"} if "zz-unread" not in subset else data
    assert keys_digest(subset, packed(data)) == keys_digest(subset, packed(other))
    if data:
        victim = next(iter(subset))
        edited = {**data, victim: data.get(victim, "") + "!"}
        assert keys_digest(subset, packed(data)) != keys_digest(subset, packed(edited))


@given(texts)
def test_every_key_is_found_and_no_other(data: dict[str, str]) -> None:
    blob = packed(data)
    for key in data:
        assert has_key(blob, key)
    assert not has_key(blob, "\x00not-a-key")


def test_a_missing_key_differs_from_an_empty_one() -> None:
    keys = frozenset({"a"})
    assert keys_digest(keys, packed({})) != keys_digest(keys, packed({"a": ""}))
    assert keys_digest(keys, b"") == keys_digest(keys, packed({"b": "1"}))


def test_text_and_binary_values_of_the_same_bytes_differ() -> None:
    text = key_digests(CM, {"data": {"a": "hi"}})
    binary = key_digests(CM, {"binaryData": {"a": base64.b64encode(b"hi").decode()}})
    assert keys_digest({"a"}, text) != keys_digest({"a"}, binary)


def test_secret_values_are_compared_decoded() -> None:
    canonical = key_digests(SECRET, {"data": {"a": "aGk="}})
    sloppy = key_digests(SECRET, {"data": {"a": "aGl="}})  # same bytes, other padding bits
    assert keys_digest({"a"}, canonical) == keys_digest({"a"}, sloppy)


def test_key_names_are_part_of_the_fingerprint() -> None:
    blob = packed({"a": "1", "b": "1"})
    assert keys_digest({"a"}, blob) != keys_digest({"b"}, blob)
