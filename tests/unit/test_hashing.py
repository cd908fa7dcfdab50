"""Content encoding, digests and keyed hashing (reloader.core.hashing)."""

from __future__ import annotations

import base64
import re

import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

from reloader.core.hashing import ENCODING_VERSION, Hasher, content_digest, encode_content
from reloader.core.references import Kind

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
HEX = re.compile(r"[0-9a-f]+")

keys = st.text(min_size=1, max_size=8)
texts = st.dictionaries(keys, st.text(max_size=12), max_size=6)
blobs = st.dictionaries(keys, st.binary(max_size=12), max_size=6)
object_keys = st.tuples(st.sampled_from(Kind), st.text(min_size=1, max_size=8))
digest_maps = st.dictionaries(object_keys, st.binary(min_size=1, max_size=16), max_size=6)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def configmap(data: dict[str, str], binary: dict[str, bytes] | None = None) -> dict[str, object]:
    obj: dict[str, object] = {"data": data}
    if binary is not None:
        obj["binaryData"] = {k: b64(v) for k, v in binary.items()}
    return obj


def secret(data: dict[str, bytes]) -> dict[str, object]:
    return {"data": {k: b64(v) for k, v in data.items()}}


def cm_digest(data: dict[str, str], binary: dict[str, bytes] | None = None) -> bytes:
    return content_digest(Kind.CONFIGMAP, configmap(data, binary))


def chunk(raw: bytes) -> bytes:
    return len(raw).to_bytes(8, "big") + raw


# --- encode_content / content_digest ---


def test_configmap_encoding_is_versioned_and_length_prefixed() -> None:
    encoded = encode_content(Kind.CONFIGMAP, configmap({"b": "2", "a": "1"}, {"z": b"\x00"}))
    expected = (
        ENCODING_VERSION
        + chunk(b"text")
        + (2).to_bytes(8, "big")
        + chunk(b"a")
        + chunk(b"1")
        + chunk(b"b")
        + chunk(b"2")
        + chunk(b"bytes")
        + (1).to_bytes(8, "big")
        + chunk(b"z")
        + chunk(b"\x00")
    )
    assert encoded == expected


def test_secret_encoding_holds_decoded_bytes() -> None:
    encoded = encode_content(Kind.SECRET, secret({"pw": b"hunter2"}))
    expected = (
        ENCODING_VERSION
        + chunk(b"bytes")
        + (1).to_bytes(8, "big")
        + chunk(b"pw")
        + chunk(b"hunter2")
    )
    assert encoded == expected


def test_digest_is_16_byte_xxh3_128_of_the_encoding() -> None:
    obj = configmap({"a": "1"})
    digest = content_digest(Kind.CONFIGMAP, obj)
    assert len(digest) == 16
    assert digest == xxhash.xxh3_128_digest(encode_content(Kind.CONFIGMAP, obj))


def test_value_containing_separator_differs_from_two_keys() -> None:
    assert cm_digest({"a": "1;b=2"}) != cm_digest({"a": "1", "b": "2"})


def test_key_value_boundary_shift_changes_digest() -> None:
    assert cm_digest({"ab": "c"}) != cm_digest({"a": "bc"})


def test_entry_moved_between_keys_changes_digest() -> None:
    assert cm_digest({"a": "xy", "b": ""}) != cm_digest({"a": "x", "b": "y"})


def test_empty_value_differs_from_missing_key() -> None:
    assert cm_digest({"a": ""}) != cm_digest({})


def test_missing_and_null_and_empty_data_are_the_same_content() -> None:
    empty = content_digest(Kind.CONFIGMAP, {})
    assert content_digest(Kind.CONFIGMAP, {"data": None, "binaryData": None}) == empty
    assert content_digest(Kind.CONFIGMAP, {"data": {}, "binaryData": {}}) == empty


def test_configmap_data_and_binary_data_with_same_bytes_differ() -> None:
    assert cm_digest({"a": "hi"}) != cm_digest({}, {"a": b"hi"})


def test_configmap_binary_data_is_base64_decoded() -> None:
    # "aGk=" and "aGl=" are two spellings of b"hi" (the padding bits differ).
    canonical = content_digest(Kind.CONFIGMAP, {"binaryData": {"a": "aGk="}})
    sloppy = content_digest(Kind.CONFIGMAP, {"binaryData": {"a": "aGl="}})
    assert canonical == sloppy


