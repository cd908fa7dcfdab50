"""Stakater Reloader's filter flags as data: selectors, ignored namespaces, kinds and types.

Everything is parsed and checked before anything starts, so a typo is a usage error naming
the flag instead of a watch the API server refuses again and again. Names that end up in a
field selector are checked to be namespace names, so a value such as ``a,metadata.name=b``
cannot widen or narrow a watch behind the user's back.

Filters narrow what the API server sends, never what reloader decides from: an object outside
them is not "missing", it is unseen. So, where a filter hides objects of a kind, a reference
to one that reloader cannot see neither counts nor holds a workload, and an object entering
or leaving the view (a label added, a kind ignored from now on) changes the record without
rolling (``visibility_changed_only``): only content seen before and after rolls anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Set

from reloader.core.references import Kind

RESOURCE_TYPES = {"configmaps": Kind.CONFIGMAP, "secrets": Kind.SECRET}
"""``--resources-to-ignore`` values (Stakater's), accepted in any case."""

WORKLOAD_TYPES = {
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
    "cronjobs": "CronJob",
    "jobs": "Job",
    "rollouts": "Rollout",
}
"""``--ignored-workload-types`` values: Stakater's ``jobs`` and ``cronjobs``, and the rest."""

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_KEY = rf"(?:{_PREFIX}/)?{_NAME}"
_VALUE = rf"(?:{_NAME})?"
_EXISTS = re.compile(rf"(!?)\s*({_KEY})")
_EQUALS = re.compile(rf"({_KEY})\s*(==|=|!=)\s*({_VALUE})")
_SET = re.compile(rf"({_KEY})\s+(in|notin)\s*\(\s*({_VALUE}(?:\s*,\s*{_VALUE})*)\s*\)")
_COLON = re.compile(rf"({_KEY})\s*:\s*(\*|{_VALUE})")
_WILDCARD = re.compile(rf"({_KEY})\s*==?\s*\*")
_NAMESPACE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")


def split_list(text: str) -> list[str]:
    """Comma-separated items, outside parentheses (``a in (x,y),b`` is two), blanks dropped."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _term(term: str) -> str:
    if match := _COLON.fullmatch(term):  # Stakater's key:value, and key:* for "has the label"
        key, value = match.groups()
        return key if value == "*" else f"{key}={value}"
    if match := _WILDCARD.fullmatch(term):
        return match.group(1)
    if match := _EQUALS.fullmatch(term):
        key, op, value = match.groups()
        return f"{key}{'=' if op == '==' else op}{value}"
    if match := _SET.fullmatch(term):
        key, op, values = match.groups()
        return f"{key} {op} ({','.join(v.strip() for v in values.split(','))})"
    if match := _EXISTS.fullmatch(term):
        return "".join(match.groups())
    raise ValueError(
        f"{term!r} is not a label requirement (want key=value, key!=value, key in (a,b), "
        "key, !key, or Stakater's key:value and key:*)"
    )


def label_selector(values: Iterable[str]) -> str | None:
    """One Kubernetes label selector (requirements ANDed) from the flag's values, or None.

    Each value is a comma list of requirements in label-selector syntax or Stakater's
    ``key:value`` (``key:*``, like ``key=*``, means the label is present).
    """
    terms = [_term(term) for value in values for term in split_list(value)]
    return ",".join(dict.fromkeys(terms)) or None


def namespace_names(values: Iterable[str], *, flag: str) -> tuple[str, ...]:
    """The namespace names in comma lists, in order, once each; each checked to be one."""
    names = [name for value in values for name in split_list(value)]
    for name in names:
        if not _NAMESPACE.fullmatch(name):
            raise ValueError(f"{flag}: {name!r} is not a namespace name")
    return tuple(dict.fromkeys(names))


def _choices(values: Iterable[str], table: Mapping[str, str], flag: str) -> list[str]:
    chosen = []
    for value in values:
        for item in split_list(value):
            if item.lower() not in table:
                raise ValueError(f"{flag} accepts {', '.join(table)}; not {item!r}")
            chosen.append(table[item.lower()])
    return chosen


def ignored_resources(values: Iterable[str]) -> frozenset[Kind]:
    """The kinds ``--resources-to-ignore`` names (``configmaps``, ``secrets``, any case)."""
    table = {name: kind.value for name, kind in RESOURCE_TYPES.items()}
    return frozenset(Kind(k) for k in _choices(values, table, "--resources-to-ignore"))


def ignored_workload_kinds(values: Iterable[str]) -> frozenset[str]:
    """The workload kinds ``--ignored-workload-types`` names (``jobs``, ``cronjobs``, ...)."""
    return frozenset(_choices(values, WORKLOAD_TYPES, "--ignored-workload-types"))


def excluding(field: str, names: Iterable[str]) -> str | None:
    """A field selector leaving out ``names`` (``metadata.namespace!=a,...``), or None."""
    return ",".join(f"{field}!={name}" for name in names) or None


def visibility_changed_only(
    before: Mapping[str, str], after: Mapping[str, str], kinds: Set[Kind]
) -> bool:
    """Whether two records (``"Kind/name"`` to hash) differ only by objects of ``kinds``
    entering or leaving the set, and no object present in both changed."""
    names = {kind.value for kind in kinds}
    for key in before.keys() ^ after.keys():
        if key.partition("/")[0] not in names:
            return False
    return all(before[key] == after[key] for key in before.keys() & after.keys())
