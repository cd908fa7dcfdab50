"""Loading and validating a revision's manifests (reloader.core.manifests)."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from reloader.core import manifests as manifests_module
from reloader.core.manifests import (
    ALIASES_REFUSED,
    Manifest,
    Problem,
    digest_of,
    load_documents,
    load_tree,
    validate,
)


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def shown(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


def configmap(name: str = "app", **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata}}


def manifest(obj: dict[str, Any], path: str = "m.yaml", line: int = 1) -> Manifest:
    return Manifest(path, line, obj)


CONFIGMAP = lines("apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: app")


# --- the data types ---


def test_a_valid_document_loads_with_its_identity() -> None:
    manifests, problems = load_documents("apps/cm.yaml", CONFIGMAP + "data:\n  k: v\n")
    assert problems == []
    [loaded] = manifests
    assert (loaded.path, loaded.line) == ("apps/cm.yaml", 1)
    assert loaded.obj == {**configmap(), "data": {"k": "v"}}
    assert (loaded.api_version, loaded.kind, loaded.name, loaded.namespace) == (
        "v1",
        "ConfigMap",
        "app",
        None,
    )
    assert loaded.key == ("", "ConfigMap", "", "app")


def test_key_is_group_kind_namespace_name_without_version() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment"}
    obj = {**deployment, "metadata": {"name": "api", "namespace": "web"}}
    assert manifest(obj).key == ("apps", "Deployment", "web", "api")
    assert manifest({**obj, "apiVersion": "apps/v1beta2"}).key == manifest(obj).key


def test_properties_tolerate_malformed_objects() -> None:
    broken = manifest({"apiVersion": 1, "metadata": ["x"]})
    assert (broken.api_version, broken.kind, broken.name, broken.namespace) == ("", "", "", None)
    assert manifest(configmap(namespace="")).namespace is None


def test_problem_prints_as_path_line_message() -> None:
    assert str(Problem("apps/a.yaml", 7, "boom")) == "apps/a.yaml:7: boom"
    assert sorted([Problem("b", 1, "x"), Problem("a", 9, "x"), Problem("a", 2, "x")]) == [
        Problem("a", 2, "x"),
        Problem("a", 9, "x"),
        Problem("b", 1, "x"),
    ]


# --- YAML ---


def test_multi_document_line_numbers() -> None:
    text = lines(
        "apiVersion: v1",  # 1
        "kind: ConfigMap",
        "metadata: {name: a}",
        "---",
        "",
        "# the second document starts at line 7",
        "apiVersion: v1",  # 7
        "kind: ConfigMap",
        "metadata: {name: b}",
        "---",
        "apiVersion: v1",
        "apiVersion: v1",  # 12: duplicate key
        "kind: ConfigMap",
        "metadata: {name: c}",
    )
    manifests, problems = load_documents("multi.yaml", text)
    assert [(m.line, m.name) for m in manifests] == [(1, "a"), (7, "b")]
    assert shown(problems) == ["multi.yaml:12: duplicate key 'apiVersion'"]


def test_validation_problems_point_at_the_document_start() -> None:
    text = CONFIGMAP + lines(
        "---", "# comment", "apiVersion: v1", "kind: ConfigMap", "metadata: {}"
    )
    _, problems = load_tree([("a.yaml", text)])
    assert shown(problems) == ["a.yaml:7: metadata.name must be a non-empty string"]


@pytest.mark.parametrize(
    "text",
    ["", "---\n", "# only a comment\n", "---\n---\n# c\n---\nnull\n---\n~\n", "--- # c\n...\n"],
)
def test_empty_and_null_documents_are_skipped(text: str) -> None:
    assert load_documents("empty.yaml", text) == ([], [])


def test_yaml_syntax_error_reports_its_line_and_keeps_earlier_documents() -> None:
    text = CONFIGMAP + lines("---", "apiVersion: v1", "kind: ConfigMap", "  name: x")
    manifests, problems = load_documents("bad.yaml", text)
    assert [m.line for m in manifests] == [1]
    [problem] = shown(problems)  # the wording is libyaml's or PyYAML's
    assert problem.startswith("bad.yaml:8: invalid YAML: mapping values are not allowed")


def test_unclosed_flow_sequence_reports_where_it_was_detected() -> None:
    _, problems = load_documents("bad.yml", lines("a: b", "c: [1, 2", "d: e"))
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(3, "invalid YAML")]


def test_duplicate_key_in_a_nested_mapping() -> None:
    text = CONFIGMAP + lines("  labels:", "    app: x", "    tier: web", "    app: y")
    manifests, problems = load_documents("dup.yaml", text)
    assert manifests == []
    assert shown(problems) == ["dup.yaml:8: duplicate key 'app'"]


def test_duplicate_keys_are_found_after_yaml_1_1_resolution() -> None:
    _, problems = load_documents("dup.yaml", lines("data:", "  yes: a", "  true: b"))
    assert shown(problems) == ["dup.yaml:3: duplicate key True"]


def test_duplicate_key_in_a_mapping_inside_a_sequence() -> None:
    text = lines("containers:", "- name: a", "  image: x", "  name: b")
    assert shown(load_documents("d.yaml", text)[1]) == ["d.yaml:4: duplicate key 'name'"]


def billion_laughs(levels: int = 10) -> str:
    rows = ["a0: &a0 [" + ", ".join(['"lol"'] * 10) + "]"]
    rows += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return lines(*rows)


@pytest.mark.timeout(5)
def test_billion_laughs_is_refused_quickly_and_in_little_memory() -> None:
    text = CONFIGMAP + "---\n" + billion_laughs()  # 10**10 "lol"s if expanded
    tracemalloc.start()
    started = time.perf_counter()
    try:
        manifests, problems = load_documents("lol.yaml", text)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 10 * 2**20
    assert [m.line for m in manifests] == [1]
    assert problems == [Problem("lol.yaml", 6, ALIASES_REFUSED)]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (lines("a: 1", "b: &anchor 2"), 2),  # an anchor alone
        (lines("a: 1", "b: *missing"), 2),  # an undefined alias
        (lines("a: 1", "b: &x [1]", "c: *x"), 2),
        (lines("a: 1", "b: &x [*x]"), 2),  # recursive
        (lines("? &k key", ": v"), 1),  # on a key
    ],
)
def test_any_anchor_or_alias_is_refused_at_its_line(text: str, line: int) -> None:
    assert load_documents("a.yaml", text) == ([], [Problem("a.yaml", line, ALIASES_REFUSED)])


def test_an_alias_refuses_only_its_own_document() -> None:
    text = lines(
        "apiVersion: v1", "kind: ConfigMap", "metadata: {name: a}", "---", "x: &x 1", "y: *x"
    )
    text += "---\n" + CONFIGMAP
    manifests, problems = load_documents("a.yaml", text)
    assert [m.line for m in manifests] == [1, 8]
    assert problems == [Problem("a.yaml", 5, ALIASES_REFUSED)]


def test_merge_keys_are_refused_but_a_quoted_key_is_just_a_string() -> None:
    text = CONFIGMAP + lines("data:", "  <<: {k: v}")
    assert shown(load_documents("m.yaml", text)[1]) == ["m.yaml:6: merge keys (<<) are not allowed"]
    manifests, problems = load_documents("m.yaml", CONFIGMAP + lines("data:", "  '<<': v"))
    assert problems == []
    assert manifests[0].obj["data"] == {"<<": "v"}


def test_documents_that_are_not_mappings_are_refused() -> None:
    _, problems = load_documents("n.yaml", lines("- a", "- b", "---", "just text", "---", "42"))
    assert shown(problems) == [
        "n.yaml:1: document must be a mapping, not list",
        "n.yaml:4: document must be a mapping, not str",
        "n.yaml:6: document must be a mapping, not int",
    ]


def test_bad_explicit_tags_are_reported_at_their_line() -> None:
    text = lines("a: 1", "b: !!int abc", "c: !Ref x")
    assert shown(load_documents("t.yaml", text)[1]) == [
        "t.yaml:2: invalid value: not a valid !!int",  # never the value: it may be a Secret's
        "t.yaml:3: invalid value: could not determine a constructor for the tag '!Ref'",
    ]


def test_unhashable_keys_are_refused() -> None:
    assert shown(load_documents("k.yaml", "? [a, b]\n: c\n")[1]) == [
        "k.yaml:1: mapping keys must be scalars"
    ]


def test_scalars_follow_yaml_1_1_as_kubectl_does() -> None:
    text = lines(
        "no: NO", "yes: yes", "mode: 0755", "hex: 0x1F", "version: 1.10", "none: ~",
        "date: 2024-01-01", "eq: =", "exp: 1e5", "y: y", "octal: 0o755", "quoted: '0755'",
    )  # fmt: skip
    [loaded] = load_documents("s.yaml", text)[0]
    assert loaded.obj == {
        False: False, True: True, "mode": 493, "hex": 31, "version": 1.1, "none": None,
        "date": "2024-01-01", "eq": "=", "exp": "1e5", "y": "y", "octal": "0o755",
        "quoted": "0755",
    }  # fmt: skip


def test_non_manifest_suffix_is_refused() -> None:
    assert shown(load_documents("README.md", "# hi")[1]) == [
        "README.md:1: not a manifest: expected .yaml, .yml or .json"
    ]
    assert load_documents("UPPER.YML", CONFIGMAP)[1] == []


# --- List ---


def test_v1_list_is_expanded_into_its_items_at_their_lines() -> None:
    text = lines(
        "apiVersion: v1",
        "kind: List",
        "items:",
        "- apiVersion: v1",  # 4
        "  kind: ConfigMap",
        "  metadata: {name: a}",
        "- not an object",  # 7
        "- apiVersion: v1",  # 8
        "  kind: Secret",
        "  metadata: {name: b}",
    )
    manifests, problems = load_documents("list.yaml", text)
    assert [(m.line, m.kind, m.name) for m in manifests] == [
        (4, "ConfigMap", "a"),
        (8, "Secret", "b"),
    ]
    assert shown(problems) == ["list.yaml:1: List item 1 is not a mapping"]


def test_lists_that_are_not_v1_lists_or_have_no_items() -> None:
    other = {"apiVersion": "example.com/v1", "kind": "List", "metadata": {"name": "l"}}
    assert [m.obj for m in load_documents("l.json", json.dumps(other))[0]] == [other]
    assert load_documents("l.yaml", "apiVersion: v1\nkind: List\nitems:\n") == ([], [])
    bad = load_documents("l.yaml", "apiVersion: v1\nkind: List\nitems: {a: b}\n")
    assert shown(bad[1]) == ["l.yaml:1: List items must be a sequence"]


# --- JSON ---


def test_json_document_loads() -> None:
    text = json.dumps(configmap(), indent=2)
    [loaded] = load_documents("cm.json", text)[0]
    assert (loaded.line, loaded.obj) == (1, configmap())


def test_json_list_items_keep_their_lines() -> None:
    items = [configmap("a"), configmap("b")]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1)
    manifests, problems = load_documents("list.json", text)
    assert problems == []
    item_lines = [n + 1 for n, row in enumerate(text.splitlines()) if row == "  {"]
    assert [(m.line, m.name) for m in manifests] == list(zip(item_lines, ["a", "b"], strict=True))


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{\n  "apiVersion": "v1",\n  "kind": "ConfigMap",\n}\n', 4),  # trailing comma
        ('{\n  "apiVersion": "v1"\n  "kind": "ConfigMap"\n}\n', 3),  # missing comma
        ("# a YAML comment\n{}\n", 1),
        ("{\n  'kind': 'ConfigMap'\n}\n", 2),  # YAML flow style, not JSON
        ('{"a": 1}\n{"b": 2}\n', 2),  # two documents
    ],
)
def test_json_syntax_errors_report_their_line(text: str, line: int) -> None:
    _, problems = load_documents("bad.json", text)
    assert [(p.line, p.message.startswith("invalid JSON: ")) for p in problems] == [(line, True)]


def test_json_duplicate_key_reports_the_line_of_the_second_key() -> None:
    text = '{\n  "metadata": {\n    "name": "a",\n    "labels": {"x": "1", "y": "{:}"},\n'
    text += '    "name": "b"\n  },\n  "kind": "ConfigMap"\n}\n'
    assert load_documents("dup.json", text) == (
        [],
        [Problem("dup.json", 5, "duplicate key 'name'")],
    )


def test_json_values_are_exactly_what_json_reads() -> None:
    text = '{\n\t"s": "\\ud83d\\ude00 \\/ \\"q\\"",\n\t"f": 1e5,\n\t"n": [1, 2.5, null, true]\n}'
    [loaded] = load_documents("v.json", text)[0]
    assert loaded.obj == json.loads(text) == {"s": '😀 / "q"', "f": 1e5, "n": [1, 2.5, None, True]}


@pytest.mark.parametrize("text", ["", "  \n", "null"])
def test_empty_json_is_skipped(text: str) -> None:
    assert load_documents("e.json", text) == ([], [])


def test_json_that_is_not_an_object_is_refused() -> None:
    assert shown(load_documents("a.json", "\n[1, 2]")[1]) == [
        "a.json:1: document must be a mapping, not list"
    ]


# --- validate ---


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"kind": "ConfigMap", "metadata": {"name": "a"}}, "apiVersion must be a string"),
        ({**configmap(), "apiVersion": "a/b/c"}, "apiVersion must be a string"),
        ({**configmap(), "apiVersion": "apps/"}, "apiVersion must be a string"),
        ({**configmap(), "apiVersion": 1}, "apiVersion must be a string"),
        ({**configmap(), "kind": ""}, "kind must be a non-empty string"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, "metadata is required"),
        ({**configmap(), "metadata": ["a"]}, "metadata must be a mapping"),
        ({**configmap(), "metadata": {}}, "metadata.name must be a non-empty string"),
        ({**configmap(), "metadata": {"name": 7}}, "metadata.name must be a non-empty string"),
        (configmap("Upper"), "metadata.name 'Upper' must be a DNS subdomain"),
        (configmap("under_score"), "metadata.name 'under_score' must be a DNS subdomain"),
        (configmap("-dash"), "metadata.name '-dash' must be a DNS subdomain"),
        (configmap("a" * 254), "must be a DNS subdomain"),
        (configmap(namespace="Prod"), "metadata.namespace 'Prod' must be a DNS label"),
        (configmap(namespace="a.b"), "metadata.namespace 'a.b' must be a DNS label"),
        (configmap(namespace="a" * 64), "must be a DNS label"),
        (configmap(namespace=3), "metadata.namespace 3 must be a DNS label"),
    ],
)
def test_validate_refuses(obj: dict[str, Any], message: str) -> None:
    [problem] = validate([manifest(obj, "x.yaml", 3)])
    assert (problem.path, problem.line) == ("x.yaml", 3)
    assert message in problem.message


@pytest.mark.parametrize(
    "obj",
    [
        configmap("a.b-c.0"),
        configmap("a" * 253),
        configmap(namespace="kube-system"),
        configmap(namespace=None),
        configmap(namespace=""),
        {"apiVersion": "example.com/v1alpha1", "kind": "Widget", "metadata": {"name": "w"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:metrics-reader"},
        },
    ],
)
def test_validate_accepts(obj: dict[str, Any]) -> None:
    assert validate([manifest(obj)]) == []


def test_rbac_names_are_path_segments() -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role"}
    for name in ("a/b", "..", "50%"):
        [problem] = validate([manifest({**role, "metadata": {"name": name}})])
        assert "must not be '.' or '..'" in problem.message


def test_duplicates_are_reported_at_the_later_one_naming_the_first() -> None:
    first = manifest(configmap(namespace="ns"), "a/cm.yaml", 4)
    again = manifest(configmap(namespace="ns"), "b/cm.yaml", 1)
    expected = [Problem("b/cm.yaml", 1, "duplicate of a/cm.yaml:4")]
    assert validate([first, again]) == expected
    assert validate([again, first]) == expected


def test_duplicate_detection_ignores_version_but_not_group_or_namespace() -> None:
    deployment = {"kind": "Deployment", "metadata": {"name": "d"}}
    apps_v1 = manifest({**deployment, "apiVersion": "apps/v1"}, line=1)
    apps_beta = manifest({**deployment, "apiVersion": "apps/v1beta2"}, line=9)
    other_group = manifest({**deployment, "apiVersion": "example.com/v1"}, line=20)
    other_ns = manifest(
        {**deployment, "apiVersion": "apps/v1", "metadata": {"name": "d", "namespace": "x"}},
        line=30,
    )
    assert shown(validate([apps_v1, apps_beta, other_group, other_ns])) == [
        "m.yaml:9: duplicate of m.yaml:1"
    ]


def test_invalid_objects_are_not_also_reported_as_duplicates() -> None:
    nameless = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    problems = validate([manifest(nameless, line=1), manifest(nameless, line=5)])
    assert [p.line for p in problems] == [1, 5]
    assert all("duplicate" not in p.message for p in problems)


# --- load_tree ---


def test_load_tree_sorts_and_reports_every_problem_of_the_revision() -> None:
    files = [
        ("b.yaml", CONFIGMAP + "---\n" + CONFIGMAP),  # duplicate within a file
        ("a.json", json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "S"}})),
        ("a.yaml", "key: [\n"),
        ("c/d.yml", "x: &a 1\n"),
    ]
    manifests, problems = load_tree(files)
    assert [(m.path, m.line) for m in manifests] == [("a.json", 1), ("b.yaml", 1), ("b.yaml", 6)]
    assert [(p.path, p.line) for p in problems] == [
        ("a.json", 1),
        ("a.yaml", 2),
        ("b.yaml", 6),
        ("c/d.yml", 1),
    ]
    assert str(problems[2]) == "b.yaml:6: duplicate of b.yaml:1"


def test_load_tree_of_nothing() -> None:
    assert load_tree([]) == ([], [])


# --- round trip ---

_names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": draw(_names)}
    if draw(st.booleans()):
        metadata["namespace"] = draw(_names)
    obj: dict[str, Any] = {
        "apiVersion": draw(st.sampled_from(["v1", "apps/v1", "example.com/v1alpha1"])),
        "kind": draw(
            st.from_regex(r"[A-Z][A-Za-z]{0,15}", fullmatch=True).filter(lambda k: k != "List")
        ),
        "metadata": metadata,
    }
    extra = st.dictionaries(st.text(max_size=8).filter(lambda k: k not in obj), _values, max_size=4)
    obj.update(draw(extra))
    return obj


@given(manifests())
def test_yaml_round_trip(obj: dict[str, Any]) -> None:
    loaded, problems = load_documents("m.yaml", yaml.safe_dump(obj))
    assert problems == []
    assert [m.obj for m in loaded] == [obj]
    assert validate(loaded) == []


@given(manifests(), st.sampled_from([None, 2, "\t"]))
def test_json_round_trip(obj: dict[str, Any], indent: int | str | None) -> None:
    loaded, problems = load_documents("m.json", json.dumps(obj, indent=indent))
    assert problems == []
    assert [m.obj for m in loaded] == [obj]


# --- what JSON cannot hold is refused at its line, never later ---


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\nb: x\x00y\n", 2, "invalid YAML: character #x0000: control characters"),
        ("a: 1\nb: é\x07\n", 2, "invalid YAML: character #x0007: control characters"),
        ("a: 1\nb: !!binary aGk=\n", 2, "invalid value: !!binary is not allowed"),
        ("a: 1\nb: !!set {x, y}\n", 2, "invalid value: !!set is not allowed"),
        ("a: !!omap [x: 1]\n", 1, "invalid value: !!omap is not allowed"),
        ("a: !!pairs [x: 1]\n", 1, "invalid value: !!pairs is not allowed"),
        ("a: 1\nb: .inf\n", 2, "invalid value: a float that is not finite"),
        ("a: -.Inf\n", 1, "invalid value: a float that is not finite"),
        ("a: .NaN\n", 1, "invalid value: a float that is not finite"),
        ("a: 1.0e+999\n", 1, "invalid value: a float that is not finite"),
        ("a: " + "1" * 4301 + "\n", 1, "invalid value: an integer of more than 4300 digits"),
        ("a: 0x" + "f" * 3600 + "\n", 1, "invalid value: an integer of more than 4300 digits"),
        ("a: !!int " + "1:" * 3000 + "1\n", 1, "invalid value: an integer of more than 4300"),
        ("~: a\n", 1, "mapping keys must be strings, integers or booleans, not null"),
        ("1.5: a\n", 1, "mapping keys must be strings, integers or booleans, not a float"),
        ("a: <<\n", 1, "invalid value: a plain << (a merge key) is not allowed as a value"),
        ("a: !!str [x]\n", 1, "invalid value: !!str cannot be a sequence"),
        ("a: !!map x\n", 1, "invalid value: !!map cannot be a scalar"),
        ("a: !!null x\n", 1, "invalid value: not a valid !!null"),
    ],
)
def test_yaml_values_without_a_json_form_are_refused_at_their_line(
    text: str, line: int, message: str
) -> None:
    manifests, problems = load_documents("v.yaml", text)
    assert manifests == []
    [problem] = problems
    assert (problem.line, problem.message[: len(message)]) == (line, message)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{"a": 1,\n "b": ' + "1" * 4301 + "}", 2, "invalid value: an integer of more than 4300"),
        ('{"a": 1,\n "b": -' + "9" * 5000 + "}", 2, "invalid value: an integer of more than 4300"),
        ('{"a": 1,\n "b": NaN}', 2, "invalid value: a float that is not finite"),
        ('{"a": 1,\n "b": [-Infinity]}', 2, "invalid value: a float that is not finite"),
        ('{"a": 1,\n "b": 1e999}', 2, "invalid value: a float that is not finite"),
        ('{"a": 1,\n "b": "x\\ud800"}', 2, "invalid value: a string holding a lone UTF-16"),
        ('{"a": 1,\n "\\udc00": 1}', 2, "invalid value: a string holding a lone UTF-16"),
        ('{"a": "\ud800"}', 1, "not UTF-8 text (a lone surrogate)"),
    ],
)
def test_json_values_without_a_json_form_are_refused_at_their_line(
    text: str, line: int, message: str
) -> None:
    manifests, problems = load_documents("v.json", text)
    assert manifests == []
    [problem] = problems
    assert (problem.line, problem.message[: len(message)]) == (line, message)


def test_json_keeps_surrogate_pairs_and_escaped_backslashes() -> None:
    text = '{"s": "\\ud83d\\ude00", "t": "\\\\ud800", "n": 1e308, "i": ' + "9" * 4300 + "}"
    [loaded] = load_documents("v.json", text)[0]
    assert loaded.obj["s"] == "😀"
    assert loaded.obj["t"] == "\\ud800"
    assert loaded.obj["i"] == int("9" * 4300)
    json.dumps(loaded.obj, allow_nan=False)


def test_keys_of_mixed_types_load_as_kubectl_writes_them_and_digest() -> None:
    [loaded] = load_documents("k.yaml", "{1: a, b: c, false: d}\n")[0]
    assert loaded.obj == {1: "a", "b": "c", False: "d"}
    assert json.loads(json.dumps(loaded.obj)) == {"1": "a", "b": "c", "false": "d"}
    assert loaded.digest == digest_of({"1": "a", "b": "c", "false": "d"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{1: a, "1": b}\n', "k.yaml:1: duplicate key '1' once written as JSON"),
        ('{"true": a, yes: b}\n', "k.yaml:1: duplicate key 'true' once written as JSON"),
        ("{1: a, true: b}\n", "k.yaml:1: duplicate key True"),  # equal in Python: refused too
    ],
)
def test_keys_that_json_writes_the_same_are_duplicates(text: str, message: str) -> None:
    assert shown(load_documents("k.yaml", text)[1]) == [message]


def test_a_refused_value_refuses_only_its_own_document() -> None:
    text = CONFIGMAP + lines("---", "a: !!binary aGk=", "---") + CONFIGMAP
    manifests, problems = load_documents("d.yaml", text)
    assert [m.line for m in manifests] == [1, 8]
    assert [p.line for p in problems] == [6]


def test_a_control_character_refuses_the_file_at_its_line() -> None:
    text = CONFIGMAP + "---\n" + CONFIGMAP.replace("app", "b\x01")
    manifests, problems = load_documents("c.yaml", text)
    assert manifests == []  # libyaml reads ahead: the error may come before the first ends
    assert shown(problems) == [
        "c.yaml:9: invalid YAML: character #x0001: control characters are not allowed"
    ]


def test_timestamps_stay_the_strings_written() -> None:
    [loaded] = load_documents(
        "t.yaml", "a: 2001-12-14t21:59:43.10-05:00\nb: !!timestamp 2002-12-14\n"
    )[0]
    assert loaded.obj == {"a": "2001-12-14t21:59:43.10-05:00", "b": "2002-12-14"}


# --- no problem quotes a value ---


@pytest.mark.parametrize(
    "text",
    [
        "password: !!int hunter2\n",
        "password: !!float hunter2\n",
        "password: !!bool hunter2\n",
        "password: !!null hunter2\n",
        "password: !!binary hunter2\n",
        "password: !!set {hunter2}\n",
        "password: !Secret hunter2\n",
        "password: !!map hunter2\n",
        "password: hunter2\npassword: hunter2\n",
        "- hunter2\n",
        "{a: [hunter2, !!int 0x" + "f" * 3600 + "]}\n",
    ],
)
def test_a_problem_never_quotes_a_value(text: str) -> None:
    _, problems = load_documents("s.yaml", text)
    assert problems
    assert all("hunter2" not in problem.message for problem in problems), problems


def test_the_message_names_the_tag_and_the_line_instead() -> None:
    assert shown(load_documents("s.yaml", "a: 1\npassword: !!int hunter2\n")[1]) == [
        "s.yaml:2: invalid value: not a valid !!int"
    ]


def test_long_keys_and_names_are_shortened_in_messages() -> None:
    key = "k" * 10_000
    [problem] = load_documents("k.yaml", f"{key}: 1\n{key}: 2\n")[1]
    assert len(problem.message) < 100
    [problem] = validate([manifest(configmap("N" * 10_000))])
    assert len(problem.message) < 200


# --- bytes, as read from disk ---


def test_bytes_load_as_their_text_does() -> None:
    text = CONFIGMAP + "data:\n  k: é😀\n---\n" + CONFIGMAP.replace("app", "b")
    assert load_documents("b.yaml", text.encode()) == load_documents("b.yaml", text)
    as_json = json.dumps({**configmap(), "data": {"k": "é😀"}}, ensure_ascii=False, indent=1)
    assert load_documents("b.json", as_json.encode()) == load_documents("b.json", as_json)


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"a: 1\nb: \xff\n", 2, "not UTF-8 text (invalid start byte)"),
        (b"a: 1\n\nb: \xc3", 3, "not UTF-8 text (unexpected end of data)"),
        ("a: 1\n".encode("utf-16"), 1, "not UTF-8 text (a UTF-16 or UTF-32 byte order mark)"),
    ],
)
def test_bytes_that_are_not_utf8_are_refused_at_their_line(
    data: bytes, line: int, message: str
) -> None:
    for path in ("b.yaml", "b.json"):
        assert load_documents(path, data) == ([], [Problem(path, line, message)])


def test_carriage_returns_count_as_newlines() -> None:
    yaml_text = "a: 1\r\nb: !!int x\r\n"
    json_text = '{"a": 1,\r\n"a": 2}\r\n'
    assert [p.line for p in load_documents("c.yaml", yaml_text.encode())[1]] == [2]
    assert [p.line for p in load_documents("c.json", json_text.encode())[1]] == [2]
    assert [p.line for p in load_documents("c.json", json_text.replace("\n", ""))[1]] == [2]


# --- JSON's lines, found by scanning only when needed ---


def test_json_duplicate_keys_in_nested_objects_are_each_reported_at_their_line() -> None:
    text = '{\n "a": {"x": 1, "x": 2},\n "b": [{"y": {"}": 1}}, {"y": 1,\n "y": 2}],\n "a": 3\n}'
    assert shown(load_documents("d.json", text)[1]) == [
        "d.json:2: duplicate key 'x'",
        "d.json:4: duplicate key 'y'",
        "d.json:5: duplicate key 'a'",
    ]


def test_json_list_items_lines_ignore_other_arrays_and_nested_items() -> None:
    items = [
        {**configmap("a"), "items": [{"x": 1}]},
        "not an object",
        {**configmap("b"), "spec": {"items": [{"y": 2}]}},
    ]
    text = json.dumps(
        {"apiVersion": "v1", "kind": "List", "other": [{"z": 1}], "items": items}, indent=1
    )
    manifests, problems = load_documents("l.json", text)
    starts = [n + 1 for n, row in enumerate(text.splitlines()) if row == "  {"]
    assert [(m.line, m.name) for m in manifests] == [(starts[1], "a"), (starts[2], "b")]
    assert shown(problems) == ["l.json:1: List item 1 is not a mapping"]


# --- limits: what a revision may hold, so that reading it cannot exhaust memory ---


def test_nesting_deeper_than_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests_module, "MAX_DEPTH", 5)
    ok = "a: [[[[1]]]]\n"  # five levels with the document's mapping
    assert load_documents("n.yaml", ok)[1] == []
    assert shown(load_documents("n.yaml", "a: [[[[[1]]]]]\n")[1]) == [
        "n.yaml:1: nested more than 5 levels deep"
    ]
    assert shown(load_documents("n.json", '{"a":\n[[[[[1]]]]]}')[1]) == [
        "n.json:2: nested more than 5 levels deep"
    ]


def test_reading_stops_at_the_value_over_the_revisions_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(manifests_module, "MAX_REVISION_VALUES", 12)
    read: list[str] = []

    def files() -> Iterator[tuple[str, str]]:
        for path in ("a.yaml", "b.json", "c.yaml"):
            read.append(path)
            yield path, CONFIGMAP if path != "b.json" else json.dumps(configmap("b"), indent=1)

    manifests, problems = load_tree(files())
    assert read == ["a.yaml", "b.json"]  # c.yaml is never read
    assert [m.path for m in manifests] == ["a.yaml"]  # 9 values; b.json's 4th is the 13th
    assert shown(problems) == [
        "b.json:3: the revision holds more than 12 values (scalars, sequences and mappings, "
        "keys included); refused here"
    ]


def test_yaml_over_the_value_limit_is_refused_at_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(manifests_module, "MAX_REVISION_VALUES", 10)
    text = CONFIGMAP + lines("data:", "  a: b", "  c: d")
    assert [(p.line, p.message[:40]) for p in load_documents("v.yaml", text)[1]] == [
        (6, "the revision holds more than 10 values (")  # the 11th: the mapping under data
    ]


def test_reading_stops_at_the_object_over_the_revisions_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(manifests_module, "MAX_REVISION_OBJECTS", 2)
    text = "".join(
        f"--- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: c{i}}}}}\n" for i in range(4)
    )
    manifests, problems = load_tree([("o.yaml", text), ("p.yaml", text)])
    assert [m.line for m in manifests] == [1, 2]
    assert shown(problems) == ["o.yaml:3: the revision holds more than 2 objects; refused here"]


def test_problems_are_capped_per_file_and_per_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests_module, "MAX_PROBLEMS_PER_FILE", 3)
    monkeypatch.setattr(manifests_module, "MAX_PROBLEMS", 4)
    text = "".join(f"a{i}: 1\na{i}: 2\n" for i in range(10))  # a duplicate key every two lines
    _, problems = load_documents("p.yaml", text)
    assert shown(problems) == [
        "p.yaml:2: duplicate key 'a0'",
        "p.yaml:4: duplicate key 'a1'",
        "p.yaml:6: duplicate key 'a2'",
        "p.yaml:6: reading stopped after 3 problems in this file",
    ]
    _, problems = load_tree([(f"{name}.yaml", text) for name in "abc"])
    assert len(problems) == 5
    assert problems[-1] == Problem("a.yaml", 6, "8 more problems are not shown (the first 4 are)")


@pytest.mark.timeout(20)
def test_a_dense_document_costs_memory_in_proportion_to_its_values() -> None:
    text = CONFIGMAP + "d: [" + "{}," * 100_000 + "{}]\n"
    tracemalloc.start()
    try:
        manifests, problems = load_documents("d.yaml", text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problems == []
    assert len(manifests[0].obj["d"]) == 100_001
    assert peak < 100 * 100_001  # PyYAML's node graph alone took ~600 bytes a value


def test_lines_count_newlines_only_even_with_yaml_1_1_line_breaks() -> None:
    """NEL, LS and PS break lines for libyaml, not for editors or forges: a problem after one
    is still reported at the line a reviewer sees."""
    plain = '---\ndata: {a: "x y", a: b}\n---\nkind: [unclosed\n'
    _, expected = load_documents("f.yaml", plain)
    assert [p.line for p in expected] == [2, 5]
    for odd in ("\x85", "\u2028", "\u2029"):
        text = plain.replace(" y", f"{odd}y")
        for source in (text, text.encode()):
            _, problems = load_documents("f.yaml", source)
            assert [p.line for p in problems] == [2, 5], (repr(odd), problems)
