"""Which ConfigMaps and Secrets a pod spec references (reloader.core.references.extract_refs)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reloader.core.references import Kind, Ref, extract_refs

CM, SECRET = Kind.CONFIGMAP, Kind.SECRET


def optional_field(optional: bool | None) -> dict[str, Any]:
    return {} if optional is None else {"optional": optional}


def test_empty_spec_references_nothing() -> None:
    assert extract_refs({}) == frozenset()


def test_null_lists_are_tolerated() -> None:
    spec = {"volumes": None, "containers": None, "initContainers": None}
    assert extract_refs(spec) == frozenset()


def test_configmap_volume() -> None:
    spec = {"volumes": [{"name": "v", "configMap": {"name": "cm"}}]}
    assert extract_refs(spec) == {Ref(CM, "cm")}


def test_secret_volume_uses_secret_name() -> None:
    spec = {"volumes": [{"name": "v", "secret": {"secretName": "s"}}]}
    assert extract_refs(spec) == {Ref(SECRET, "s")}


def test_secret_volume_with_name_instead_of_secret_name_is_not_a_reference() -> None:
    spec = {"volumes": [{"name": "v", "secret": {"name": "s"}}]}
    assert extract_refs(spec) == frozenset()


def test_projected_volume_sources() -> None:
    spec = {
        "volumes": [
            {
                "name": "v",
                "projected": {
                    "sources": [
                        {"configMap": {"name": "cm"}},
                        {"secret": {"name": "s", "optional": True}},
                        {"downwardAPI": {"items": []}},
                        {"serviceAccountToken": {"path": "token"}},
                    ]
                },
            }
        ]
    }
    assert extract_refs(spec) == {Ref(CM, "cm"), Ref(SECRET, "s", optional=True)}


def test_projected_volume_without_sources() -> None:
    spec = {"volumes": [{"name": "v", "projected": {"sources": None}}, {"projected": None}]}
    assert extract_refs(spec) == frozenset()


def test_other_volume_types_are_ignored() -> None:
    spec = {"volumes": [{"name": "e", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/"}}]}
    assert extract_refs(spec) == frozenset()


def test_env_value_from_key_refs() -> None:
    spec = {
        "containers": [
            {
                "name": "app",
                "env": [
                    {"name": "A", "value": "literal"},
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                    {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
            }
        ]
    }
    assert extract_refs(spec) == {Ref(CM, "cm"), Ref(SECRET, "s")}


def test_env_from_refs() -> None:
    spec = {
        "containers": [
            {
                "name": "app",
                "envFrom": [
                    {"configMapRef": {"name": "cm"}},
                    {"prefix": "X_", "secretRef": {"name": "s"}},
                ],
            }
        ]
    }
    assert extract_refs(spec) == {Ref(CM, "cm"), Ref(SECRET, "s")}


def test_init_containers_are_read() -> None:
    spec = {
        "initContainers": [
            {"name": "init", "envFrom": [{"secretRef": {"name": "init-secret"}}]},
        ],
        "containers": [{"name": "app"}],
    }
    assert extract_refs(spec) == {Ref(SECRET, "init-secret")}


def test_all_containers_are_read() -> None:
    spec = {
        "containers": [
            {"name": "a", "envFrom": [{"configMapRef": {"name": "one"}}]},
            {"name": "b", "envFrom": [{"configMapRef": {"name": "two"}}]},
        ]
    }
    assert extract_refs(spec) == {Ref(CM, "one"), Ref(CM, "two")}


def test_references_without_a_name_are_skipped() -> None:
    spec = {
        "volumes": [{"configMap": {}}, {"secret": {"secretName": ""}}],
        "containers": [
            {
                "name": "app",
                "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"key": "k"}}}],
                "envFrom": [{"secretRef": {}}],
            }
        ],
    }
    assert extract_refs(spec) == frozenset()


def test_optional_flag_is_carried() -> None:
    spec = {"volumes": [{"configMap": {"name": "cm", "optional": True}}]}
    assert extract_refs(spec) == {Ref(CM, "cm", optional=True)}


def test_optional_defaults_to_false() -> None:
    spec = {"volumes": [{"configMap": {"name": "cm"}}]}
    (ref,) = extract_refs(spec)
    assert ref.optional is False


def test_object_referenced_optional_and_required_counts_as_required() -> None:
    spec = {
        "volumes": [{"configMap": {"name": "cm", "optional": True}}],
        "containers": [{"name": "app", "envFrom": [{"configMapRef": {"name": "cm"}}]}],
    }
    assert extract_refs(spec) == {Ref(CM, "cm", optional=False)}


def test_required_first_then_optional_still_required() -> None:
    spec = {
        "volumes": [
            {"configMap": {"name": "cm", "optional": False}},
            {"configMap": {"name": "cm", "optional": True}},
        ],
    }
    assert extract_refs(spec) == {Ref(CM, "cm", optional=False)}


def test_object_referenced_optional_everywhere_stays_optional() -> None:
    spec = {
        "volumes": [{"secret": {"secretName": "s", "optional": True}}],
        "containers": [
            {
                "name": "app",
                "env": [{"valueFrom": {"secretKeyRef": {"name": "s", "optional": True}}}],
            }
        ],
    }
    assert extract_refs(spec) == {Ref(SECRET, "s", optional=True)}


def test_same_name_different_kinds_are_separate_refs() -> None:
    spec = {
        "volumes": [{"configMap": {"name": "x"}}, {"secret": {"secretName": "x"}}],
    }
    assert extract_refs(spec) == {Ref(CM, "x"), Ref(SECRET, "x")}


def test_one_ref_per_object() -> None:
    spec = {
        "volumes": [{"configMap": {"name": "cm"}}],
        "containers": [
            {
                "name": "app",
                "env": [{"valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}}],
                "envFrom": [{"configMapRef": {"name": "cm"}}],
            }
        ],
    }
    assert len(extract_refs(spec)) == 1


def test_ref_key_is_kind_and_name() -> None:
    assert Ref(SECRET, "s", optional=True).key == (SECRET, "s")


# --- model-based property: every place a reference can sit, in any order and mix ---

PLACES = [
    "volume",
    "projected",
    "env",
    "envFrom",
    "init-env",
    "init-envFrom",
]


def _place(spec: dict[str, Any], place: str, kind: Kind, name: str, opt: bool | None) -> None:
    extra = optional_field(opt)
    if place == "volume":
        body = (
            {"configMap": {"name": name, **extra}}
            if kind is CM
            else {"secret": {"secretName": name, **extra}}
        )
        spec.setdefault("volumes", []).append(body)
    elif place == "projected":
        source = {"configMap" if kind is CM else "secret": {"name": name, **extra}}
        spec.setdefault("volumes", []).append({"projected": {"sources": [source]}})
    else:
        field = "initContainers" if place.startswith("init-") else "containers"
        container: dict[str, Any] = {"name": "c"}
        if place.endswith("envFrom"):
            ref_field = "configMapRef" if kind is CM else "secretRef"
            container["envFrom"] = [{ref_field: {"name": name, **extra}}]
        else:
            ref_field = "configMapKeyRef" if kind is CM else "secretKeyRef"
            container["env"] = [
                {"name": "E", "valueFrom": {ref_field: {"name": name, "key": "k", **extra}}}
            ]
        spec.setdefault(field, []).append(container)


placements = st.lists(
    st.tuples(
        st.sampled_from(PLACES),
        st.sampled_from(Kind),
        st.sampled_from(["a", "b", "c"]),
        st.one_of(st.none(), st.booleans()),
    ),
    max_size=12,
)


@given(placements)
def test_refs_match_model_of_placements(
    items: list[tuple[str, Kind, str, bool | None]],
) -> None:
    spec: dict[str, Any] = {}
    for place, kind, name, opt in items:
        _place(spec, place, kind, name, opt)
    expected: dict[tuple[Kind, str], bool] = {}
    for _, kind, name, opt in items:
        expected[(kind, name)] = expected.get((kind, name), True) and bool(opt)
    assert extract_refs(spec) == {Ref(k, n, o) for (k, n), o in expected.items()}
