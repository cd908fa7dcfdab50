"""The `kustomize edit set image` grammar, matching and rewriting of image references."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reloader.imaging.references import ImageChange, join, matches, parse_change, split

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("app=reg.example/app:2.0", ImageChange("app", "reg.example/app", "2.0")),
        (f"app=reg.example/app@{DIGEST}", ImageChange("app", "reg.example/app", "", DIGEST)),
        (f"app=reg.example/app:2.0@{DIGEST}", ImageChange("app", "reg.example/app", "2.0", DIGEST)),
        ("app=reg.example/app", ImageChange("app", "reg.example/app")),
        ("nginx=:1.27", ImageChange("nginx", "", "1.27")),
        ("nginx:1.27", ImageChange("nginx", "", "1.27")),
        (f"nginx:1.27@{DIGEST}", ImageChange("nginx", "", "1.27", DIGEST)),
        (f"nginx@{DIGEST}", ImageChange("nginx", "", "", DIGEST)),
        ("localhost:5000/app:3", ImageChange("localhost:5000/app", "", "3")),
        (
            "localhost:5000/app=localhost:5000/app:3",
            ImageChange("localhost:5000/app", "localhost:5000/app", "3"),
        ),
        ("app=*:2.1", ImageChange("app", "*", "2.1")),
    ],
)
def test_every_form_kustomize_accepts_parses(argument: str, expected: ImageChange) -> None:
    assert parse_change(argument) == expected


@pytest.mark.parametrize(
    "argument",
    ["nginx", "", "=app:1", "a=b=c:1", "app:bad/tag", "app@notadigest", "my app:1"],
)
def test_what_kustomize_refuses_is_refused(argument: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_change(argument)


@pytest.mark.parametrize(
    ("reference", "name", "expected"),
    [
        ("nginx", "nginx", True),
        ("nginx:1.25", "nginx", True),
        (f"nginx@{DIGEST}", "nginx", True),
        (f"nginx:1.25@{DIGEST}", "nginx", True),
        ("docker.io/library/nginx:1.25", "nginx", False),  # exact: no registry implied
        ("nginx-exporter:1", "nginx", False),
        ("nginx/extra:1", "nginx", False),
        ("registry:5000/app", "registry", False),
        ("reg.example:5000/team/app:1", "reg.example:5000/team/app", True),
    ],
)
def test_matching_is_exact_on_the_name_as_written(
    reference: str, name: str, expected: bool
) -> None:
    assert matches(reference, name) is expected


@pytest.mark.parametrize(
    ("change", "reference", "expected"),
    [
        ("app=reg/app:2", "app:1", "reg/app:2"),
        ("app:2", f"app:1@{DIGEST}", "app:2"),  # a new tag drops a stale digest
        (f"app@{DIGEST}", "app:1", f"app@{DIGEST}"),  # a digest alone drops the tag
        (f"app:2@{DIGEST}", "app:1", f"app:2@{DIGEST}"),
        ("app=reg/app", "app:1", "reg/app:1"),  # a new name alone keeps the tag
        ("localhost:5000/app:9", "localhost:5000/app:8", "localhost:5000/app:9"),
    ],
)
def test_rewrite_follows_kustomize(change: str, reference: str, expected: str) -> None:
    assert parse_change(change).rewrite(reference) == expected


_component = st.from_regex(r"[a-z0-9]+([._-][a-z0-9]+)*", fullmatch=True)
_names = st.lists(_component, min_size=1, max_size=3).map("/".join)
_hosts = st.sampled_from(["", "reg.example/", "localhost:5000/", "10.0.0.1:443/"])
_tags = st.one_of(st.just(""), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True))
_digests = st.one_of(st.just(""), st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True))


@given(host=_hosts, name=_names, tag=_tags, digest=_digests)
def test_split_undoes_join_and_the_reference_matches_its_name(
    host: str, name: str, tag: str, digest: str
) -> None:
    reference = join(host + name, tag, digest)
    assert split(reference) == (host + name, tag, digest)
    assert matches(reference, host + name)


@given(host=_hosts, name=_names, tag=_tags.filter(bool), old=_tags)
def test_a_tag_bump_lands_on_the_new_tag_whatever_was_there(
    host: str, name: str, tag: str, old: str
) -> None:
    change = parse_change(f"{host}{name}:{tag}")
    assert change.rewrite(join(host + name, old, "")) == join(host + name, tag, "")
