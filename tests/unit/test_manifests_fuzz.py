"""Whatever a manifest file holds, loading it ends in plain JSON or in path:line problems.

``load_documents`` is fed structured YAML and JSON (nested mappings, sequences and scalars with
odd strings, tags such as ``!!binary``, ``!!set``, ``!!int``, ``!!float`` and ``!!timestamp``,
control characters, huge and non-finite numbers, duplicate and mixed-type keys, anchors), and
raw text and bytes. It must never raise; what it accepts must be writable as strict JSON and
digestible; every problem has a positive line; no document gives both a problem and a
manifest; a scalar's value never appears in a message; bytes and text give the same verdict.

A ``v1`` ``List`` is the one place where a document gives both, by design: each item is an
object of its own, so a bad item is reported while its siblings load. These generators make no
Lists (``test_manifests.py`` covers them).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reloader.core.manifests import Manifest, Problem, digest_of, load_documents

SECRET = "hunter2xyzzy"  # in values only: it must never be quoted by a problem
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- checking ---


def loaded(path: str, text: str | bytes) -> tuple[list[Manifest], list[Problem]]:
    """load_documents, with what holds for every input checked."""
    manifests, problems = load_documents(path, text)  # never raises
    for manifest in manifests:
        assert isinstance(manifest.obj, dict)
        json.dumps(manifest.obj, allow_nan=False)
        assert len(digest_of(manifest.obj)) == 16
        assert manifest.path == path
        assert manifest.line >= 1
    for problem in problems:
        assert problem.path == path
        assert problem.line >= 1
        assert SECRET not in problem.message
    return manifests, problems


def one_verdict_per_document(
    spans: list[tuple[int, int]], manifests: list[Manifest], problems: list[Problem]
) -> None:
    """No document (lines first..last) has both a manifest and a problem."""
    for first, last in spans:
        has_manifest = any(first <= m.line <= last for m in manifests)
        has_problem = any(first <= p.line <= last for p in problems)
        assert not (has_manifest and has_problem), (first, last, manifests, problems)


# --- structured YAML ---

_odd_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from("\x00\x07\t\x85"),
    max_size=12,
)
_plain_words = st.sampled_from(
    ["a", "yes", "No", "on", "~", "null", "0755", "0x1F", "1:20", "1e5", "1.5", "=", "<<", "-",
     "2024-01-01", ".inf", "-.Inf", ".nan", "1.0e+999", "0b101", "+12", "12_000", "y"]
)  # fmt: skip
_tagged = st.sampled_from(
    ["!!int 12", "!!float 1.5", "!!float .nan", "!!str 12", "!!bool yes",
     "!!null ~", "!!timestamp 2001-12-14", "!!binary aGVsbG8=", "!!set {a, b}", "!!omap [a: 1]",
     "!!pairs [a: 1]", "!Ref x", "!!python/tuple [1]", "!!map {a: 1}", "!!seq [1]", "! 12",
     "!!merge <<", "!!int [1]", "!!str {a: b}", "&anchor 1", "*alias"]
)  # fmt: skip
_secret_values = st.sampled_from(
    [f"!!{tag} {SECRET}" for tag in ("int", "float", "bool", "null", "binary", "timestamp")]
    + [f"!Custom {SECRET}", f'"{SECRET}"', f"'{SECRET}'", f"!!int {SECRET}0", SECRET]
)
_huge = st.one_of(  # built when drawn: a strategy's repr shows them otherwise
    st.integers(4290, 4310).map(lambda n: "1" * n),
    st.integers(3560, 3600).map(lambda n: "-0x" + "f" * n),
    st.integers(3560, 3600).map(lambda n: "!!int 0x" + "f" * n),
    st.integers(1, 3).map(lambda n: "1:" * 1000 * n + "1"),
)


def _yaml_scalar() -> st.SearchStrategy[str]:
    return st.one_of(
        _plain_words,
        _tagged,
        _secret_values,
        _huge,
        _odd_text.map(json.dumps),  # double-quoted, escaped as JSON does (valid YAML, mostly)
        _odd_text.map(lambda s: json.dumps(s, ensure_ascii=False)),
        _odd_text.map(lambda s: "'" + s.replace("'", "''") + "'"),
        _odd_text.filter(lambda s: s.strip() == s and s[:1].isalpha()),  # plain, when it can be
        st.integers().map(str),
        st.floats().map(repr),
    )


_yaml_keys = st.one_of(
    st.sampled_from(
        ["a", "b", "1", '"1"', "yes", "true", "~", "1.5", "<<", "'<<'", "[k]", "{k: v}"]
    ),
    _odd_text.map(json.dumps),
    st.integers(-3, 3).map(str),
)


def _yaml_value(scalar: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Flow-style values, with newlines in places, so that lines vary."""
    gap = st.sampled_from([" ", "\n  ", "\n    "])
    return st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.builds(
                lambda items, g: "[" + ("," + g).join(items) + "]", st.lists(inner, max_size=4), gap
            ),
            st.builds(
                lambda pairs, g: "{" + ("," + g).join(f"{k}: {v}" for k, v in pairs) + "}",
                st.lists(st.tuples(_yaml_keys, inner), max_size=4),
                gap,
            ),
        ),
        max_leaves=12,
    )


