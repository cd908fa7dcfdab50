"""Stakater's filter values become selectors and kind sets (reloader.core.filtering)."""

from __future__ import annotations

import pytest

from reloader.core.filtering import (
    excluding,
    ignored_resources,
    ignored_workload_kinds,
    label_selector,
    namespace_names,
    split_list,
    visibility_changed_only,
)
from reloader.core.references import Kind


@pytest.mark.parametrize(
    ("values", "selector"),
    [
        (["team:a"], "team=a"),
        (["team:a,env:prod"], "team=a,env=prod"),
        (["team:a", "env:prod"], "team=a,env=prod"),
        (["team:*"], "team"),
        (["team=*"], "team"),
        (["team==a"], "team=a"),
        (["team = a , env != dev"], "team=a,env!=dev"),
        (["env in (prod, staging),!legacy"], "env in (prod,staging),!legacy"),
        (["env notin (dev)"], "env notin (dev)"),
        (["example.com/team:a"], "example.com/team=a"),
        (["team="], "team="),
        (["team:a", "team:a"], "team=a"),
    ],
)
def test_stakater_and_selector_syntax_become_one_label_selector(
    values: list[str], selector: str
) -> None:
    assert label_selector(values) == selector


def test_no_values_mean_no_selector() -> None:
    assert label_selector([]) is None
    assert label_selector(["", " , "]) is None


@pytest.mark.parametrize(
    "bad", ["team:a:b", "=a", "team in prod", "team in (a", "te am=a", "team=a b", "-x=a", "a=b)"]
)
def test_a_malformed_requirement_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match="not a label requirement"):
        label_selector([bad])


def test_lists_split_on_commas_outside_parentheses() -> None:
    assert split_list("a in (x,y), b ,,c") == ["a in (x,y)", "b", "c"]


def test_namespace_names_are_checked_so_they_cannot_bend_a_field_selector() -> None:
    assert namespace_names(["a,b", "a", "kube-system"], flag="--x") == ("a", "b", "kube-system")
    with pytest.raises(ValueError, match=r"--x: 'a=b' is not a namespace name"):
        namespace_names(["a=b"], flag="--x")
    with pytest.raises(ValueError, match="not a namespace name"):
        namespace_names(["Upper"], flag="--x")


def test_ignored_namespaces_become_a_field_selector() -> None:
    assert excluding("metadata.namespace", ["a", "b"]) == (
        "metadata.namespace!=a,metadata.namespace!=b"
    )
    assert excluding("metadata.name", []) is None


def test_resources_to_ignore_take_stakaters_values_in_any_case() -> None:
    assert ignored_resources(["configMaps"]) == {Kind.CONFIGMAP}
    assert ignored_resources(["SECRETS"]) == {Kind.SECRET}
    assert ignored_resources([]) == frozenset()
    with pytest.raises(ValueError, match="--resources-to-ignore accepts configmaps, secrets"):
        ignored_resources(["pods"])


def test_ignored_workload_types_take_stakaters_values_and_every_kind() -> None:
    assert ignored_workload_kinds(["jobs,cronjobs"]) == {"Job", "CronJob"}
    assert ignored_workload_kinds(["Deployments", "rollouts"]) == {"Deployment", "Rollout"}
    with pytest.raises(ValueError, match="--ignored-workload-types accepts"):
        ignored_workload_kinds(["pods"])


CM = {"ConfigMap/a": "h1"}


@pytest.mark.parametrize(
    ("before", "after", "kinds", "only"),
    [
        (CM, CM | {"Secret/s": "h2"}, {Kind.SECRET}, True),  # a Secret came into view
        (CM | {"Secret/s": "h2"}, CM, {Kind.SECRET}, True),  # ... or left it
        (CM, {}, {Kind.SECRET}, False),  # a ConfigMap left, but ConfigMaps are all in view
        (CM, {}, set(Kind), True),
        (CM, {"ConfigMap/a": "h9"}, set(Kind), False),  # content changed
        (CM, {"ConfigMap/a": "h9", "Secret/s": "h2"}, set(Kind), False),
        (CM, CM, set(Kind), True),
    ],
)
def test_only_objects_entering_or_leaving_the_view_is_no_content_change(
    before: dict[str, str], after: dict[str, str], kinds: set[Kind], only: bool
) -> None:
    assert visibility_changed_only(before, after, kinds) is only
