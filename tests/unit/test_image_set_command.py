"""`reloader image set` on a directory (no git): what it prints, writes and exits with."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reloader.cli import main

CORPUS = Path(__file__).parent / "corpus" / "images"
WEB = "registry.example.com/team/web"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(CORPUS, root)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_each_edit_is_one_line_and_only_those_files_change(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tree / "refused").rename(tree.parent / "refused")  # not part of this tree
    (tree / "deployment.yaml").chmod(0o640)
    before = snapshot(tree)
    code = main(
        [
            "image",
            "set",
            f"{WEB}:1.5.0",
            "--path",
            str(tree),
            "--custom-path",
            "Rollout:spec.template",
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out == [
        f"{tree}/deployment.yaml:19: {WEB}:1.4.2 -> {WEB}:1.5.0",
        f"{tree}/deployment.yaml:23: {WEB}:1.4.2 -> {WEB}:1.5.0",
        f"{tree}/rollout.yaml:12: {WEB}:1.4.2 -> {WEB}:1.5.0",
    ]
    after = snapshot(tree)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"deployment.yaml", "rollout.yaml"}
    assert (tree / "deployment.yaml").stat().st_mode & 0o777 == 0o640
    assert not [p for p in tree.rglob(".*") if p.is_file()]  # no temporary left behind


def test_dry_run_prints_a_diff_and_writes_nothing(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(tree)
    code = main(["image", "set", "worker:8", "--path", str(tree / "refused" / ".."), "--dry-run"])
    # the refused/ files name worker through an alias and a block scalar: refused, exit 1
    assert code == 1
    assert "alias" in capsys.readouterr().err
    assert snapshot(tree) == before
    shutil.rmtree(tree / "refused")
    code = main(["image", "set", "worker:8", "--path", str(tree), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"--- a/{tree}/multi.yaml" in out
    assert (
        "-      containers: [{name: db, image: postgres:16.4}, {name: worker, image: worker:7}]"
        in out
    )
    assert (
        "+      containers: [{name: db, image: postgres:16.4}, {name: worker, image: worker:8}]"
        in out
    )
    assert snapshot(tree) == {k: v for k, v in before.items() if not k.startswith("refused/")}


def test_a_refusal_anywhere_leaves_every_file_untouched(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(tree)
    assert main(["image", "set", "worker:8", "--path", str(tree)]) == 1
    err = capsys.readouterr().err
    assert f"{tree}/refused/alias.yaml:7:" in err
    assert snapshot(tree) == before


def test_nothing_matched_exits_1_and_says_so(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(tree)
    assert main(["image", "set", "nothing-here:1", "--path", str(tree)]) == 1
    assert "no reference to image nothing-here" in capsys.readouterr().err
    assert snapshot(tree) == before


def test_an_image_named_nowhere_is_added_to_the_paths_kustomization(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overlay = tree / "overlay"
    old = (overlay / "kustomization.yaml").read_text()
    assert (
        main(["image", "set", "api=registry.example.com/team/api:0.9", "--path", str(overlay)]) == 0
    )
    assert (overlay / "kustomization.yaml").read_text() == old + (
        '  - name: api\n    newName: registry.example.com/team/api\n    newTag: "0.9"\n'
    )
    assert (
        "kustomization.yaml:12: api -> registry.example.com/team/api:0.9" in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    "args",
    [
        ["image", "set", "nginx"],
        ["image", "set", "nginx:1", "--custom-path", "Rollout"],
        ["image", "set", "nginx:1", "--helm-values", "values.yaml"],
        ["image", "set", "nginx:1", "--pull-request"],
        ["image", "set", "nginx:1", "--author", "no email"],
        ["image", "set", "nginx:1", "--path", "/nonexistent"],
    ],
)
def test_usage_errors_exit_2(args: list[str], tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
