"""Content hashes: xxhash to fingerprint objects fast, keyed BLAKE2b for what others can read.

Two layers, for two reasons:

* ``content_digest`` is xxh3-128 over a versioned, length-prefixed encoding of ``data`` and
  ``binaryData`` only. Length prefixes make it unambiguous (``{"a": "1;b=2"}`` and
  ``{"a": "1", "b": "2"}`` differ), key order never matters, and metadata (labels,
  annotations) is not hashed, so editing a label never restarts anything. Digests stay in
  memory and are never published: xxhash is fast but not a MAC.
* ``Hasher`` turns digests into the values written on workloads with keyed BLAKE2b, a real MAC,
  whose key lives in a Secret only the controller reads. Someone who can read a Deployment but
  not its Secret therefore cannot test guesses of a low-entropy secret value against the
  annotation. The key id (a MAC of a constant) is recorded next to the hash, so a lost key is
  detected rather than mistaken for a change of every object.

The encoding carries a version tag: changing it (as Wave did when it added binaryData) would
change every hash, so it must only ever change together with a migration.

A workload that reads single keys (``configMapKeyRef``, a volume's ``items``) sees only those,
so each object also gets ``key_digests``: 24 bytes per key (an 8-byte hash of the key's name,
a 16-byte digest of its value), packed in one ``bytes`` sorted by name hash. That costs far
less than a dict of names, keeps no value, and lets ``keys_digest`` fingerprint any subset of
keys later without the body. The whole-object digest is unchanged, so records written before
key-level views existed still compare equal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

import xxhash

from reloader.core.references import Kind

ENCODING_VERSION = b"reloader-content-v1"
ABSENT = b"\x00absent"
"""Digest of a referenced object that does not exist: creating it then counts as a change."""


def _put(out: list[bytes], chunk: bytes) -> None:
    out.append(len(chunk).to_bytes(8, "big"))
    out.append(chunk)


def _section(out: list[bytes], tag: bytes, values: Mapping[str, bytes]) -> None:
    _put(out, tag)
    out.append(len(values).to_bytes(8, "big"))
    for key in sorted(values):
        _put(out, key.encode())
        _put(out, values[key])


def _decode_b64(values: Mapping[str, str]) -> dict[str, bytes]:
    decoded: dict[str, bytes] = {}
    for key, value in values.items():
        try:
            decoded[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            decoded[key] = value.encode()  # never served like this by an API server; still hashed
    return decoded


def _sections(kind: Kind, obj: Mapping[str, object]) -> list[tuple[bytes, dict[str, bytes]]]:
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    assert isinstance(data, Mapping)
    assert isinstance(binary, Mapping)
    if kind is Kind.SECRET:
        return [(b"bytes", _decode_b64(data))]
    return [
        (b"text", {k: str(v).encode() for k, v in data.items()}),
        (b"bytes", _decode_b64(binary)),
    ]


def _encode(sections: list[tuple[bytes, dict[str, bytes]]]) -> bytes:
    out: list[bytes] = [ENCODING_VERSION]
    for tag, values in sections:
        _section(out, tag, values)
    return b"".join(out)


def encode_content(kind: Kind, obj: Mapping[str, object]) -> bytes:
    """The unambiguous byte encoding of an object's content (what the pods can see)."""
    return _encode(_sections(kind, obj))


def content_digest(kind: Kind, obj: Mapping[str, object]) -> bytes:
    """A 16-byte xxh3-128 fingerprint of the object's content; kept in memory only."""
    return xxhash.xxh3_128_digest(encode_content(kind, obj))


_ENTRY = 24
_NAME = 8
KEY_ABSENT = b"\x00key-absent"
"""Digest of a key a workload reads that its object does not hold."""


def _name_hash(key: str) -> bytes:
    return xxhash.xxh3_64_digest(key.encode("utf-8", "surrogatepass"))


def _value_digest(tag: bytes, value: bytes) -> bytes:
    return xxhash.xxh3_128_digest(len(tag).to_bytes(8, "big") + tag + value)


def _pack(sections: list[tuple[bytes, dict[str, bytes]]]) -> bytes:
    entries = sorted(
        _name_hash(key) + _value_digest(tag, value)
        for tag, values in sections
        for key, value in values.items()
    )
    return b"".join(entries)


def fingerprint(kind: Kind, obj: Mapping[str, object]) -> tuple[bytes, bytes]:
    """``content_digest`` and ``key_digests`` of one object, decoding its values once."""
    sections = _sections(kind, obj)
    return xxhash.xxh3_128_digest(_encode(sections)), _pack(sections)


def key_digests(kind: Kind, obj: Mapping[str, object]) -> bytes:
    """Per-key digests of an object's content, packed for ``keys_digest``."""
    return _pack(_sections(kind, obj))


def _lookup(packed: bytes, name: bytes) -> bytes | None:
    low, high = 0, len(packed) // _ENTRY
    while low < high:
        mid = (low + high) // 2
        start = mid * _ENTRY
        probe = packed[start : start + _NAME]
        if probe == name:
            return packed[start + _NAME : start + _ENTRY]
        if probe < name:
            low = mid + 1
        else:
            high = mid
    return None


def keys_digest(keys: Set[str], packed: bytes) -> bytes:
    """A 16-byte fingerprint of just ``keys`` of an object (``packed``: its ``key_digests``).

    A key the object lacks counts as ``KEY_ABSENT``, so its appearing is a change; an absent
    object is ``packed == b""``: every key absent.
    """
    out: list[bytes] = [b"reloader-keys-v1"]
    for key in sorted(keys):
        _put(out, key.encode("utf-8", "surrogatepass"))
        _put(out, _lookup(packed, _name_hash(key)) or KEY_ABSENT)
    return xxhash.xxh3_128_digest(b"".join(out))


def has_key(packed: bytes, key: str) -> bool:
    """Whether the object whose ``key_digests`` are ``packed`` holds ``key``."""
    return _lookup(packed, _name_hash(key)) is not None


@dataclass(frozen=True)
class Hasher:
    """Keyed hashing of a workload's set of referenced objects."""

    key: bytes

    def __post_init__(self) -> None:
        if not 16 <= len(self.key) <= 64:
            raise ValueError("the hash key must be 16 to 64 bytes long")

    def _mac(self, person: bytes, size: int, chunks: Iterable[bytes]) -> str:
        mac = hashlib.blake2b(key=self.key, digest_size=size, person=person)
        for chunk in chunks:
            mac.update(len(chunk).to_bytes(8, "big"))
            mac.update(chunk)
        return mac.hexdigest()

    @property
    def key_id(self) -> str:
        """A short public name for the key, so a changed key is told apart from changed content."""
        return self._mac(b"reloader-keyid", 4, [b"key-id"])

    def object_hash(self, kind: Kind, name: str, digest: bytes) -> str:
        """A short keyed hash of one object, safe to show in annotations and Events."""
        return self._mac(b"reloader-obj-v1", 6, [kind.value.encode(), name.encode(), digest])

    def workload_hash(self, digests: Mapping[tuple[Kind, str], bytes]) -> str:
        """The keyed hash of every object a workload depends on, independent of their order."""
        chunks: list[bytes] = []
        for kind, name in sorted(digests):
            chunks += [kind.value.encode(), name.encode(), digests[(kind, name)]]
        return self._mac(b"reloader-wl-v1", 16, chunks)
