"""Reading a checkout's manifests (reloader.gitops.reading): links, limits, what is skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reloader.core.manifests import Problem, load_tree
from reloader.gitops import reading
from reloader.gitops.reading import read_tree_sync

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def write(root: Path, rel: str, text: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def test_every_manifest_under_the_path_is_read_in_path_order(tmp_path: Path) -> None:
    write(tmp_path, "b/x.yml", CONFIGMAP.format(name="b"))
    write(tmp_path, "a.yaml", CONFIGMAP.format(name="a"))
    write(
        tmp_path,
        "c.json",
        json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}}),
    )
    write(tmp_path, "README.md", "not read")
    write(tmp_path, ".git/d.yaml", "not read: [")
    manifests, problems = read_tree_sync(tmp_path)
    assert problems == []
    assert [(m.path, m.name) for m in manifests] == [
        ("a.yaml", "a"),
        ("b/x.yml", "b"),
        ("c.json", "c"),
    ]


def test_a_link_out_of_the_checkout_is_refused(tmp_path: Path) -> None:
    (tmp_path / "leak.yaml").symlink_to("/etc/hostname")
    assert read_tree_sync(tmp_path) == (
        [],
        [Problem("leak.yaml", 1, "symlink points outside the repository; refused")],
    )


def test_a_file_over_the_limit_is_refused_at_line_1_with_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "MAX_FILE_BYTES", 100)
    write(tmp_path, "big.yaml", CONFIGMAP.format(name="big") + "data:\n  k: " + "v" * 60 + "\n")
    write(tmp_path, "small.yaml", CONFIGMAP.format(name="small"))
    manifests, problems = read_tree_sync(tmp_path)
    assert [m.name for m in manifests] == ["small"]
    assert problems == [
        Problem("big.yaml", 1, "file is 125 bytes, more than the limit of 100 bytes per file")
    ]


def test_the_file_that_takes_the_revision_over_its_limit_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "MAX_REVISION_BYTES", 150)
    for name in "abcd":  # 51 bytes each
        write(tmp_path, f"{name}.yaml", CONFIGMAP.format(name=name))
    write(tmp_path, "e.yaml", "broken: [")
    manifests, problems = read_tree_sync(tmp_path)
    assert [m.name for m in manifests] == ["a", "b"]  # nothing after c is parsed
    assert [str(p) for p in problems] == [
        "c.yaml:1: the manifest files under the path add up to 213 bytes, more than the limit "
        "of 150 bytes per revision; this file crosses it (at 153 bytes)"
    ]


def test_text_that_is_not_utf8_is_refused_at_its_line(tmp_path: Path) -> None:
    write(tmp_path, "latin1.yaml", CONFIGMAP.format(name="x").encode() + b"data:\n  k: caf\xe9\n")
    write(tmp_path, "utf16.json", '{"kind": "x"}'.encode("utf-16"))
    assert [str(p) for p in read_tree_sync(tmp_path)[1]] == [
        "latin1.yaml:6: not UTF-8 text (invalid continuation byte)",
        "utf16.json:1: not UTF-8 text (a UTF-16 or UTF-32 byte order mark)",
    ]


def test_carriage_returns_are_newlines(tmp_path: Path) -> None:
    write(
        tmp_path,
        "crlf.yaml",
        b"apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n  name: b\r\n",
    )
    write(tmp_path, "cr.json", b'{"apiVersion": "v1",\r"kind": "ConfigMap",\r"kind": "x"}')
    assert [str(p) for p in read_tree_sync(tmp_path)[1]] == [
        "cr.json:3: duplicate key 'kind'",
        "crlf.yaml:5: duplicate key 'name'",
    ]


def test_the_tree_gives_the_verdict_of_its_texts(tmp_path: Path) -> None:
    texts = {
        "a.yaml": CONFIGMAP.format(name="a") + "data:\n  password: !!int hunter2\n",
        "b.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "n": NaN}',
        "c.yaml": CONFIGMAP.format(name="c") + "binaryData:\n  k: !!binary aGk=\n",
        "d.yaml": CONFIGMAP.format(name="d"),
    }
    for rel, text in texts.items():
        write(tmp_path, rel, text)
    from_disk = read_tree_sync(tmp_path)
    assert from_disk == load_tree(sorted(texts.items()))
    assert [m.name for m in from_disk[0]] == ["d"]
    assert [(p.path, p.line) for p in from_disk[1]] == [("a.yaml", 6), ("b.json", 1), ("c.yaml", 6)]
    assert all("hunter2" not in p.message for p in from_disk[1])


def test_ci_files_hidden_paths_build_files_and_charts_are_not_read(tmp_path: Path) -> None:
    """What a repository holds besides manifests, each of which would be a problem if read."""
    not_an_object = "name: not an object\n"
    for rel in [
        ".github/workflows/ci.yml",
        ".gitlab-ci.yml",
        ".pre-commit-config.yaml",
        ".vscode/settings.json",
        "cloudbuild.yaml",
        "apps/kustomization.yaml",
        "apps/kustomization.yml",
        "charts/web/Chart.yaml",
        "charts/web/values.yaml",
        "charts/web/values-prod.yaml",
    ]:
        write(tmp_path, rel, not_an_object)
    write(tmp_path, "charts/web/templates/cm.yaml", "metadata:\n  name: {{ .Release.Name }}\n")
    write(tmp_path, "apps/web.yaml", CONFIGMAP.format(name="web"))
    write(tmp_path, "charts/plain.yaml", CONFIGMAP.format(name="plain"))  # beside a chart: read
    manifests, problems = read_tree_sync(tmp_path)
    assert problems == []
    assert [(m.path, m.name) for m in manifests] == [
        ("apps/web.yaml", "web"),
        ("charts/plain.yaml", "plain"),
    ]


def test_sourceignore_files_of_the_root_the_path_and_below_exclude(tmp_path: Path) -> None:
    write(tmp_path, ".sourceignore", "# not yet\nclusters/prod/drafts/\n")
    write(tmp_path, "clusters/.sourceignore", "*.local.yaml\n")
    write(tmp_path, "clusters/prod/.sourceignore", "/old.yaml\n")
    write(tmp_path, "clusters/prod/apps/.sourceignore", "!keep.local.yaml\n")
    broken = "kind: [\n"
    for rel in [
        "clusters/prod/drafts/x.yaml",
        "clusters/prod/web.local.yaml",
        "clusters/prod/old.yaml",
        "clusters/staging/web.yaml",  # outside the path
    ]:
        write(tmp_path, rel, broken)
    write(tmp_path, "clusters/prod/apps/old.yaml", CONFIGMAP.format(name="old"))  # `/` anchors
    write(tmp_path, "clusters/prod/apps/keep.local.yaml", CONFIGMAP.format(name="keep"))
    write(tmp_path, "clusters/prod/web.yaml", CONFIGMAP.format(name="web"))
    manifests, problems = read_tree_sync(tmp_path, "clusters/prod")
    assert problems == []
    assert [m.name for m in manifests] == ["keep", "old", "web"]


def test_a_hidden_path_named_by_the_git_path_is_read(tmp_path: Path) -> None:
    write(tmp_path, ".deploy/web.yaml", CONFIGMAP.format(name="web"))
    write(tmp_path, ".deploy/.github/ci.yml", "on: push\n")
    assert [m.path for m in read_tree_sync(tmp_path, ".deploy")[0]] == [".deploy/web.yaml"]


def test_a_git_path_that_is_a_chart_is_a_problem_not_an_empty_revision(tmp_path: Path) -> None:
    write(tmp_path, "chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n")
    write(tmp_path, "chart/templates/cm.yaml", CONFIGMAP.format(name="{{ .Release.Name }}"))
    assert read_tree_sync(tmp_path, "chart") == (
        [],
        [
            Problem(
                "chart/Chart.yaml",
                1,
                "the path is a Helm chart: its templates are not manifests until rendered",
            )
        ],
    )


def test_a_sourceignore_is_read_under_the_manifests_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".sourceignore").symlink_to("/etc/hostname")
    write(tmp_path, "a/.sourceignore", b"caf\xe9\n")
    write(tmp_path, "b/.sourceignore", "x" * 200 + "\n")
    write(tmp_path, "b/web.yaml", CONFIGMAP.format(name="web"))
    monkeypatch.setattr(reading, "MAX_FILE_BYTES", 100)
    assert [str(p) for p in read_tree_sync(tmp_path)[1]] == [
        ".sourceignore:1: symlink points outside the repository; refused",
        "a/.sourceignore:1: not UTF-8 text (invalid continuation byte)",
        "b/.sourceignore:1: file is 201 bytes, more than the limit of 100 bytes per file",
    ]
