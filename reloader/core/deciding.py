"""Decide, from current state alone, whether a workload must roll.

Level-triggered by construction: the inputs are the workload's annotations and the digests of
the objects it depends on, never "an update event arrived". Replaying a decision, relisting,
restarting the controller or seeing an event twice therefore cannot roll anything twice.

Two annotations carry the state (see ``names``): the pod template's ``config-hash`` (what the
pods run with; changing it rolls them) and the workload's ``observed`` record (what reloader
last saw in force; writing it rolls nothing). The record is what lets a running workload be
opted in, or a GitOps apply stamp a hash, without a restart.

What is hashed is what the pods can see: a whole object, or only the keys they read. The record
also says which objects (and keys) it covered, because "what is seen" changes without any
content changing (a template edit adds a reference, ``reload-on`` switches, a controller from
before key-level views wrote the record). When the hashes differ, the recorded view is
evaluated on today's content (``replay``): if that still matches the record, only the view
changed, and the workload is re-recorded, not rolled. Records written by the first release
(whole objects, no keys) are read as such, so upgrading rolls nothing.

A pause period delays a roll, never a record: the record carries when reloader last rolled the
workload (``rolled``), so the window survives a restart, and the roll happens once at its end
for whatever content has settled by then. Nothing is paused on the server.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from reloader.core.annotations import ObjectFlags, Policy, ReloadOn, parse_object_flags
from reloader.core.hashing import ABSENT, Hasher, fingerprint, has_key, keys_digest
from reloader.core.references import Kind, Ref

ObjectKey = tuple[Kind, str]


@dataclass(frozen=True, slots=True)
class ObjectState:
    """What the controller keeps of a ConfigMap or Secret: digests and its flags, no body."""

    digest: bytes
    flags: ObjectFlags = field(default_factory=ObjectFlags)
    keys: bytes | None = None
    """Per-key digests (``hashing.key_digests``); None when not computed: then an object read
    by key is seen whole, which can roll too often but never misses a change."""


def object_state(kind: Kind, obj: Mapping[str, Any]) -> ObjectState:
    """What is kept of a ConfigMap or Secret as served: the one way every caller builds it, so
    the reloader and the GitOps stamp see the same keys."""
    digest, keys = fingerprint(kind, obj)
    meta = obj.get("metadata") or {}
    return ObjectState(digest, parse_object_flags(meta.get("annotations") or {}), keys)


def seen(state: ObjectState | None, keys: Set[str] | None) -> tuple[bytes, frozenset[str] | None]:
    """The digest of what is seen of an object (``keys``, or all of it), and the keys used."""
    if keys is None:
        return (state.digest if state is not None else ABSENT), None
    if state is None:
        return keys_digest(keys, b""), frozenset(keys)
    if state.keys is None:
        return state.digest, None
    return keys_digest(keys, state.keys), frozenset(keys)


class Selection(dict[ObjectKey, bytes]):
    """The digests of what a workload sees, by object; ``by_key`` names objects seen key by key
    (a plain ``dict`` of digests means every object is seen whole)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_key: dict[ObjectKey, frozenset[str]] = {}

    def put(self, key: ObjectKey, state: ObjectState | None, keys: Set[str] | None) -> None:
        digest, used = seen(state, keys)
        self[key] = digest
        if used is not None:
            self.by_key[key] = used


def select(policy: Policy, refs: Set[Ref], objects: Mapping[ObjectKey, ObjectState]) -> Selection:
    """The digests of what counts for a workload under ``policy``.

    ``objects`` holds the workload's namespace. A referenced object that is missing counts as
    ``ABSENT`` (or, read by key, as lacking those keys), so creating it is a change; an object
    marked ignore never counts. Objects a reload list names without a reference are seen whole.
    """
    by_key = policy.reload_on is ReloadOn.KEYS
    chosen = Selection()
    for ref in refs:
        state = objects.get(ref.key)
        counts = not policy.excluded(ref.kind, ref.name) and (
            policy.listed(ref.kind, ref.name)
            or ref.kind in policy.auto
            or (policy.search and state is not None and state.flags.match)
        )
        if counts and not (state is not None and state.flags.ignore):
            chosen.put(ref.key, state, ref.keys if by_key else None)
    if any(policy.reload.values()):
        for key, state in objects.items():
            if (
                key not in chosen
                and not state.flags.ignore
                and policy.listed(*key)
                and not policy.excluded(*key)
            ):
                chosen.put(key, state, None)
    return chosen


def unmet(
    refs: Set[Ref], chosen: Mapping[ObjectKey, bytes], objects: Mapping[ObjectKey, ObjectState]
) -> list[str]:
    """What new pods would lack to start: counted, non-optional objects that do not exist, and
    keys that non-optional key references name and their (existing) object does not hold."""
    lacking: list[str] = []
    for ref in refs:
        if ref.key not in chosen:
            continue
        state = objects.get(ref.key)
        if state is None:
            if not ref.optional:
                lacking.append(f"{ref.kind.value}/{ref.name}")
        elif state.keys is not None:
            lacking.extend(
                f"{ref.kind.value}/{ref.name} key {key}"
                for key in sorted(ref.required_keys)
                if not has_key(state.keys, key)
            )
    return sorted(lacking)


def _object_name(kind: Kind, name: str) -> str:
    return f"{kind.value}/{name}"


