"""Decide, from current state alone, whether a workload must roll.

Level-triggered by construction: the inputs are the workload's annotations and the digests of
the objects it depends on, never "an update event arrived". Replaying a decision, relisting,
restarting the controller or seeing an event twice therefore cannot roll anything twice.

Two annotations carry the state (see ``names``): the pod template's ``config-hash`` (what the
pods run with; changing it rolls them) and the workload's ``observed`` record (what reloader
last saw in force; writing it rolls nothing). The record is what lets a running workload be
opted in, or a GitOps apply stamp a hash, without a restart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from enum import StrEnum

from reloader.core.annotations import ObjectFlags, Policy
from reloader.core.hashing import ABSENT, Hasher
from reloader.core.references import Kind, Ref

ObjectKey = tuple[Kind, str]


@dataclass(frozen=True)
class ObjectState:
    """What the controller keeps of a ConfigMap or Secret: a digest and its flags, no body."""

    digest: bytes
    flags: ObjectFlags = field(default_factory=ObjectFlags)


def select(
    policy: Policy, refs: Set[Ref], objects: Mapping[ObjectKey, ObjectState]
) -> dict[ObjectKey, bytes]:
    """The digests of the objects that count for a workload under ``policy``.

    ``objects`` holds the workload's namespace. A referenced object that is missing counts as
    ``ABSENT``, so creating it is a change; an object marked ignore never counts.
    """
    chosen: dict[ObjectKey, bytes] = {}
    for ref in refs:
        state = objects.get(ref.key)
        counts = not policy.excluded(ref.kind, ref.name) and (
            policy.listed(ref.kind, ref.name)
            or ref.kind in policy.auto
            or (policy.search and state is not None and state.flags.match)
        )
        if counts and not (state is not None and state.flags.ignore):
            chosen[ref.key] = state.digest if state is not None else ABSENT
    if any(policy.reload.values()):
        for key, state in objects.items():
            if (
                key not in chosen
                and not state.flags.ignore
                and policy.listed(*key)
                and not policy.excluded(*key)
            ):
                chosen[key] = state.digest
    return chosen


@dataclass(frozen=True)
class Record:
    """The ``observed`` annotation: the keyed hashes reloader last saw in force."""

    key_id: str
    hash: str
    objects: Mapping[str, str]
    """``"Kind/name"`` to a short keyed hash of that object."""

    def render(self) -> str:
        body = {"v": 1, "key": self.key_id, "hash": self.hash, "objects": dict(self.objects)}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, raw: str | None) -> Record | None:
        """The record in ``raw``, or None when it is absent or unreadable (then re-recorded)."""
        if not raw:
            return None
        try:
            body = json.loads(raw)
            objects = body["objects"]
            if body.get("v") != 1 or not isinstance(objects, dict):
                return None
            return cls(key_id=str(body["key"]), hash=str(body["hash"]), objects=objects)
        except (ValueError, KeyError, TypeError, RecursionError):
            return None  # anyone who can edit the workload can write garbage here


def desired_record(hasher: Hasher, chosen: Mapping[ObjectKey, bytes]) -> Record:
    """The record (and so the pod-template hash) that ``chosen`` content calls for."""
    return Record(
        key_id=hasher.key_id,
        hash=hasher.workload_hash(chosen),
        objects={
            f"{kind.value}/{name}": hasher.object_hash(kind, name, digest)
            for (kind, name), digest in sorted(chosen.items())
        },
    )


class Action(StrEnum):
    NOTHING = "nothing"
    RECORD = "record"
    """Write the record only (adopt a workload, or catch up with a hash someone else wrote)."""
    REKEY = "rekey"
    """The record was made with another key: re-record without rolling, and warn."""
    ROLL = "roll"
    """Write the pod-template hash and the record: the workload rolls once."""


def decide(template_hash: str | None, recorded: Record | None, desired: Record) -> Action:
    """What to do so that the workload runs with ``desired`` content, rolling at most once."""
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
    return Action.ROLL


def changed_objects(recorded: Record | None, desired: Record) -> list[str]:
    """``Kind/name`` of every object whose hash differs between the two records."""
    before = recorded.objects if recorded else {}
    keys = set(before) | set(desired.objects)
    return sorted(k for k in keys if before.get(k) != desired.objects.get(k))
