"""The manifest reader on real manifests of schema v10, v11 and v12, and on ones it must refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cartridge_bridge.errors import ProjectError
from cartridge_bridge.gather.manifest import Macro, Manifest, SemanticModel, read_manifest, schema_version

PROJECTS = Path(__file__).resolve().parent.parent / "fixtures" / "projects"
VERSIONS = PROJECTS / "manifest_versions"
ORDERS = "model.dbt_labs_style.stg_jaffle_shop__orders"


def versioned(version: int) -> Path:
    return VERSIONS / f"manifest_v{version}.json"


def rewritten(tmp_path: Path, change: dict[str, Any], source: Path = VERSIONS / "manifest_v12.json") -> Path:
    document = json.loads(source.read_text(encoding="utf-8"))
    document["metadata"].update(change)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize("version", [10, 11, 12])
def test_each_version_decodes_what_cartridge_uses(version: int) -> None:
    manifest = read_manifest(versioned(version))
    assert schema_version(manifest) == version
    assert manifest.metadata.project_name == "dbt_labs_style"
    assert manifest.metadata.adapter_type == "duckdb"
    orders = manifest.nodes[ORDERS]
    assert orders.fqn == ["dbt_labs_style", "staging", "jaffle_shop", "stg_jaffle_shop__orders"]
    assert orders.original_file_path == "models/staging/jaffle_shop/stg_jaffle_shop__orders.sql"
    assert orders.patch_file == "models/staging/jaffle_shop/_jaffle_shop__models.yml"
    assert (orders.materialized, orders.config["schema"], orders.tags) == ("view", None, [])
    assert orders.depends_on.nodes == ["source.dbt_labs_style.jaffle_shop.orders"]
    assert orders.raw_code.startswith("with\n\nsource as (")
    assert list(orders.columns) == ["customer_id", "order_id", "ordered_at", "status"]
    # The description of `status` comes from a docs block, rendered by dbt into the column.
    assert orders.columns["status"].description.startswith("Where the order is in its life")
    assert [d.name for d in manifest.root_docs()] == ["order_status"]
    assert manifest.has_macro("vendor_package", "cents_to_dollars")


@pytest.mark.parametrize("version", [10, 11, 12])
def test_root_nodes_are_told_apart_from_packages(version: int) -> None:
    manifest = read_manifest(versioned(version))
    assert [n.name for n in manifest.root_models()] == [
        "stg_jaffle_shop__customers",
        "stg_jaffle_shop__orders",
    ]
    assert "vendor_calendar" in manifest.node_names()
    assert manifest.nodes["model.vendor_package.vendor_calendar"].package_name == "vendor_package"
    assert [n.name for n in manifest.root_nodes("seed")] == ["country_codes"]
    assert [n.name for n in manifest.root_nodes("snapshot")] == ["orders_snapshot"]
    assert sorted(s.name for s in manifest.root_sources()) == ["customers", "orders"]


@pytest.mark.parametrize("version", [10, 11, 12])
def test_tests_by_model_names_test_column_and_target(version: int) -> None:
    tests = read_manifest(versioned(version)).tests_by_model()
    on_orders = sorted((t.test_name, t.column_name) for t in tests[ORDERS])
    assert on_orders == [("not_null", "order_id"), ("relationships", "customer_id"), ("unique", "order_id")]
    relationship = next(t for t in tests[ORDERS] if t.test_name == "relationships")
    assert relationship.attached_node == ORDERS
    assert sorted(relationship.depends_on.nodes) == [
        "model.dbt_labs_style.stg_jaffle_shop__customers",
        ORDERS,
    ]
    assert relationship.test_metadata is not None
    assert relationship.test_metadata["kwargs"]["to"] == "ref('stg_jaffle_shop__customers')"


def test_versions_decode_to_the_same_records() -> None:
    def typed_fields(version: int) -> dict[str, Any]:
        nodes = msgspec.to_builtins(read_manifest(versioned(version)).nodes)
        # `config` is kept whole, and newer dbt versions add keys to it; every other field is typed. A column's
        # `doc_blocks` is dbt 1.9's (v12 only): older manifests name a doc block by its text (existing_models.py).
        return {
            key: {
                **node,
                "config": node["config"].get("materialized"),
                "columns": {n: {**c, "doc_blocks": ()} for n, c in node["columns"].items()},
            }
            for key, node in nodes.items()
        }

    assert typed_fields(10) == typed_fields(11) == typed_fields(12)


def test_a_singular_test_is_keyed_by_what_it_reads() -> None:
    manifest = read_manifest(PROJECTS / "dbt_labs_style" / "manifest.json")
    tests = manifest.tests_by_model()["model.dbt_labs_style.fct_orders"]
    singular = [t for t in tests if t.test_name is None]
    assert [t.name for t in singular] == ["assert_order_totals_are_not_negative"]
    assert singular[0].attached_node is None


def test_namespaced_test_names_keep_their_package() -> None:
    manifest = read_manifest(versioned(12))
    test = next(t for t in manifest.tests_by_model()[ORDERS] if t.test_name == "unique")
    assert test.test_metadata is not None
    test.test_metadata["namespace"] = "dbt_utils"
    assert test.test_name == "dbt_utils.unique"


def test_the_greenfield_manifest_has_no_root_models() -> None:
    manifest = read_manifest(PROJECTS / "greenfield_empty" / "manifest.json")
    assert manifest.metadata.project_name == "greenfield_empty"
    assert manifest.root_models() == []
    assert manifest.tests_by_model() == {}


def test_the_fixture_manifests_are_normalised() -> None:
    for name in ("greenfield_empty", "classic_style", "dbt_labs_style"):
        text = (PROJECTS / name / "manifest.json").read_text(encoding="utf-8")
        document = json.loads(text)
        assert document["metadata"]["invocation_id"] == "00000000-0000-0000-0000-000000000000"
        assert document["metadata"]["user_id"] is None
        assert "/tmp" not in text and "cartridge-fixtures-" not in text
        assert not [k for k in document["macros"] if k.startswith(("macro.dbt.", "macro.dbt_duckdb."))]


def test_macros_and_unused_sections_stay_undecoded() -> None:
    manifest = read_manifest(PROJECTS / "dbt_labs_style" / "manifest.json")
    assert {m.package_name for m in manifest.macros.values()} == {"vendor_package"}
    assert Macro.__struct_fields__ == ("name", "package_name")
    assert {"parent_map", "child_map", "disabled"}.isdisjoint(Manifest.__struct_fields__)
    # The semantic layer is read for its names (what a new semantic model must not take) and where it is written.
    fields = (
        "name",
        "package_name",
        "measures",
        "entities",
        "primary_entity",
        "original_file_path",
        "depends_on",
    )
    assert SemanticModel.__struct_fields__ == fields


def test_missing_manifest_says_to_run_dbt_parse(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"^no dbt manifest at .*; run `dbt parse` in the project first$"):
        read_manifest(tmp_path / "target" / "manifest.json")


def test_truncated_manifest_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(versioned(12).read_bytes()[:5000])
    with pytest.raises(ProjectError, match=r"is corrupt \(.*\); run `dbt parse` again$"):
        read_manifest(path)


def test_v9_asks_for_a_newer_dbt(tmp_path: Path) -> None:
    path = rewritten(
        tmp_path,
        {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v9.json", "dbt_version": "1.5.11"},
        versioned(10),
    )
    with pytest.raises(ProjectError) as caught:
        read_manifest(path)
    assert str(caught.value) == (
        f"the dbt manifest {path} has schema version 9 (dbt 1.5.11); cartridge reads v10–v12 from dbt 1.6–1.11: "
        "upgrade the project to dbt 1.6 or newer and run `dbt parse` again"
    )


def test_v13_is_named_unsupported(tmp_path: Path) -> None:
    path = rewritten(
        tmp_path,
        {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v13.json", "dbt_version": "2.0.0"},
    )
    with pytest.raises(ProjectError, match=r"has schema version 13 \(dbt 2\.0\.0\);.*or upgrade cartridge$"):
        read_manifest(path)


def test_a_newer_shape_is_named_by_its_version_not_called_corrupt(tmp_path: Path) -> None:
    document = {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v13.json"},
        "nodes": [{"unique_id": "model.x.y"}],  # a shape v10–v12 never had
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ProjectError, match="has schema version 13"):
        read_manifest(path)


def test_a_large_manifest_decodes_whole(tmp_path: Path) -> None:
    # Its speed is measured in bench/bench_context.py, against a baseline in the same run, not asserted here.
    template = json.loads(versioned(12).read_text(encoding="utf-8"))
    model, test = (
        template["nodes"][ORDERS],
        next(n for n in template["nodes"].values() if n["resource_type"] == "test"),
    )
    nodes = {}
    for i in range(20_000):
        node = dict(test if i % 3 else model, unique_id=f"x.dbt_labs_style.n{i}", name=f"n{i}")
        nodes[node["unique_id"]] = node
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(dict(template, nodes=nodes)), encoding="utf-8")
    manifest = read_manifest(path)
    assert len(manifest.nodes) == 20_000
    assert manifest.nodes["x.dbt_labs_style.n3"].name == "n3"