@dataclass(frozen=True)
class Record:
    """The ``observed`` annotation: the keyed hashes reloader last saw in force."""

    key_id: str
    hash: str
    objects: Mapping[str, str]
    """``"Kind/name"`` to a short keyed hash of what was seen of that object."""
    by_key: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Objects seen key by key, to their sorted keys; every other object was seen whole."""
    rolled_at: int | None = field(default=None, compare=False)
    """When reloader last rolled the workload (epoch seconds), kept for a pause period only.
    Not part of what is compared: it records an act, not content."""

    def render(self) -> str:
        body: dict[str, object] = {
            "v": 1,
            "key": self.key_id,
            "hash": self.hash,
            "objects": dict(self.objects),
        }
        if self.by_key:  # absent when all is seen whole: the first release's records, unchanged
            body["keys"] = {name: list(keys) for name, keys in self.by_key.items()}
        if self.rolled_at is not None:
            body["rolled"] = self.rolled_at
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, raw: str | None) -> Record | None:
        """The record in ``raw``, or None when it is absent or unreadable (then re-recorded)."""
        if not raw:
            return None
        try:
            body = json.loads(raw)
            objects = body["objects"]
            keys = body.get("keys", {})
            if body.get("v") != 1 or not isinstance(objects, dict) or not isinstance(keys, dict):
                return None
            by_key: dict[str, tuple[str, ...]] = {}
            for name, listed in keys.items():
                if not isinstance(listed, list) or not all(isinstance(k, str) for k in listed):
                    return None
                by_key[name] = tuple(listed)
            rolled = body.get("rolled")
            rolled_at = rolled if type(rolled) is int else None
            return cls(
                key_id=str(body["key"]),
                hash=str(body["hash"]),
                objects=objects,
                by_key=by_key,
                rolled_at=rolled_at,
            )
        except (ValueError, KeyError, TypeError, RecursionError):
            return None  # anyone who can edit the workload can write garbage here


def desired_record(hasher: Hasher, chosen: Mapping[ObjectKey, bytes]) -> Record:
    """The record (and so the pod-template hash) that ``chosen`` content calls for."""
    by_key = chosen.by_key if isinstance(chosen, Selection) else {}
    return Record(
        key_id=hasher.key_id,
        hash=hasher.workload_hash(chosen),
        objects={
            _object_name(kind, name): hasher.object_hash(kind, name, digest)
            for (kind, name), digest in sorted(chosen.items())
        },
        by_key={
            _object_name(kind, name): tuple(sorted(keys))
            for (kind, name), keys in sorted(by_key.items())
        },
    )


def replay(
    hasher: Hasher, recorded: Record, objects: Mapping[ObjectKey, ObjectState]
) -> str | None:
    """The hash ``recorded``'s view (its objects, keys) gives on today's content; None if it
    cannot be told (an unknown kind, or key digests not computed)."""
    digests: dict[ObjectKey, bytes] = {}
    for object_name in recorded.objects:
        kind_name, _, name = object_name.partition("/")
        try:
            kind = Kind(kind_name)
        except ValueError:
            return None
        keys = recorded.by_key.get(object_name)
        digest, used = seen(objects.get((kind, name)), None if keys is None else frozenset(keys))
        if (used is None) != (keys is None):
            return None
        digests[(kind, name)] = digest
    return hasher.workload_hash(digests)


class Action(StrEnum):
    NOTHING = "nothing"
    RECORD = "record"
    """Write the record only (adopt a workload, or catch up with a hash someone else wrote)."""
    REKEY = "rekey"
    """The record was made with another key: re-record without rolling, and warn."""
    ROLL = "roll"
    """Write the pod-template hash and the record: the workload rolls once."""


def decide(
    template_hash: str | None,
    recorded: Record | None,
    desired: Record,
    *,
    replayed: Callable[[Record], str | None] | None = None,
) -> Action:
    """What to do so that the workload runs with ``desired`` content, rolling at most once.

    ``replayed`` gives the hash the recorded view has on today's content (``replay``); it is
    only called when the hashes differ, to tell a changed view from changed content.
    """
    if template_hash == desired.hash:
        return Action.NOTHING if recorded == desired else Action.RECORD
    if recorded is None:
        # First sight of an opted-in workload: its pods already run the current content.
        # A hash on the template without a record was stamped from other content: roll.
        return Action.RECORD if template_hash is None else Action.ROLL
    if recorded.key_id != desired.key_id:
        return Action.REKEY
    if recorded.hash == desired.hash:
        # Someone else rewrote or removed the template hash; rolling back would fight them.
        return Action.NOTHING
    if replayed is not None and replayed(recorded) == recorded.hash:
        # What was seen is unchanged; only what is seen changed (a template edit, which rolls
        # the pods by itself, or reload-on, or an upgrade): re-record, do not roll.
        return Action.RECORD
    return Action.ROLL


def paused_until(recorded: Record | None, period: float | None, now: float) -> float | None:
    """When a roll may happen if the pause period after the last roll still runs, else None.

    A recorded time in the future (clock skew, a hand edit) holds at most one period from now.
    """
    if not period or recorded is None or recorded.rolled_at is None:
        return None
    until = min(recorded.rolled_at + period, now + period)
    return until if until > now else None


def to_write(
    action: Action, recorded: Record | None, desired: Record, *, now: float, period: float | None
) -> Record:
    """The record to write for ``action``: a roll under a pause period stamps its time; any
    other write keeps the time already recorded, so re-recording never reopens a window."""
    if action is Action.ROLL:
        return replace(desired, rolled_at=math.ceil(now)) if period else desired
    return replace(desired, rolled_at=recorded.rolled_at if recorded else None)


def changed_objects(recorded: Record | None, desired: Record) -> list[str]:
    """``Kind/name`` of every object whose hash differs between the two records."""
    before = recorded.objects if recorded else {}
    keys = set(before) | set(desired.objects)
    return sorted(k for k in keys if before.get(k) != desired.objects.get(k))
