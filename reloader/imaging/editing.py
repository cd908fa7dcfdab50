"""Edit image references in the text of one YAML file, changing nothing else.

A round trip through a YAML library reformats the file, reorders keys and drops comments, so
a one-line bump becomes a diff nobody can review. Here an edit is a *splice*: the character
span of one scalar (from the composed node's marks) is replaced by the new value, written in
the scalar's own quoting style; every other character, line ending, BOM and comment stays.
Keys that kustomize's rules add or drop in an ``images:`` entry are inserted or removed as
whole lines (or ``, key: value`` inside ``{...}``), at the indentation of their siblings.

What cannot be edited exactly is refused, naming ``path:line``, with the file untouched: a
value reached through an alias or carrying an anchor or tag, a block or multi-line scalar,
a key that shares its line with the ``- `` of its list item. Then, as a last line of
defence, the new text is loaded and must equal the old data with exactly the intended
values changed; if it does not, the edit is refused too.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

from reloader.imaging import locating, scalars
from reloader.imaging.locating import CustomPath, Document, Found, Path
from reloader.imaging.references import KEEP, ImageChange, join, matches

REMOVED = object()
"""An expected value: the key is gone."""


class Refused(Exception):
    """This file cannot be edited exactly; the message is ``line: why`` (the caller adds the
    file's name)."""


@dataclass(frozen=True)
class Splice:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Expect:
    """After the edit, the loaded document ``doc`` holds ``value`` at ``path``."""

    doc: int
    path: Path
    value: object
    append: bool = False


@dataclass(frozen=True)
class Change:
    """One reference that matched, as the user reads it: ``line: old -> new``."""

    line: int
    image: str
    old: str
    new: str


@dataclass
class Plan:
    """The edits of one file: what the user is told, the splices, and what must hold."""

    changes: list[Change] = field(default_factory=list)
    splices: list[Splice] = field(default_factory=list)
    expects: list[Expect] = field(default_factory=list)

    @property
    def matched(self) -> set[str]:
        return {c.image for c in self.changes}


@dataclass(frozen=True)
class Targets:
    """What to look for beyond workloads: custom resources, kustomizations, values keys."""

    custom: Sequence[CustomPath] = ()
    helm_keys: Sequence[Path] = ()
    kustomization: bool = True


def plan(
    text: str,
    *,
    filename: str,
    changes: Sequence[ImageChange],
    targets: Targets = Targets(),
    add: Sequence[ImageChange] = (),
) -> Plan:
    """The edits ``changes`` make to ``text``; ``add``: changes to record as new entries of
    this kustomization's ``images:`` (nothing else named them). Raises ``Refused``; a file
    that is not YAML raises ``yaml.YAMLError``."""
    editor = _Editor(text)
    for doc in locating.compose(text):
        for found in locating.container_images(doc, text, targets.custom):
            editor.reference(found, changes)
        if targets.kustomization and locating.is_kustomization(doc, filename):
            for found in locating.kustomize_entries(doc, text):
                editor.kustomize_entry(found, changes)
            if add:
                editor.add_entries(doc, add)
        for key in targets.helm_keys:
            value = locating.helm_value(doc, text, key)
            if value is not None:
                editor.helm(value, changes)
    return editor.plan


def splice(text: str, splices: Sequence[Splice]) -> str:
    """``text`` with each span replaced (spans must not overlap)."""
    out, at = [], 0
    for s in sorted(splices, key=lambda s: (s.start, s.end)):
        if s.start < at:
            raise Refused(f"two edits overlap at offset {s.start}")
        out += [text[at : s.start], s.text]
        at = s.end
    out.append(text[at:])
    return "".join(out)


def verify(old: str, new: str, expects: Sequence[Expect]) -> None:
    """Raise ``Refused`` unless loading ``new`` gives the data of ``old`` with exactly the
    ``expects`` applied: no other value, type or document changed."""
    wanted = list(yaml.safe_load_all(old))
    for e in expects:
        parent = wanted[e.doc]
        for key in e.path[:-1]:
            parent = parent[key]
        last = e.path[-1]
        if e.append:
            parent[last].append(copy.deepcopy(e.value))
        elif e.value is REMOVED:
            del parent[last]
        else:
            parent[last] = copy.deepcopy(e.value)
    try:
        got = list(yaml.safe_load_all(new))
    except yaml.YAMLError as exc:
        raise Refused(f"the edited text would not be valid YAML ({exc}); left untouched") from None
    if got != wanted:
        raise Refused("the edit would change more than the image; left untouched")


class _Editor:
    def __init__(self, text: str) -> None:
        self.text = text
        self.nl = "\r\n" if "\r\n" in text else "\n"
        self.plan = Plan()

    # --- what matched ---

    def reference(self, found: Found, changes: Sequence[ImageChange]) -> None:
        """A scalar holding a whole reference (``image:``, a Helm string value)."""
        node = found.node
        if not isinstance(node, yaml.ScalarNode):
            return
        change = next((c for c in changes if matches(node.value, c.name)), None)
        if change is None:
            return
        self._editable(found)
        new = change.rewrite(node.value)
        self._report(node, change.name, node.value, new)
        if new != node.value:
            self._replace(node, new, flow=self._in_flow(node))
            self.plan.expects.append(Expect(found.doc, found.path, new))

    def kustomize_entry(self, found: Found, changes: Sequence[ImageChange]) -> None:
        entry = found.node
        name = _value(entry, "name")
        change = next((c for c in changes if name is not None and c.name == name), None)
        if change is None or not isinstance(entry, yaml.MappingNode):
            return
        self._editable(found)
        before = {k: _value(entry, k) or "" for k in ("newName", "newTag", "digest")}
        after = dict(before)
        if change.new_name and change.new_name != KEEP:
            after["newName"] = change.new_name
        if change.new_tag and change.new_tag != KEEP:
            after["newTag"] = change.new_tag
            if not change.digest:
                after["digest"] = ""
        if change.digest and change.digest != KEEP:
            after["digest"] = change.digest
            if not change.new_tag:
                after["newTag"] = ""
        self._report(
            entry, change.name, _entry_image(name or "", before), _entry_image(name or "", after)
        )
        for key in ("newName", "newTag", "digest"):
            if after[key] != before[key]:
                self._set_key(entry, key, after[key] or None, doc=found.doc, path=found.path)

    def helm(self, found: Found, changes: Sequence[ImageChange]) -> None:
        """A values key: a reference string, or ``repository`` (+ ``registry``) with
        ``tag`` and ``digest`` keys."""
        node = found.node
        if isinstance(node, yaml.ScalarNode):
            self.reference(found, changes)
            return
        if not isinstance(node, yaml.MappingNode):
            raise Refused(f"{_line(node)}: {'.'.join(map(str, found.path))} is a list")
        repository, registry = _value(node, "repository"), _value(node, "registry")
        if repository is None:
            raise Refused(
                f"{_line(node)}: {'.'.join(map(str, found.path))} holds no repository "
                "(point --helm-values at a string or a mapping with repository and tag)"
            )
        full = f"{registry}/{repository}" if registry else repository
        change = next((c for c in changes if c.name in (repository, full)), None)
        if change is None:
            return
        self._editable(found)
        before = {"tag": _value(node, "tag") or "", "digest": _value(node, "digest") or ""}
        after = dict(before)
        new_name = change.new_name if change.new_name != KEEP else ""
        if change.new_tag and change.new_tag != KEEP:
            after["tag"] = change.new_tag
            if not change.digest:
                after["digest"] = ""
        if change.digest and change.digest != KEEP:
            after["digest"] = change.digest
        names = self._helm_names(node, registry, new_name)
        self._report(
            node,
            change.name,
            join(full, before["tag"], before["digest"]),
            join(new_name or full, after["tag"], after["digest"]),
        )
        for key, value in {**names, **after}.items():
            if value != (_value(node, key) or ""):
                if key == "digest" and not value and _value(node, key) is None:
                    continue  # no digest key, none wanted
                self._set_key(node, key, value, doc=found.doc, path=found.path, keep=True)

    def _helm_names(self, node: yaml.MappingNode, registry: str | None, new: str) -> dict[str, str]:
        if not new:
            return {}
        if registry is None:
            return {"repository": new}
        host, slash, rest = new.partition("/")
        if not slash or not ("." in host or ":" in host or host == "localhost"):
            raise Refused(
                f"{_line(node)}: the values name a registry ({registry}); the new name "
                f"{new!r} must start with one (e.g. registry.example.com/{new})"
            )
        return {"registry": host, "repository": rest}

    def add_entries(self, doc: Document, changes: Sequence[ImageChange]) -> None:
        """New ``images:`` entries for ``changes``, written as ``kustomize edit set image``
        would (name, newName, newTag, digest), at the end of the list or of the document."""
        entries = [_entry(c) for c in changes]
        images, aliased = locating.mapping_get(doc.root, "images")
        root = doc.root
        if aliased or not isinstance(root, yaml.MappingNode) or root.flow_style:
            raise Refused(f"{_line(root)}: cannot add an images: entry to this kustomization")
        splices = len(self.plan.splices)
        self._add_entries(doc, root, images, entries)
        at = self.plan.splices[splices].start
        line = self.text.count("\n", 0, at) + 1 + (self.plan.splices[splices].text[:1] in "\r\n")
        for change in changes:
            self.plan.changes.append(Change(line, change.name, change.name, change.target))

    def _add_entries(
        self,
        doc: Document,
        root: yaml.MappingNode,
        images: yaml.Node | None,
        entries: list[dict[str, str]],
    ) -> None:
        if images is None:
            self._insert_lines(root, ["images:", *self._entry_lines(entries, "")], indent=None)
            self.plan.expects.append(Expect(doc.index, ("images",), entries))
            return
        if not isinstance(images, yaml.SequenceNode):
            raise Refused(f"{_line(images)}: images: is not a list")
        if images.flow_style:
            self._flow_append(images, entries)
        else:
            col = images.start_mark.column if images.value else root.value[0][0].start_mark.column
            self._insert_lines(images, self._entry_lines(entries, " " * col), indent="")
        for entry in entries:
            self.plan.expects.append(Expect(doc.index, ("images",), entry, append=True))

    # --- splicing ---

    def _editable(self, found: Found) -> None:
        if found.aliased:
            raise Refused(
                f"{_line(found.node)}: this image is reached through a YAML anchor, alias or "
                "tag; editing it here would change other places too: edit it by hand"
            )

    def _report(self, node: yaml.Node, image: str, old: str, new: str) -> None:
        self.plan.changes.append(Change(_line(node), image, old, new))

    def _replace(self, node: yaml.ScalarNode, value: str, *, flow: bool) -> None:
        if node.style in ("|", ">"):
            raise Refused(f"{_line(node)}: a block scalar ({node.style}) is not edited in place")
        if node.start_mark.line != node.end_mark.line:
            raise Refused(f"{_line(node)}: a scalar over several lines is not edited in place")
        start, end = node.start_mark.index, node.end_mark.index
        text = scalars.render(value, style=node.style, flow=flow)
        if start == end and self.text[start - 1 : start] == ":":
            text = " " + text  # an empty value (``key:``) gains its space
        self.plan.splices.append(Splice(start, end, text))

    def _in_flow(self, node: yaml.Node) -> bool:
        """Whether ``node`` sits inside ``{...}`` or ``[...]``: an unclosed bracket before
        it on its line, or the line's text opens with one (a conservative guess: a wrong
        "yes" only quotes a value, and the reading back checks the rest)."""
        line_start = self.text.rfind("\n", 0, node.start_mark.index) + 1
        before = self.text[line_start : node.start_mark.index]
        return any(c in before for c in "{[,")

    def _set_key(
        self,
        mapping: yaml.MappingNode,
        key: str,
        value: str | None,
        *,
        doc: int,
        path: Path,
        keep: bool = False,
    ) -> None:
        """Set ``key`` of ``mapping`` to ``value``; None removes the key (``keep``: an empty
        string is written, not removed)."""
        pairs = mapping.value
        index = next((i for i, (k, _) in enumerate(pairs) if k.value == key), None)
        if value is None and not keep:
            if index is not None:
                self._remove_pair(mapping, index)
                self.plan.expects.append(Expect(doc, (*path, key), REMOVED))
            return
        value = value or ""
        if index is not None:
            node = pairs[index][1]
            if not isinstance(node, yaml.ScalarNode):
                raise Refused(f"{_line(node)}: {key} is not a string")
            self._replace(node, value, flow=bool(mapping.flow_style))
        elif mapping.flow_style:
            last = pairs[-1][1]
            text = f", {key}: {scalars.render(value, style=scalars.PLAIN, flow=True)}"
            self.plan.splices.append(Splice(last.end_mark.index, last.end_mark.index, text))
        else:
            line = f"{key}: {scalars.render(value, style=scalars.PLAIN, flow=False)}"
            self._insert_lines(mapping, [line], indent=None)
        self.plan.expects.append(Expect(doc, (*path, key), value))

    def _remove_pair(self, mapping: yaml.MappingNode, index: int) -> None:
        key, value = mapping.value[index]
        if mapping.flow_style:
            if index > 0:
                start = mapping.value[index - 1][1].end_mark.index
                end = value.end_mark.index
            elif len(mapping.value) > 1:
                start, end = key.start_mark.index, mapping.value[1][0].start_mark.index
            else:
                start, end = key.start_mark.index, value.end_mark.index
            self.plan.splices.append(Splice(start, end, ""))
            return
        line_start = self.text.rfind("\n", 0, key.start_mark.index) + 1
        if self.text[line_start : key.start_mark.index].strip():
            raise Refused(f"{_line(key)}: {key.value} shares its line; remove it by hand")
        end = self.text.find("\n", _last_end(value))
        self.plan.splices.append(Splice(line_start, len(self.text) if end < 0 else end + 1, ""))

    def _insert_lines(self, block: yaml.Node, lines: list[str], *, indent: str | None) -> None:
        """Lines after the last line of ``block`` (a block mapping or sequence), indented as
        its first key (``indent`` None) or as given."""
        if indent is None:
            assert isinstance(block, yaml.MappingNode)
            indent = " " * block.value[0][0].start_mark.column
        end = self.text.find("\n", _last_end(block))
        text = "".join(indent + line + self.nl for line in lines)
        if end < 0:
            self.plan.splices.append(Splice(len(self.text), len(self.text), self.nl + text))
        else:
            self.plan.splices.append(Splice(end + 1, end + 1, text))

    def _entry_lines(self, entries: list[dict[str, str]], indent: str) -> list[str]:
        lines = []
        for entry in entries:
            for i, (key, value) in enumerate(entry.items()):
                mark = "- " if i == 0 else "  "
                rendered = scalars.render(value, style=scalars.PLAIN, flow=False)
                lines.append(f"{indent}{mark}{key}: {rendered}")
        return lines

    def _flow_append(self, images: yaml.SequenceNode, entries: list[dict[str, str]]) -> None:
        texts = [
            "{"
            + ", ".join(
                f"{k}: {scalars.render(v, style=scalars.PLAIN, flow=True)}"
                for k, v in entry.items()
            )
            + "}"
            for entry in entries
        ]
        if images.value:
            at = images.value[-1].end_mark.index
            self.plan.splices.append(Splice(at, at, "".join(", " + t for t in texts)))
        else:
            close = images.end_mark.index - 1
            self.plan.splices.append(Splice(close, close, ", ".join(texts)))


def _entry(change: ImageChange) -> dict[str, str]:
    entry = {"name": change.name}
    for key, value in (
        ("newName", change.new_name),
        ("newTag", change.new_tag),
        ("digest", change.digest),
    ):
        if value and value != KEEP:
            entry[key] = value
    return entry


def _entry_image(name: str, fields: dict[str, str]) -> str:
    return join(fields["newName"] or name, fields["newTag"], fields["digest"])


def _value(mapping: yaml.Node, key: str) -> str | None:
    node, _ = locating.mapping_get(mapping, key)
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _last_end(node: yaml.Node) -> int:
    """Where the last scalar (or flow collection) of ``node`` ends: a block collection's own
    end mark lies at the next token, past any comments and blank lines."""
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style:
        if not node.value:
            break
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return int(node.end_mark.index)
