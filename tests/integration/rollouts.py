"""Assertions about rollouts, counted from the cluster (ReplicaSets, ControllerRevisions)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

from reloader.core import names
from reloader.core.deciding import ObjectState, Selection, desired_record
from reloader.core.hashing import Hasher, fingerprint
from reloader.core.references import Kind
from reloader.kube.rest import Rest
from tests.integration.cluster import eventually, path_of, revisions, stays, template_annotations


async def expect_revisions(
    rest: Rest,
    namespace: str,
    kind: str,
    name: str,
    count: int,
    *,
    hold: float = 1.5,
    within: float = 30.0,
) -> None:
    """The workload reaches exactly ``count`` revisions and stays there for ``hold`` seconds.

    Revisions are made by kube-controller-manager; after an API server restart its watches
    reconnect with backoff, so tests of that case give it longer (``within``).
    """

    async def reached() -> bool:
        return await revisions(rest, namespace, kind, name) == count

    await eventually(reached, within=within, what=f"{kind}/{name} to have {count} revisions")
    await stays(reached, for_=hold, what=f"{kind}/{name} staying at {count} revisions")


async def config_hash(rest: Rest, namespace: str, kind: str, name: str) -> str | None:
    return (await template_annotations(rest, namespace, kind, name)).get(names.CONFIG_HASH)


async def expected_hash(
    rest: Rest,
    namespace: str,
    objects: list[tuple[Kind, str]],
    *,
    keys: Mapping[tuple[Kind, str], Iterable[str]] | None = None,
) -> str:
    """The hash reloader must write for ``objects``, computed independently from the API.

    ``keys`` names the objects the pods read key by key (and those keys); others are whole.
    """
    key_secret = await rest.get(path_of("Secret", namespace, "reloader-hash-key"))
    hasher = Hasher(base64.b64decode(key_secret["data"]["key"]))
    chosen = Selection()
    for kind, name in objects:
        obj = await rest.get(path_of(kind.value, namespace, name))
        digest, packed = fingerprint(kind, obj)
        read = (keys or {}).get((kind, name))
        chosen.put(
            (kind, name), ObjectState(digest, keys=packed), None if read is None else set(read)
        )
    return desired_record(hasher, chosen).hash


async def wait_recorded(
    rest: Rest, namespace: str, kind: str = "Deployment", name: str = "web", within: float = 15.0
) -> None:
    """Wait for reloader's first-sight record on the workload.

    Tests change content only after it: a change before the first sight is, by design,
    recorded as the baseline rather than rolled.
    """

    async def recorded() -> bool:
        obj = await rest.get(path_of(kind, namespace, name))
        return names.OBSERVED in (obj["metadata"].get("annotations") or {})

    await eventually(recorded, within=within, what=f"reloader to record {kind}/{name}")
