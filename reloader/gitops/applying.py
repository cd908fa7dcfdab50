"""Server-side apply of manifests, with discovery to find each kind's REST path.

Server-side apply with a field manager of our own and ``force``: git is the source of truth
for the fields it sets, other managers keep the fields git does not mention (such as the
reloader's pod-template hash). A server dry-run of the same request runs admission and
validation without persisting anything, which is how a revision is checked before any of it
is applied, and how "is the live object already as git wants it" is answered without a write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reloader.core.manifests import Manifest
from reloader.gitops.inventory import ObjectKey
from reloader.kube.rest import ApiError, JSONDict, Rest

APPLY_PATCH = "application/apply-patch+yaml"
FIELD_MANAGER = "reloader-gitops"
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


@dataclass(frozen=True)
class ResourceInfo:
    api: str
    plural: str
    namespaced: bool
    kind: str = ""
    verbs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """Where a manifest goes: its REST path (of the version git names) and its identity."""

    path: str
    key: ObjectKey
    version: str


def version_of(api_version: str) -> str:
    return api_version.rpartition("/")[2]


def api_version_of(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


class UnknownKind(Exception):
    """The API server serves no such kind (a missing CRD, a typo in apiVersion)."""


class Discovery:
    """Maps apiVersion/kind to REST paths, asking the API server once per group-version."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self._cache: dict[str, dict[str, ResourceInfo]] = {}

    async def _load(self, api_version: str) -> dict[str, ResourceInfo]:
        api = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        try:
            listing = await self.rest.get(api)
        except ApiError as exc:
            if exc.not_found:
                return {}
            raise
        kinds: dict[str, ResourceInfo] = {}
        for resource in listing.get("resources") or ():
            if "/" not in resource["name"]:  # skip subresources such as deployments/scale
                kinds[resource["kind"]] = ResourceInfo(
                    api,
                    resource["name"],
                    resource["namespaced"],
                    resource["kind"],
                    tuple(resource.get("verbs") or ()),
                )
        return kinds

    async def kinds(self, api_version: str, *, fresh: bool = False) -> dict[str, ResourceInfo]:
        if fresh or api_version not in self._cache:
            self._cache[api_version] = await self._load(api_version)
        return self._cache[api_version]

    async def kind_of(self, group: str, version: str, plural: str) -> str | None:
        """The kind served at ``plural`` in group/version (None when nothing is)."""
        for info in (await self.kinds(api_version_of(group, version))).values():
            if info.plural == plural:
                return info.kind
        return None

    async def preferred_version(self, group: str) -> str | None:
        if not group:
            return "v1"
        try:
            found = await self.rest.get(f"/apis/{group}")
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        version = (found.get("preferredVersion") or {}).get("version")
        return version if isinstance(version, str) else None

    async def locate(self, key: ObjectKey, version: str) -> str | None:
        """The REST path of the object ``key`` (None when its kind is no longer served): at
        ``version`` if that is still served, else at the group's preferred version."""
        candidates = [version, await self.preferred_version(key.group)]
        for candidate in dict.fromkeys(v for v in candidates if v):
            info = (await self.kinds(api_version_of(key.group, candidate))).get(key.kind)
            if info is None:
                continue
            if info.namespaced != bool(key.namespace):
                return None
            middle = f"/namespaces/{key.namespace}" if key.namespace else ""
            return f"{info.api}{middle}/{info.plural}/{key.name}"
        return None

    async def namespaced_collections(self) -> list[ResourceInfo]:
        """Every namespaced kind that can be listed, at its group's preferred version."""
        versions = ["v1"]
        groups = await self.rest.get("/apis")
        for group in groups.get("groups") or ():
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            if isinstance(preferred, str):
                versions.append(preferred)
        found: list[ResourceInfo] = []
        for api_version in versions:
            for info in (await self.kinds(api_version, fresh=True)).values():
                if info.namespaced and "list" in info.verbs:
                    found.append(info)
        return found

    async def resolve(self, api_version: str, kind: str) -> ResourceInfo:
        known = self._cache.get(api_version)
        if known is None or kind not in known:  # a CRD applied a moment ago: look again
            known = self._cache[api_version] = await self._load(api_version)
        if kind not in known:
            raise UnknownKind(f"the API server has no kind {kind} in {api_version}")
        return known[kind]


