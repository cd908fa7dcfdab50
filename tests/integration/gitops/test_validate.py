"""`reloader validate`: every problem of a tree as path:line, offline and with a server dry-run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reloader.kube.rest import ApiError, Rest
from tests.integration.gitops.support import run_reloader

GOOD = """\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: {ns}
data:
  a: "1"
"""


async def validate(path: Path, *args: str) -> tuple[int, str, str]:
    return await run_reloader("validate", str(path), *args)


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def test_valid_tree_passes_offline(tmp_path: Path) -> None:
    write(tmp_path, "apps/web.yaml", GOOD.format(ns="web"))
    code, out, err = await validate(tmp_path)
    assert (code, out) == (0, "")
    assert "2 object(s) valid" in err


async def test_every_problem_is_reported_with_path_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: "1"\n  k: "2"\n',
    )
    write(tmp_path, "nested/b.yml", "a: &x [1, 2]\nb: *x\n")
    write(tmp_path, "nested/c.json", '{"apiVersion": "v1", "kind": "ConfigMap"}')
    write(tmp_path, "d.yaml", "kind: [unclosed\n")
    write(tmp_path, "e.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    write(tmp_path, "f.yaml", "# the same object again\n" + (tmp_path / "e.yaml").read_text())
    (tmp_path / "leak.yaml").symlink_to("/etc/hostname")
    code, out, _ = await validate(tmp_path)
    assert code == 1
    lines = out.splitlines()
    assert lines == sorted(lines)
    assert "a.yaml:7: duplicate key 'k'" in lines
    assert "nested/b.yml:1: YAML aliases/anchors are not allowed" in lines
    assert any(line.startswith("nested/c.json:1: ") and "metadata" in line for line in lines)
    assert any(line.startswith("d.yaml:2: invalid YAML") for line in lines)
    assert any(line.startswith("f.yaml:2: ") and "duplicate of e.yaml:1" in line for line in lines)
    assert "leak.yaml:1: symlink points outside the repository; refused" in lines


async def test_billion_laughs_is_refused_fast(tmp_path: Path) -> None:
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        laughs.append(f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    write(tmp_path, "bomb.yaml", "\n".join(laughs) + "\n")
    code, out, _ = await asyncio.wait_for(validate(tmp_path), 20)
    assert code == 1
    assert out.startswith("bomb.yaml:1: YAML aliases/anchors are not allowed")


async def test_server_dry_run_finds_what_only_the_server_knows(
    tmp_path: Path, kubeconfig: str, namespace: str, rest: Rest
) -> None:
    write(tmp_path, "ok.yaml", GOOD.format(ns=f"{namespace}-new"))
    write(
        tmp_path,
        "deploy.yaml",
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {namespace}\n"
        "spec:\n  replicas: many\n",
    )
    write(
        tmp_path,
        "widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\n"
        f"metadata:\n  name: w\n  namespace: {namespace}\n",
    )
    env_kubeconfig = ("--kubeconfig", kubeconfig)
    code, out, err = await validate(tmp_path, "--server-dry-run", *env_kubeconfig)
    assert code == 1
    assert "1 object(s) not dry-run: their namespace or CRD is created" in err, err
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert lines[0].startswith("deploy.yaml:1: server dry-run:")
    assert "replicas" in lines[0]
    assert lines[1].startswith("widget.yaml:1: ")
    assert "Widget" in lines[1]
    with pytest.raises(ApiError) as gone:  # a dry run creates nothing
        await rest.get(f"/api/v1/namespaces/{namespace}-new")
    assert gone.value.not_found
