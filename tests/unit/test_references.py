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
    assert extract_refs(spec) == {
        Ref(CM, "cm", keys=frozenset({"k"}), required_keys=frozenset({"k"})),
        Ref(SECRET, "s", keys=frozenset({"k"}), required_keys=frozenset({"k"})),
    }


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


# --- keys: what the pods can see of each object ---

K = frozenset({"k"})


def key_ref(kind: Kind, name: str, key: str, **extra: Any) -> dict[str, Any]:
    field = "configMapKeyRef" if kind is CM else "secretKeyRef"
    return {"name": "E", "valueFrom": {field: {"name": name, "key": key, **extra}}}


def test_keys_of_one_object_read_by_several_key_refs_are_united() -> None:
    spec = {"containers": [{"env": [key_ref(CM, "cm", "a"), key_ref(CM, "cm", "b")]}]}
    assert extract_refs(spec) == {
        Ref(CM, "cm", keys=frozenset("ab"), required_keys=frozenset("ab"))
    }


def test_volume_items_are_the_keys_seen() -> None:
    items = [{"key": "one", "path": "1"}, {"key": "two", "path": "2"}]
    spec = {
        "volumes": [
            {"configMap": {"name": "cm", "items": items}},
            {"secret": {"secretName": "s", "items": items[:1], "optional": True}},
        ]
    }
    assert extract_refs(spec) == {
        Ref(CM, "cm", keys=frozenset({"one", "two"}), required_keys=frozenset({"one", "two"})),
        Ref(SECRET, "s", optional=True, keys=frozenset({"one"})),
    }


def test_projected_sources_with_items_are_the_keys_seen() -> None:
    sources = [
        {"configMap": {"name": "cm", "items": [{"key": "a", "path": "a"}]}},
        {"secret": {"name": "s"}},
    ]
    spec = {"volumes": [{"projected": {"sources": sources}}]}
    assert extract_refs(spec) == {
        Ref(CM, "cm", keys=frozenset({"a"}), required_keys=frozenset({"a"})),
        Ref(SECRET, "s"),
    }


def test_empty_or_malformed_items_mean_the_whole_object() -> None:
    spec = {
        "volumes": [
            {"configMap": {"name": "a", "items": []}},
            {"configMap": {"name": "b", "items": None}},
            {"configMap": {"name": "c", "items": [{"path": "x"}, "junk", {"key": ""}]}},
        ]
    }
    assert extract_refs(spec) == {Ref(CM, "a"), Ref(CM, "b"), Ref(CM, "c")}


def test_an_object_read_by_key_and_whole_is_seen_whole_but_keeps_its_required_keys() -> None:
    spec = {
        "containers": [
            {"env": [key_ref(CM, "cm", "a")], "envFrom": [{"configMapRef": {"name": "cm"}}]}
        ]
    }
    assert extract_refs(spec) == {Ref(CM, "cm", keys=None, required_keys=frozenset({"a"}))}


def test_optional_key_refs_are_not_required() -> None:
    spec = {
        "containers": [
            {"env": [key_ref(SECRET, "s", "a", optional=True), key_ref(SECRET, "s", "b")]}
        ]
    }
    assert extract_refs(spec) == {
        Ref(SECRET, "s", keys=frozenset("ab"), required_keys=frozenset({"b"}))
    }


def test_a_key_ref_without_a_key_counts_as_the_whole_object() -> None:
    spec = {"containers": [{"env": [{"valueFrom": {"configMapKeyRef": {"name": "cm"}}}]}]}
    assert extract_refs(spec) == {Ref(CM, "cm")}


# --- model-based property: every place a reference can sit, in any order and mix ---

PLACES = [
    "volume",
    "volume-items",
    "projected",
    "projected-items",
    "env",
    "envFrom",
    "init-env",
    "init-envFrom",
]
WHOLE_PLACES = {"volume", "projected", "envFrom", "init-envFrom"}


def _place(
    spec: dict[str, Any], place: str, kind: Kind, name: str, *, opt: bool | None, key: str
) -> None:
    extra = optional_field(opt)
    if place.endswith("-items"):
        extra["items"] = [{"key": key, "path": key}]
    if place.startswith("volume"):
        body = (
            {"configMap": {"name": name, **extra}}
            if kind is CM
            else {"secret": {"secretName": name, **extra}}
        )
        spec.setdefault("volumes", []).append(body)
    elif place.startswith("projected"):
        source = {"configMap" if kind is CM else "secret": {"name": name, **extra}}
        spec.setdefault("volumes", []).append({"projected": {"sources": [source]}})
    else:
        field = "initContainers" if place.startswith("init-") else "containers"
        container: dict[str, Any] = {"name": "c"}
        if place.endswith("envFrom"):
            ref_field = "configMapRef" if kind is CM else "secretRef"
            container["envFrom"] = [{ref_field: {"name": name, **extra}}]
        else:
            container["env"] = [key_ref(kind, name, key, **extra)]
        spec.setdefault(field, []).append(container)


placements = st.lists(
    st.tuples(
        st.sampled_from(PLACES),
        st.sampled_from(Kind),
        st.sampled_from(["a", "b", "c"]),
        st.one_of(st.none(), st.booleans()),
        st.sampled_from(["k", "j"]),
    ),
    max_size=12,
)


@given(placements)
def test_refs_match_model_of_placements(
    items: list[tuple[str, Kind, str, bool | None, str]],
) -> None:
    spec: dict[str, Any] = {}
    for place, kind, name, opt, key in items:
        _place(spec, place, kind, name, opt=opt, key=key)
    optional: dict[tuple[Kind, str], bool] = {}
    whole: set[tuple[Kind, str]] = set()
    keys: dict[tuple[Kind, str], set[str]] = {}
    required: dict[tuple[Kind, str], set[str]] = {}
    for place, kind, name, opt, key in items:
        optional[(kind, name)] = optional.get((kind, name), True) and bool(opt)
        if place in WHOLE_PLACES:
            whole.add((kind, name))
        else:
            keys.setdefault((kind, name), set()).add(key)
            if not opt:
                required.setdefault((kind, name), set()).add(key)
    assert extract_refs(spec) == {
        Ref(
            k,
            n,
            o,
            None if (k, n) in whole else frozenset(keys[(k, n)]),
            frozenset(required.get((k, n), ())),
        )
        for (k, n), o in optional.items()
    }
