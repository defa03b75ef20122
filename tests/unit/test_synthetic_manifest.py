"""Unit tests of bench.synthetic_manifest: realistic, deterministic manifests with a trustworthy ground truth."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bench.synthetic_manifest import (
    NEW_ENTITIES,
    PACKAGE,
    PROJECT,
    BrownfieldCase,
    brownfield_case,
    plural,
    synthetic_case,
    write_manifest,
)
from cartridge_bridge.gather.manifest import read_manifest, schema_version

TOP_LEVEL = {
    "metadata",
    "nodes",
    "sources",
    "macros",
    "docs",
    "exposures",
    "metrics",
    "groups",
    "selectors",
    "disabled",
    "parent_map",
    "child_map",
    "group_map",
    "saved_queries",
    "semantic_models",
    "unit_tests",
}


@pytest.fixture(scope="module")
def small() -> BrownfieldCase:
    return synthetic_case(2_000, seed=11)


@pytest.fixture(scope="module")
def large() -> BrownfieldCase:
    return brownfield_case(5_000, seed=4, new_tables=3, lean=True)


def own_models(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        n
        for n in document["nodes"].values()
        if n["resource_type"] == "model" and n["package_name"] == PROJECT
    ]


def sharing_in_text(document: dict[str, Any], keys: frozenset[str]) -> dict[str, set[str]]:
    """Which keys each model carries, read back from its documented columns and its SQL, not from the generator."""
    whole_word = {k: re.compile(rf"(?<![a-z0-9_]){k}(?![a-z0-9_])") for k in keys}
    found: dict[str, set[str]] = {}
    for node in own_models(document):
        code = node["raw_code"].lower()
        in_code = {k for k, pattern in whole_word.items() if k in code and pattern.search(code)}
        in_docs = keys & {c.lower() for c in node["columns"]}
        if in_code | in_docs:
            found[node["name"]] = in_code | in_docs
    return found


def test_a_synthetic_case_has_exactly_the_nodes_asked_for_at_about_5_kb_each(small: BrownfieldCase) -> None:
    document = small.document
    kinds = Counter(n["resource_type"] for n in document["nodes"].values())
    assert kinds == {"model": 500, "test": 1_000}
    assert len(document["sources"]) > 150 and len(document["macros"]) > 250
    assert sum(kinds.values()) + len(document["sources"]) + len(document["macros"]) == 2_000
    size = len(msgspec.json.encode(document))
    assert 4_000 < size / 2_000 < 6_500


def test_the_document_has_the_v12_shape(small: BrownfieldCase, tmp_path: Path) -> None:
    document = small.document
    assert set(document) == TOP_LEVEL
    model = own_models(document)[0]
    assert {"raw_code", "compiled_code", "checksum", "fqn", "refs", "contract", "unrendered_config"} <= set(
        model
    )
    assert len(model["config"]) > 20 and model["raw_code"] != model["compiled_code"]
    path = tmp_path / "manifest.json"
    assert write_manifest(document, path) == path.stat().st_size
    manifest = read_manifest(path)
    assert schema_version(manifest) == 12 and manifest.metadata.project_name == PROJECT
    assert len(manifest.root_models()) == len(own_models(document)) < 500  # a package's models are not ours
    assert any(n.package_name == PACKAGE for n in manifest.nodes.values())


def test_parent_and_child_maps_follow_depends_on(small: BrownfieldCase) -> None:
    document = small.document
    for node_id, node in document["nodes"].items():
        assert document["parent_map"][node_id] == node["depends_on"]["nodes"]
        for parent in node["depends_on"]["nodes"]:
            assert parent in document["nodes"] or parent in document["sources"]
            assert node_id in document["child_map"][parent]


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    def encoded(seed: int) -> bytes:
        return msgspec.json.encode(brownfield_case(300, seed, tests=300, macros=50).document)

    assert encoded(5) == encoded(5)
    assert encoded(5) != encoded(6)


def test_new_relations_are_new_tables_with_an_id_and_foreign_keys(large: BrownfieldCase) -> None:
    assert len(large.relations) == 3
    for relation in large.relations:
        assert relation.columns[0].name == "id"
        assert relation.identifier in {plural(e) for e in NEW_ENTITIES}
    own_keys = {f"{r.identifier[:-1]}_id" for r in large.relations if r.identifier.endswith("s")}
    assert own_keys <= large.key_names
    assert {c.name for r in large.relations for c in r.columns if c.name.endswith("_id")} <= large.key_names


def test_the_ground_truth_is_what_the_text_of_the_models_says(large: BrownfieldCase) -> None:
    found = sharing_in_text(large.document, large.key_names)
    assert set(found) == large.key_sharing
    assert 50 < len(large.key_sharing) < 200  # enough to matter, few enough for a 6,000-token slice


def test_the_ground_truth_needs_both_the_sql_and_the_documentation(large: BrownfieldCase) -> None:
    models = {n["name"]: n for n in own_models(large.document)}
    only_sql = [m for m in large.key_sharing if not large.key_names & set(models[m]["columns"])]
    only_docs = [m for m in large.key_sharing if "select * from" in models[m]["raw_code"]]
    assert only_sql and only_docs
