"""Reading a checkout's manifests (reloader.gitops.reading): links, and the byte limits."""

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
