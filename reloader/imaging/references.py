"""Image references and the ``kustomize edit set image`` argument grammar.

The grammar is kustomize's (v5), so a CI job can swap one command for the other:
``NAME=NEWNAME:TAG``, ``NAME=NEWNAME@DIGEST``, ``NAME=NEWNAME:TAG@DIGEST``, ``NAME=NEWNAME``,
``NAME=:TAG`` (only the tag), ``NAME:TAG``, ``NAME:TAG@DIGEST`` and ``NAME@DIGEST``. A ``*``
as the new name, tag or digest keeps what a kustomization's ``images:`` entry holds.

Matching is exact, as kustomize's is: ``nginx`` matches ``nginx``, ``nginx:1.27`` and
``nginx@sha256:...``, but not ``docker.io/library/nginx``; no registry is implied or
normalised, because the text written in git is what a renderer compares.

Rewriting follows kustomize too: a new tag replaces the tag *and* drops a digest (a stale
digest would win over the new tag at pull time) unless a digest is given as well; a new
digest alone drops the tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEEP = "*"
"""Kustomize's "keep the value the kustomization holds" marker."""
_TAG = re.compile(r"[A-Za-z0-9_.{}-]*")
_DIGEST = re.compile(r"[A-Za-z0-9]+(?:[.+_-][A-Za-z0-9]+)*:[A-Za-z0-9_.{}-]*")
_ARG_TAG = re.compile(r"[A-Za-z0-9._-]*|\*")
USAGE = """an image is one of:
  NAME=NEWNAME:TAG   NAME=NEWNAME@DIGEST   NAME=NEWNAME:TAG@DIGEST   NAME=NEWNAME
  NAME=:TAG          NAME:TAG              NAME:TAG@DIGEST           NAME@DIGEST"""


@dataclass(frozen=True)
class ImageChange:
    """One argument: which image (``name``, as written in git) becomes what. Empty fields
    are not changed; ``*`` keeps a kustomization entry's value."""

    name: str
    new_name: str = ""
    new_tag: str = ""
    digest: str = ""

    @property
    def target(self) -> str:
        """What the argument asks for, as a reference (``name`` stands in for no new name)."""
        return join(_given(self.new_name) or self.name, _given(self.new_tag), _given(self.digest))

    def rewrite(self, reference: str) -> str:
        """``reference`` (which matches ``name``) as it reads after this change."""
        name, tag, digest = split(reference)
        if _given(self.new_name):
            name = self.new_name
        new_tag, new_digest = _given(self.new_tag), _given(self.digest)
        if new_tag and new_digest:
            tag, digest = new_tag, new_digest
        elif new_tag:
            tag, digest = new_tag, ""
        elif new_digest:
            tag, digest = "", new_digest
        return join(name, tag, digest)


def _given(value: str) -> str:
    return "" if value == KEEP else value


def split(reference: str) -> tuple[str, str, str]:
    """``[host[:port]/]path[:tag][@digest]`` into (name, tag, digest); a port is no tag."""
    slash = max(reference.find("/"), 0)
    rest = reference[slash:]
    at, colon = rest.find("@"), rest.find(":")
    if at < 0 and colon < 0:
        return reference, "", ""
    if at >= 0 and (colon < 0 or at < colon):
        return reference[: slash + at], "", reference[slash + at + 1 :]
    if at >= 0:
        return (
            reference[: slash + colon],
            reference[slash + colon + 1 : slash + at],
            reference[slash + at + 1 :],
        )
    return reference[: slash + colon], reference[slash + colon + 1 :], ""


def join(name: str, tag: str, digest: str) -> str:
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def matches(reference: str, name: str) -> bool:
    """Whether ``reference`` is image ``name`` with any (or no) tag and digest, as kustomize
    decides it: the name exactly, then an optional ``:tag`` and ``@digest``."""
    if not reference.startswith(name):
        return False
    rest = reference[len(name) :]
    if rest.startswith(":"):
        tag_end = _TAG.match(rest, 1)
        assert tag_end is not None
        rest = rest[tag_end.end() :]
    if rest.startswith("@"):
        return _DIGEST.fullmatch(rest, 1) is not None
    return rest == ""


def parse_change(argument: str) -> ImageChange:
    """One command-line argument; raises ValueError (with the grammar) when it is none."""
    key, sep, value = argument.partition("=")
    if not sep:
        key, value = "", argument
    name, tag, digest = split(value)
    if not sep and name == argument:
        raise ValueError(f"{argument!r} names no new tag or digest; {USAGE}")
    if "=" in value or (sep and not key) or (not sep and not name):
        raise ValueError(f"{argument!r} is not an image change; {USAGE}")
    if tag and not _ARG_TAG.fullmatch(tag):
        raise ValueError(f"tag {tag!r} may only hold letters, digits, '.', '_' and '-'")
    if digest and digest != KEEP and not _DIGEST.fullmatch(digest):
        raise ValueError(f"digest {digest!r} is not ALGORITHM:HEX (e.g. sha256:...)")
    for part in (key or name, name):
        if part and any(c.isspace() for c in part):
            raise ValueError(f"{argument!r}: an image name holds no spaces")
    if sep:
        return ImageChange(name=key, new_name=name, new_tag=tag, digest=digest)
    return ImageChange(name=name, new_tag=tag, digest=digest)
