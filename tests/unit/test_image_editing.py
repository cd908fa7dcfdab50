"""In-place edits over a corpus of real-looking files: only the edited scalars change.

Each case names the lines that must change and the exact text swap on each (quotes
included); every other line must be byte-identical, so a reformatted file, a dropped comment,
a changed quote style or a lost CR fails the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from reloader.imaging import editing
from reloader.imaging.editing import Refused, Targets
from reloader.imaging.locating import CustomPath, parse_key
from reloader.imaging.references import parse_change

CORPUS = Path(__file__).parent / "corpus" / "images"
DIGEST = "sha256:" + "2" * 64
WEB = "registry.example.com/team/web"
CRONJOB_DIGEST = "0f3e1d2c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"


def edited(rel: str, text: str, args: list[str], targets: Targets | None = None) -> str:
    changes = [parse_change(a) for a in args]
    plan = editing.plan(
        text, filename=Path(rel).name, changes=changes, targets=targets or Targets()
    )
    new = editing.splice(text, plan.splices)
    editing.verify(text, new, plan.expects)
    return new


def assert_only(old: str, new: str, swaps: dict[int, tuple[str, str]]) -> None:
    """Lines (1-based) in ``swaps`` changed by exactly that text swap; all others identical."""
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(old_lines) == len(new_lines)
    for number, (before, after) in enumerate(zip(old_lines, new_lines, strict=True), 1):
        if number in swaps:
            was, becomes = swaps[number]
            assert before.count(was) == 1, (number, before)
            assert after == before.replace(was, becomes), (number, before, after)
        else:
            assert after == before, (number, before, after)


CASES = [
    pytest.param(
        "deployment.yaml",
        [f"{WEB}:1.5.0"],
        Targets(),
        {
            19: (f"{WEB}:1.4.2", f"{WEB}:1.5.0"),
            23: (f"'{WEB}:1.4.2'", f"'{WEB}:1.5.0'"),
        },
        id="plain-and-single-quoted-init-and-main-containers",
    ),
    pytest.param(
        "deployment.yaml",
        ["envoyproxy/envoy=mirror.example/envoy:v1.32.1"],
        Targets(),
        {27: ('"envoyproxy/envoy:v1.31.0"', '"mirror.example/envoy:v1.32.1"')},
        id="double-quoted-beside-a-tab-comment",
    ),
    pytest.param(
        "multi.yaml",
        ["worker:8"],
        Targets(),
        {
            23: (f"worker@sha256:{CRONJOB_DIGEST}", "worker:8"),
            34: ("image: worker:7}", "image: worker:8}"),
        },
        id="multi-document-cronjob-and-flow-statefulset-not-the-configmap",
    ),
    pytest.param(
        "pod-flow.yaml",
        ["worker=worker:1", "busybox:1.37"],
        Targets(),
        {
            1: (
                "image: worker}], ephemeralContainers: [{name: dbg, image: 'busybox:1.36'}",
                "image: worker:1}], ephemeralContainers: [{name: dbg, image: 'busybox:1.37'}",
            )
        },
        id="flow-pod-plain",
    ),
    pytest.param(
        "rollout.yaml",
        [f"{WEB}:2.0.0"],
        Targets(custom=[CustomPath.parse("argoproj.io/Rollout:spec.template")]),
        {12: (f"{WEB}:1.4.2", f"{WEB}:2.0.0")},
        id="custom-resource-by-path",
    ),
    pytest.param(
        "values.yaml",
        [f"{WEB}:1.5", "envoyproxy/envoy:v1.32.0"],
        Targets(helm_keys=[parse_key("web.image"), parse_key("sidecar.image")]),
        {
            5: ("tag: 1.4 ", 'tag: "1.5" '),  # a plain 1.5 would read as a number
            8: ("v1.31.0", "v1.32.0"),
        },
        id="helm-mapping-and-string",
    ),
    pytest.param(
        "values.yaml",
        ["docker.io/bitnami/nginx-exporter=reg.example/mirror/nginx-exporter:1.2.0"],
        Targets(helm_keys=[parse_key("metrics.image")]),
        {
            11: ("docker.io", "reg.example"),
            12: ("bitnami/nginx-exporter", "mirror/nginx-exporter"),
            13: ("'1.1.0'", "'1.2.0'"),
        },
        id="helm-registry-and-repository",
    ),
    pytest.param(
        "overlay/kustomization.yaml",
        ["cache:7.4"],
        Targets(),
        {11: ("newTag: '7.2'", "newTag: '7.4'")},
        id="kustomization-flow-entry",
    ),
]


@pytest.mark.parametrize(("rel", "args", "targets", "swaps"), CASES)
@pytest.mark.parametrize("variant", ["as-is", "crlf", "bom-crlf"])
def test_only_the_image_scalars_change(
    rel: str, args: list[str], targets: Targets, swaps: dict[int, tuple[str, str]], variant: str
) -> None:
    text = (CORPUS / rel).read_text()
    if variant != "as-is":
        text = text.replace("\n", "\r\n")
    if variant == "bom-crlf":
        text = "\ufeff" + text
    new = edited(rel, text, args, targets)
    assert_only(text, new, swaps)


def test_a_kustomization_entry_gets_the_tag_and_loses_the_stale_digest() -> None:
    text = (CORPUS / "overlay/kustomization.yaml").read_text()
    new = edited("kustomization.yaml", text, ["app:2.1.0"])
    expected = text.replace('newTag: "2.0.0"', 'newTag: "2.1.0"').replace(
        f"    digest: sha256:{'1' * 64}\n", ""
    )
    assert new == expected


def test_a_digest_alone_replaces_the_tag_in_a_kustomization_entry() -> None:
    text = (CORPUS / "overlay/kustomization.yaml").read_text()
    new = edited("kustomization.yaml", text, [f"app@{DIGEST}"])
    expected = text.replace('    newTag: "2.0.0"\n', "").replace("1" * 64, "2" * 64)
    assert new == expected


def test_an_unnamed_image_is_added_to_the_kustomization_as_kustomize_would() -> None:
    text = (CORPUS / "overlay/kustomization.yaml").read_text()
    change = parse_change("api=registry.example.com/team/api:0.9")
    plan = editing.plan(text, filename="kustomization.yaml", changes=[change], add=[change])
    new = editing.splice(text, plan.splices)
    editing.verify(text, new, plan.expects)
    assert new == text + (
        '  - name: api\n    newName: registry.example.com/team/api\n    newTag: "0.9"\n'
    )


def test_a_kustomization_without_images_gains_the_list() -> None:
    text = "resources:\n- deploy.yaml\n"
    change = parse_change("api:1.0")
    plan = editing.plan(text, filename="kustomization.yaml", changes=[change], add=[change])
    assert editing.splice(text, plan.splices) == text + 'images:\n- name: api\n  newTag: "1.0"\n'


@pytest.mark.parametrize(
    ("rel", "line", "why"),
    [("refused/alias.yaml", 7, "alias"), ("refused/block.yaml", 7, "block scalar")],
)
def test_what_cannot_be_edited_exactly_is_refused_with_its_line(
    rel: str, line: int, why: str
) -> None:
    text = (CORPUS / rel).read_text()
    with pytest.raises(Refused, match=rf"^{line}: .*{why}"):
        editing.plan(text, filename="x.yaml", changes=[parse_change("worker:8")])


def test_an_image_already_as_asked_is_matched_but_not_edited() -> None:
    text = (CORPUS / "rollout.yaml").read_text()
    plan = editing.plan(
        text,
        filename="rollout.yaml",
        changes=[parse_change(f"{WEB}:1.4.2")],
        targets=Targets(custom=[CustomPath.parse("Rollout:spec.template")]),
    )
    assert plan.splices == []
    assert [(c.old, c.new) for c in plan.changes] == [(f"{WEB}:1.4.2", f"{WEB}:1.4.2")]


def test_the_reading_back_catches_an_edit_that_changes_more() -> None:
    text = "a: 1\nb: x\n"
    wrong = editing.splice(text, [editing.Splice(8, 9, "y\nc: 2")])
    with pytest.raises(Refused, match="more than the image"):
        editing.verify(text, wrong, [editing.Expect(0, ("b",), "y")])


_tags = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30)


@given(tag=_tags, style=st.sampled_from(["", "'", '"']))
def test_any_new_value_reads_back_exactly_in_any_style(tag: str, style: str) -> None:
    """Whatever the new text (quotes, backslashes, colons, '#', unicode), it is written so
    that YAML reads back exactly that string, and nothing else in the file changes."""
    text = f"# c\nimage:\n  repository: app  # r\n  tag: {style}1{style}   # t\nafter: [1]\n"
    change = editing.plan(
        text,
        filename="values.yaml",
        changes=[parse_change("app=app")],
        targets=Targets(helm_keys=[parse_key("image")]),
    )
    assert change.changes  # matched (a new name only: nothing to write)
    editor = editing._Editor(text)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert isinstance(root, yaml.MappingNode)
    node = root.value[0][1].value[1][1]
    editor._replace(node, tag, flow=False)
    new = editing.splice(text, editor.plan.splices)
    assert yaml.safe_load(new) == {"image": {"repository": "app", "tag": tag}, "after": [1]}
    assert new.startswith("# c\nimage:\n  repository: app  # r\n  tag: ")
    assert new.endswith("   # t\nafter: [1]\n")