def test_secret_data_is_base64_decoded() -> None:
    canonical = content_digest(Kind.SECRET, {"data": {"a": "aGk="}})
    sloppy = content_digest(Kind.SECRET, {"data": {"a": "aGl="}})
    assert canonical == sloppy
    assert canonical != content_digest(Kind.SECRET, {"data": {"a": "aGo="}})


def test_secret_invalid_base64_is_still_hashed_not_raised() -> None:
    first = content_digest(Kind.SECRET, {"data": {"a": "not base64!"}})
    second = content_digest(Kind.SECRET, {"data": {"a": "not base64?"}})
    assert first != second


def test_secret_and_configmap_with_same_content_differ() -> None:
    assert content_digest(Kind.SECRET, secret({"a": b"x"})) != cm_digest({}, {"a": b"x"})


def test_metadata_does_not_affect_digest() -> None:
    plain = {"data": {"a": "1"}}
    decorated = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "cm",
            "labels": {"team": "x"},
            "annotations": {"note": "changed"},
            "resourceVersion": "42",
        },
        "data": {"a": "1"},
    }
    assert content_digest(Kind.CONFIGMAP, plain) == content_digest(Kind.CONFIGMAP, decorated)


def test_secret_type_and_metadata_do_not_affect_digest() -> None:
    plain = secret({"a": b"x"})
    decorated = {**plain, "type": "Opaque", "metadata": {"labels": {"l": "v"}}}
    assert content_digest(Kind.SECRET, plain) == content_digest(Kind.SECRET, decorated)


@given(st.data(), texts, blobs)
def test_digest_is_independent_of_key_order(
    data: st.DataObject, text: dict[str, str], binary: dict[str, bytes]
) -> None:
    shuffled_text = dict(data.draw(st.permutations(list(text.items()))))
    shuffled_binary = dict(data.draw(st.permutations(list(binary.items()))))
    assert cm_digest(text, binary) == cm_digest(shuffled_text, shuffled_binary)


@given(texts, blobs, texts, blobs)
def test_configmap_encoding_is_injective(
    text_a: dict[str, str], bin_a: dict[str, bytes], text_b: dict[str, str], bin_b: dict[str, bytes]
) -> None:
    same_content = (text_a, bin_a) == (text_b, bin_b)
    same_encoding = encode_content(Kind.CONFIGMAP, configmap(text_a, bin_a)) == encode_content(
        Kind.CONFIGMAP, configmap(text_b, bin_b)
    )
    assert same_content == same_encoding


@given(blobs, blobs)
def test_secret_encoding_is_injective_over_decoded_bytes(
    a: dict[str, bytes], b: dict[str, bytes]
) -> None:
    same_encoding = encode_content(Kind.SECRET, secret(a)) == encode_content(Kind.SECRET, secret(b))
    assert (a == b) == same_encoding


@given(st.text(min_size=3, max_size=20), st.data())
def test_any_boundary_shift_between_key_and_value_changes_encoding(
    joined: str, data: st.DataObject
) -> None:
    i, j = data.draw(st.lists(st.integers(1, len(joined) - 1), min_size=2, max_size=2, unique=True))
    first = encode_content(Kind.CONFIGMAP, {"data": {joined[:i]: joined[i:]}})
    second = encode_content(Kind.CONFIGMAP, {"data": {joined[:j]: joined[j:]}})
    assert first != second


@given(texts, st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4))
def test_labels_and_annotations_never_change_digest(
    text: dict[str, str], meta: dict[str, str]
) -> None:
    decorated = {"data": text, "metadata": {"labels": meta, "annotations": meta}}
    assert content_digest(Kind.CONFIGMAP, decorated) == cm_digest(text)


# --- Hasher ---


@pytest.mark.parametrize("size", [0, 1, 15, 65, 128])
def test_hasher_rejects_keys_outside_16_to_64_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="16 to 64 bytes"):
        Hasher(b"x" * size)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_hasher_accepts_keys_of_16_to_64_bytes(size: int) -> None:
    assert Hasher(b"x" * size).key_id


def test_key_id_is_stable_short_hex() -> None:
    key_id = Hasher(KEY).key_id
    assert key_id == Hasher(KEY).key_id
    assert len(key_id) == 8
    assert HEX.fullmatch(key_id)


def test_different_keys_have_different_key_ids() -> None:
    assert Hasher(KEY).key_id != Hasher(OTHER_KEY).key_id