def crd_for(manifests: Sequence[Manifest], manifest: Manifest) -> Manifest | None:
    """The CustomResourceDefinition among ``manifests`` that serves ``manifest``'s kind."""
    for crd in manifests:
        if crd.kind != "CustomResourceDefinition":
            continue
        spec = crd.obj.get("spec") or {}
        if (
            spec.get("group") == manifest.group
            and (spec.get("names") or {}).get("kind") == manifest.kind
        ):
            return crd
    return None


def comparable(obj: JSONDict) -> JSONDict:
    """The object without what the server changes on every write (for "already applied?")."""
    # LIST items carry no apiVersion/kind; the object's path already fixes both.
    out: dict[str, Any] = {
        k: v for k, v in obj.items() if k not in ("status", "apiVersion", "kind")
    }
    meta = dict(out.get("metadata") or {})
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    out["metadata"] = meta
    return out


class Applier:
    def __init__(
        self, rest: Rest, *, default_namespace: str = "default", field_manager: str = FIELD_MANAGER
    ) -> None:
        self.rest, self.discovery = rest, Discovery(rest)
        self.default_namespace, self.field_manager = default_namespace, field_manager

    async def item_path(self, manifest: Manifest) -> str:
        return (await self.target(manifest)).path

    async def target(self, manifest: Manifest) -> Target:
        info = await self.discovery.resolve(manifest.api_version, manifest.kind)
        return self.target_at(manifest, plural=info.plural, namespaced=info.namespaced)

    def target_at(self, manifest: Manifest, *, plural: str, namespaced: bool) -> Target:
        base = "/api" if not manifest.group else "/apis"
        namespace = (manifest.namespace or self.default_namespace) if namespaced else ""
        middle = f"/namespaces/{namespace}" if namespace else ""
        key = ObjectKey(manifest.group, manifest.kind, namespace, manifest.name)
        path = f"{base}/{manifest.api_version}{middle}/{plural}/{manifest.name}"
        return Target(path, key, version_of(manifest.api_version))

    async def apply(self, manifest: Manifest, body: JSONDict, *, dry_run: bool) -> JSONDict:
        query: dict[str, str | int | bool] = {"fieldManager": self.field_manager, "force": True}
        if dry_run:
            query["dryRun"] = "All"
        return await self.rest.request(
            "PATCH",
            await self.item_path(manifest),
            query=query,
            body=body,
            content_type=APPLY_PATCH,
        )


async def live_objects(rest: Rest, paths: Iterable[str]) -> dict[str, JSONDict]:
    """The live objects at ``paths``: one paged LIST per collection, not a GET per object."""
    live: dict[str, JSONDict] = {}
    wanted = set(paths)  # a page holds every object of its kind: keep only these
    for collection in sorted({p.rsplit("/", 1)[0] for p in wanted}):
        token = ""
        while True:
            query: dict[str, str | int | bool] = {"limit": 500}
            if token:
                query["continue"] = token
            try:
                page = await rest.get(collection, query)
            except ApiError as exc:
                if exc.not_found:  # a kind a CRD of this revision is about to bring
                    break
                raise
            for item in page.get("items") or ():
                path = f"{collection}/{item['metadata']['name']}"
                if path in wanted:
                    live[path] = item
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                break
    return live


async def wait_established(rest: Rest, crds: Sequence[str], within: float = 60.0) -> None:
    """Wait until the CRDs named are Established: only then are their kinds served."""
    deadline = time.monotonic() + within
    for name in crds:
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        while True:
            obj = await rest.get(path)
            conditions = (obj.get("status") or {}).get("conditions") or ()
            if any(
                c.get("type") == "Established" and c.get("status") == "True" for c in conditions
            ):
                break
            if time.monotonic() > deadline:
                raise ApiError(504, "Timeout", f"CRD {name} not Established in {within}s")
            await asyncio.sleep(0.2)