@st.composite
def yaml_streams(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]]]:
    """A stream of documents and the lines each spans (from its first line to its last)."""
    documents, spans, line = [], [], 1
    head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\n"
    for _ in range(draw(st.integers(1, 4))):
        body = draw(
            st.one_of(
                _yaml_value(_yaml_scalar()).map(lambda v: f"data: {v}\n"),
                _yaml_value(_yaml_scalar()).map(lambda v: v + "\n"),
                _yaml_value(_yaml_scalar()).map(lambda v: f"d:\n  - {v}\n  - k: {v}\n"),
            )
        )
        text = (head if draw(st.booleans()) else "") + body
        lines = text.count("\n")
        documents.append("---\n" + text)
        spans.append((line, line + lines))
        line += lines + 1
    return "".join(documents), spans


@FAST
@given(yaml_streams())
def test_structured_yaml_loads_as_json_or_is_refused_at_a_line(
    stream: tuple[str, list[tuple[int, int]]],
) -> None:
    text, spans = stream
    manifests, problems = loaded("f.yaml", text)
    one_verdict_per_document(spans, manifests, problems)
    assert load_documents("f.yaml", text.encode()) == (manifests, problems)  # as read from disk


# --- structured JSON ---


def _json_number() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers().map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "0.5", "-0"]),
        st.integers(4290, 4310).map(lambda n: "-" + "9" * n),
    )


def _json_string(*, secret: bool = True) -> st.SearchStrategy[str]:
    return st.one_of(
        _odd_text.map(json.dumps),
        _odd_text.map(lambda s: json.dumps(s, ensure_ascii=False)),
        st.sampled_from(['"\\ud800"', '"a\\udfffb"', '"\\ud83d\\ude00"', '"\\\\ud800"']),
        st.just(json.dumps(SECRET if secret else "s")),
    )


def _json_value() -> st.SearchStrategy[str]:
    scalar = st.one_of(_json_number(), _json_string(), st.sampled_from(["true", "null"]))
    gap = st.sampled_from(["", " ", "\n", "\r\n", "\n\t"])
    keys = st.one_of(_json_string(secret=False), st.sampled_from(['"a"', '"items"', '"kind"']))
    return st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.builds(
                lambda items, g: "[" + ("," + g).join(items) + "]", st.lists(inner, max_size=4), gap
            ),
            st.builds(
                lambda pairs, g: "{" + g + ("," + g).join(f"{k}:{g}{v}" for k, v in pairs) + "}",
                st.lists(st.tuples(keys, inner), max_size=4),
                gap,
            ),
        ),
        max_leaves=12,
    )


@FAST
@given(_json_value(), st.booleans())
def test_structured_json_loads_as_json_or_is_refused_at_a_line(value: str, wrap: bool) -> None:
    text = '{"apiVersion": "v1", "kind": "ConfigMap", "data":\n' + value + "\n}" if wrap else value
    manifests, problems = loaded("f.json", text)
    assert not (manifests and problems)  # one document a file
    assert load_documents("f.json", text.encode()) == (manifests, problems)


@FAST
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | _odd_text,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(_odd_text, inner, max_size=3), max_leaves=10))  # fmt: skip
def test_what_python_writes_as_json_loads_or_is_refused(value: Any) -> None:
    text = json.dumps({"kind": "X", "v": value})  # NaN and Infinity included
    manifests, problems = loaded("f.json", text)
    assert bool(manifests) != bool(problems)


# --- raw text and bytes ---

_yaml_alphabet = st.sampled_from([*"ab01 :-,[]{}#&*!|>'\"%@`?~\n\t\r\x00\x07\\.=<", "\u2028"])
_any_text = st.text(_yaml_alphabet, max_size=60) | st.text(max_size=60)


@FAST
@given(_any_text, st.sampled_from([".yaml", ".json"]))
def test_raw_text_never_raises(text: str, suffix: str) -> None:
    manifests, problems = loaded("f" + suffix, text)
    if suffix == ".json":
        assert not (manifests and problems)


@FAST
@given(st.binary(max_size=80), st.sampled_from([".yaml", ".yml", ".json"]))
def test_raw_bytes_never_raise_as_bytes_or_decoded(data: bytes, suffix: str) -> None:
    loaded("f" + suffix, data)
    loaded("f" + suffix, data.decode("utf-8", errors="replace"))
    loaded("f" + suffix, data.decode("utf-8", errors="surrogateescape"))  # lone surrogates
    loaded("f" + suffix, base64.b64encode(data).decode())