def test_different_keys_give_different_hashes() -> None:
    digests = {(Kind.CONFIGMAP, "a"): b"d" * 16}
    assert Hasher(KEY).workload_hash(digests) != Hasher(OTHER_KEY).workload_hash(digests)
    assert Hasher(KEY).object_hash(Kind.CONFIGMAP, "a", b"d") != Hasher(OTHER_KEY).object_hash(
        Kind.CONFIGMAP, "a", b"d"
    )


def test_object_hash_is_12_hex_chars_and_depends_on_kind_name_and_digest() -> None:
    hasher = Hasher(KEY)
    base = hasher.object_hash(Kind.CONFIGMAP, "a", b"d1")
    assert len(base) == 12
    assert HEX.fullmatch(base)
    assert base == hasher.object_hash(Kind.CONFIGMAP, "a", b"d1")
    assert base != hasher.object_hash(Kind.SECRET, "a", b"d1")
    assert base != hasher.object_hash(Kind.CONFIGMAP, "b", b"d1")
    assert base != hasher.object_hash(Kind.CONFIGMAP, "a", b"d2")


def test_object_hash_name_digest_boundary_is_unambiguous() -> None:
    hasher = Hasher(KEY)
    assert hasher.object_hash(Kind.CONFIGMAP, "ab", b"c") != hasher.object_hash(
        Kind.CONFIGMAP, "a", b"bc"
    )


def test_workload_hash_is_32_hex_chars() -> None:
    value = Hasher(KEY).workload_hash({(Kind.SECRET, "s"): b"x"})
    assert len(value) == 32
    assert HEX.fullmatch(value)


def test_workload_hash_of_nothing_differs_from_hash_of_something() -> None:
    hasher = Hasher(KEY)
    assert hasher.workload_hash({}) != hasher.workload_hash({(Kind.CONFIGMAP, "a"): b""})


def test_workload_hash_distinguishes_kind_of_same_name() -> None:
    hasher = Hasher(KEY)
    assert hasher.workload_hash({(Kind.CONFIGMAP, "a"): b"d"}) != hasher.workload_hash(
        {(Kind.SECRET, "a"): b"d"}
    )


def test_workload_hash_name_digest_boundary_is_unambiguous() -> None:
    hasher = Hasher(KEY)
    assert hasher.workload_hash({(Kind.CONFIGMAP, "ab"): b"c"}) != hasher.workload_hash(
        {(Kind.CONFIGMAP, "a"): b"bc"}
    )


def test_workload_hash_changes_when_an_object_is_added_or_removed() -> None:
    hasher = Hasher(KEY)
    one = {(Kind.CONFIGMAP, "a"): b"d"}
    two = {**one, (Kind.SECRET, "b"): b"e"}
    assert hasher.workload_hash(one) != hasher.workload_hash(two)


@given(st.data(), digest_maps)
def test_workload_hash_is_independent_of_insertion_order(
    data: st.DataObject, digests: dict[tuple[Kind, str], bytes]
) -> None:
    shuffled = dict(data.draw(st.permutations(list(digests.items()))))
    hasher = Hasher(KEY)
    assert hasher.workload_hash(digests) == hasher.workload_hash(shuffled)


@given(st.data(), digest_maps.filter(bool))
def test_workload_hash_changes_when_any_digest_changes(
    data: st.DataObject, digests: dict[tuple[Kind, str], bytes]
) -> None:
    victim = data.draw(st.sampled_from(sorted(digests)))
    new_digest = data.draw(
        st.binary(min_size=1, max_size=16).filter(lambda d: d != digests[victim])
    )
    hasher = Hasher(KEY)
    assert hasher.workload_hash(digests) != hasher.workload_hash({**digests, victim: new_digest})


def test_hash_outputs_do_not_reveal_secret_content() -> None:
    plaintext = b"hunter2-correct-horse"
    digest = content_digest(Kind.SECRET, secret({"password": plaintext}))
    hasher = Hasher(KEY)
    outputs = [
        hasher.key_id,
        hasher.object_hash(Kind.SECRET, "db", digest),
        hasher.workload_hash({(Kind.SECRET, "db"): digest}),
    ]
    for out in outputs:
        assert HEX.fullmatch(out)
        assert plaintext.decode() not in out
        assert plaintext.hex() not in out
        assert b64(plaintext) not in out
        assert digest.hex() not in out
