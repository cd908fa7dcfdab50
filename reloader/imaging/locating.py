"""Where images are named in a YAML file: the nodes an edit may touch, with their marks.

Files are *composed*, not loaded: a node keeps the character offsets of its text, which is
what lets the editor replace one scalar and leave every other byte alone. Three places name
an image:

- ``image:`` of the containers, initContainers and ephemeralContainers of a pod spec, found
  by kind (Pod, PodTemplate, Deployment, StatefulSet, DaemonSet, ReplicaSet,
  ReplicationController, Job, CronJob) or by a path the user names for a custom resource;
- the ``images:`` entries of a kustomization;
- a key of a Helm values file the user names (a string, or a mapping of ``repository`` with
  ``registry``, ``tag``, ``digest``).

A node reached through an alias, or one carrying an anchor or a tag, is reported as
``aliased``: editing its text would change other places too (or keep them stale), so the
editor refuses it rather than guess.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import yaml

Path = tuple[str | int, ...]
"""Keys and indices from a document's root to a node."""

POD_SPECS: dict[str, Path] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class CustomPath:
    """``[GROUP/]KIND:PATH``: the pod template at PATH in objects of that kind."""

    kind: str
    group: str | None
    path: Path

    @classmethod
    def parse(cls, text: str) -> CustomPath:
        kind_part, sep, path = text.partition(":")
        group, slash, kind = kind_part.rpartition("/")
        keys = path.split(".")
        if not sep or not kind or (slash and not group) or not all(keys):
            raise ValueError(
                f"--custom-path {text!r}: want [GROUP/]KIND:PATH to a pod template, "
                "e.g. argoproj.io/Rollout:spec.template"
            )
        return cls(
            kind=kind,
            group=group if slash else None,
            path=tuple(int(k) if k.isdigit() else k for k in keys),
        )

    def applies_to(self, kind: str, api_version: str) -> bool:
        group = api_version.rpartition("/")[0]
        return kind == self.kind and (self.group is None or self.group == group)


@dataclass(frozen=True)
class Found:
    """A node that names (or may name) an image. ``what``: ``image`` (a reference string),
    ``kustomize`` (an ``images:`` entry mapping), ``helm`` (a values key: string or
    mapping)."""

    what: str
    node: yaml.Node
    path: Path
    doc: int
    aliased: bool


@dataclass(frozen=True)
class Document:
    """One composed document of a file: its root node and its index in the file."""

    root: yaml.Node
    index: int


def compose(text: str) -> list[Document]:
    """Every document of ``text``; raises ``yaml.YAMLError`` with a mark on bad YAML."""
    docs = yaml.compose_all(text, Loader=yaml.SafeLoader)
    return [Document(root, i) for i, root in enumerate(docs) if root is not None]


def mapping_get(node: yaml.Node, key: str) -> tuple[yaml.Node | None, bool]:
    """The value of ``key`` in a mapping node, and whether it was reached by an alias (its
    text starts before its key ends)."""
    if not isinstance(node, yaml.MappingNode):
        return None, False
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v, v.start_mark.index < k.end_mark.index
    return None, False


def items(node: yaml.Node) -> Iterator[tuple[int, yaml.Node, bool]]:
    """A sequence's items, each with whether it was reached by an alias."""
    if not isinstance(node, yaml.SequenceNode):
        return
    cursor = node.start_mark.index
    for i, item in enumerate(node.value):
        yield i, item, item.start_mark.index < cursor
        cursor = max(cursor, item.end_mark.index)


def marked(node: yaml.Node, text: str) -> bool:
    """Whether the node's text opens with an anchor (``&a``) or a tag (``!x``)."""
    return text[node.start_mark.index : node.start_mark.index + 1] in ("&", "!")


def walk(node: yaml.Node, path: Path, text: str) -> tuple[yaml.Node | None, bool]:
    """Follow ``path`` from ``node``; also whether any step was aliased or anchored."""
    aliased = marked(node, text)
    for key in path:
        if isinstance(key, int):
            found = [(it, a) for i, it, a in items(node) if i == key]
            child, alias = found[0] if found else (None, False)
        else:
            child, alias = mapping_get(node, key)
        if child is None:
            return None, aliased
        node, aliased = child, aliased or alias or marked(child, text)
    return node, aliased


def _scalar(node: yaml.Node | None, key: str) -> str | None:
    value, _ = mapping_get(node, key) if node is not None else (None, False)
    return value.value if isinstance(value, yaml.ScalarNode) else None


def container_images(doc: Document, text: str, custom: Sequence[CustomPath]) -> Iterator[Found]:
    """The ``image:`` scalars of every container of a workload (or named custom resource)."""
    kind = _scalar(doc.root, "kind") or ""
    api_version = _scalar(doc.root, "apiVersion") or ""
    specs = [POD_SPECS[kind]] if kind in POD_SPECS else []
    specs += [(*c.path, "spec") for c in custom if c.applies_to(kind, api_version)]
    for spec_path in specs:
        spec, aliased = walk(doc.root, spec_path, text)
        if spec is None:
            continue
        for list_key in CONTAINER_LISTS:
            containers, alias = mapping_get(spec, list_key)
            if containers is None:
                continue
            for i, container, item_alias in items(containers):
                image, image_alias = mapping_get(container, "image")
                if image is None:
                    continue
                yield Found(
                    what="image",
                    node=image,
                    path=(*spec_path, list_key, i, "image"),
                    doc=doc.index,
                    aliased=aliased
                    or alias
                    or item_alias
                    or image_alias
                    or marked(containers, text)
                    or marked(container, text)
                    or marked(image, text),
                )


def is_kustomization(doc: Document, filename: str) -> bool:
    kind = _scalar(doc.root, "kind")
    api_version = _scalar(doc.root, "apiVersion") or ""
    if kind is not None:
        return kind == "Kustomization" and api_version.startswith("kustomize.config.k8s.io/")
    return filename in KUSTOMIZATION_FILES


def kustomize_entries(doc: Document, text: str) -> Iterator[Found]:
    """The entries of a kustomization's ``images:`` list."""
    images, aliased = mapping_get(doc.root, "images")
    if images is None:
        return
    aliased = aliased or marked(images, text)
    for i, entry, alias in items(images):
        yield Found(
            what="kustomize",
            node=entry,
            path=("images", i),
            doc=doc.index,
            aliased=aliased or alias or marked(entry, text),
        )


def helm_value(doc: Document, text: str, key: Path) -> Found | None:
    """The node at a values file's dotted ``key`` (None when it is not there)."""
    node, aliased = walk(doc.root, key, text)
    if node is None:
        return None
    return Found(what="helm", node=node, path=key, doc=doc.index, aliased=aliased)


def parse_key(text: str) -> Path:
    """A dotted values key (``image``, ``app.image``, ``workers.0.image``)."""
    keys = text.split(".")
    if not all(keys):
        raise ValueError(f"{text!r} is not a dotted key such as image or app.image")
    return tuple(int(k) if k.isdigit() else k for k in keys)
