"""Server-side apply of manifests, with discovery to find each kind's REST path.

Server-side apply with a field manager of our own and ``force``: git is the source of truth
for the fields it sets, other managers keep the fields git does not mention (such as the
reloader's pod-template hash). A server dry-run of the same request runs admission and
validation without persisting anything, which is how a revision is checked before any of it
is applied, and how "is the live object already as git wants it" is answered without a write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reloader.core.manifests import Manifest
from reloader.kube.rest import ApiError, JSONDict, Rest

APPLY_PATCH = "application/apply-patch+yaml"
FIELD_MANAGER = "reloader-gitops"
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


@dataclass(frozen=True)
class ResourceInfo:
    api: str
    plural: str
    namespaced: bool


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
                    api, resource["name"], resource["namespaced"]
                )
        return kinds

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
        info = await self.discovery.resolve(manifest.api_version, manifest.kind)
        if info.namespaced:
            namespace = manifest.namespace or self.default_namespace
            return f"{info.api}/namespaces/{namespace}/{info.plural}/{manifest.name}"
        return f"{info.api}/{info.plural}/{manifest.name}"

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
