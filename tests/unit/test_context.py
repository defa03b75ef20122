"""Unit tests of cartridge_bridge.context.project_context: dbt_project.yml conventions, source names and build_context."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import (
    build_context,
    configured_materialization,
    default_source_name,
    read_project_file,
)
from cartridge_bridge.errors import ProjectError, UsageError
from cartridge_bridge.gather.facts import WarehouseFacts
from cartridge_bridge.gather.manifest import Manifest, Metadata

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "unit"

PROJECT_FILE: dict[str, Any] = {
    "name": "shop",
    "models": {
        "shop": {
            "+materialized": "view",
            "staging": {"stripe": {"+schema": "stripe"}},
            "marts": {
                "+materialized": "table",
                "finance": {"materialized": "incremental", "daily": {"+tags": ["daily"]}},
            },
        },
        "dbt_utils": {"+materialized": "ephemeral"},
    },
}


def project(directory: Path, text: str = "name: shop\nconfig-version: 2\n") -> Path:
    (directory / "dbt_project.yml").write_text(text, encoding="utf-8")
    return directory


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("", "view"),
        ("staging", "view"),
        ("staging/stripe", "view"),
        ("intermediate", "view"),
        ("marts", "table"),
        ("marts/core", "table"),
        ("marts/finance", "incremental"),
        ("marts/finance/daily", "incremental"),
    ],
)
def test_configured_materialization_is_inherited_down_folders(folder: str, expected: str) -> None:
    assert configured_materialization(PROJECT_FILE, folder) == expected


def test_other_packages_configs_do_not_count() -> None:
    project_file = {"name": "shop", "models": {"dbt_utils": {"+materialized": "table"}}}
    assert configured_materialization(project_file, "staging") is None


@pytest.mark.parametrize(
    "project_file",
    [
        {"name": "shop"},
        {"name": "shop", "models": None},
        {"name": "shop", "models": {"shop": None}},
        {"name": "shop", "models": {"shop": {"staging": {"+schema": "staging"}}}},
        {"name": "shop", "models": {"shop": {"staging": "view"}}},
        {"name": "shop", "models": {"shop": {"+materialized": ["not", "a", "string"]}}},
    ],
)
def test_no_configured_materialization(project_file: dict[str, Any]) -> None:
    assert configured_materialization(project_file, "staging") is None


def test_materialization_set_for_all_models() -> None:
    assert (
        configured_materialization({"name": "shop", "models": {"+materialized": "table"}}, "marts") == "table"
    )


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ("raw_stripe", "stripe"),
        ("RAW_STRIPE", "stripe"),
        ("src_hubspot", "hubspot"),
        ("source_shopify", "shopify"),
        ("raw", "raw"),
        ("raw_", "raw"),
        ("Raw Data", "data"),
        ("stripe", "stripe"),
        ("landing_zone", "landing_zone"),
        ("rawstripe", "rawstripe"),
    ],
)
def test_default_source_name(schema: str, expected: str) -> None:
    assert default_source_name(schema) == expected


def test_read_project_file(tmp_path: Path) -> None:
    data = read_project_file(project(tmp_path, "name: shop\nmodel-paths: [transform]\n"))
    assert data == {"name": "shop", "model-paths": ["transform"]}


def test_directory_without_dbt_project_yml(tmp_path: Path, manifest: Manifest) -> None:
    with pytest.raises(ProjectError, match=f"^{re.escape(str(tmp_path))} is not a dbt project"):
        build_context(tmp_path, manifest, None, Conventions())


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("name: [shop\n", "is not valid YAML"),
        ("version: 2\n", "has no project name"),
        ("- shop\n", "has no project name"),
    ],
)
def test_unusable_dbt_project_yml(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(ProjectError, match=complaint) as caught:
        read_project_file(project(tmp_path, text))
    assert str(tmp_path / "dbt_project.yml") in str(caught.value)


def test_brownfield_context(tmp_path: Path, manifest: Manifest, facts: WarehouseFacts) -> None:
    context = build_context(project(tmp_path), manifest, facts, Conventions())
    assert context.project_name == "shop"
    assert context.project_dir == str(tmp_path)
    assert context.adapter_type == "postgres"
    assert context.model_path == "models"
    assert context.strategy == "brownfield"
    assert context.existing_models == ["stg_legacy"]
    assert context.existing_sources == ["legacy.payments"]
    assert context.configured_materializations == {}
    assert context.nested_test_arguments is True
    [raw] = context.raw_schemas
    assert (raw.schema_name, raw.source_name, raw.database) == ("raw_shop", "shop", "warehouse")
    assert [r.identifier for r in raw.relations] == [
        "customers",
        "orders",
        "order_items",
        "products",
        "payments",
    ]


def test_greenfield_when_only_packages_have_models(tmp_path: Path, facts: WarehouseFacts) -> None:
    manifest = msgspec.json.decode((FIXTURES / "manifest_min.json").read_bytes(), type=Manifest)
    del manifest.nodes["model.shop.stg_legacy"]
    context = build_context(project(tmp_path), manifest, facts, Conventions())
    assert context.strategy == "greenfield"
    assert context.existing_models == []


def test_coverage_matches_schema_and_identifier_case_insensitively(
    tmp_path: Path, manifest: Manifest, facts: WarehouseFacts
) -> None:
    # The manifest declares RAW_SHOP.PAYMENTS; the warehouse spells it raw_shop.payments.
    context = build_context(project(tmp_path), manifest, facts, Conventions())
    assert context.raw_schemas[0].covered == ["payments"]


def test_sources_of_other_packages_cover_nothing(
    tmp_path: Path, manifest: Manifest, facts: WarehouseFacts
) -> None:
    assert manifest.sources["source.vendor_pkg.vendor.products"].identifier == "products"
    context = build_context(project(tmp_path), manifest, facts, Conventions())
    assert "products" not in context.raw_schemas[0].covered


def test_coverage_needs_the_same_schema(tmp_path: Path, manifest: Manifest, facts: WarehouseFacts) -> None:
    source = manifest.sources["source.shop.legacy.payments"]
    moved = msgspec.structs.replace(source, schema_="raw_legacy")
    elsewhere = msgspec.structs.replace(manifest, sources={source.unique_id: moved})
    context = build_context(project(tmp_path), elsewhere, facts, Conventions())
    assert context.raw_schemas[0].covered == []


def test_source_name_override(tmp_path: Path, manifest: Manifest, facts: WarehouseFacts) -> None:
    context = build_context(project(tmp_path), manifest, facts, Conventions(), source_name="webshop")
    assert context.raw_schemas[0].source_name == "webshop"


def test_source_name_with_two_schemas_is_refused(
    tmp_path: Path, manifest: Manifest, facts: WarehouseFacts
) -> None:
    two = facts.model_copy(update={"schemas": ["raw_shop", "raw_stripe"]})
    with pytest.raises(UsageError, match="--source-name names one source, but several schemas were given"):
        build_context(project(tmp_path), manifest, two, Conventions(), source_name="shop")
    assert [
        s.source_name for s in build_context(project(tmp_path), manifest, two, Conventions()).raw_schemas
    ] == [
        "shop",
        "stripe",
    ]


def test_without_facts_the_adapter_comes_from_the_manifest(tmp_path: Path, manifest: Manifest) -> None:
    context = build_context(project(tmp_path), manifest, None, Conventions())
    assert context.adapter_type == "postgres"
    assert context.raw_schemas == []
    nameless = Manifest(metadata=Metadata(project_name="shop"))
    assert build_context(project(tmp_path), nameless, None, Conventions()).adapter_type == "unknown"


def test_project_settings_reach_the_context(tmp_path: Path, manifest: Manifest) -> None:
    text = (
        "name: shop\n"
        "model-paths: [transform, more_models]\n"
        "flags:\n  require_generic_test_arguments_property: false\n"
        "models:\n  shop:\n    staging:\n      +materialized: table\n    marts:\n      +materialized: table\n"
    )
    # stg_legacy lives in models/legacy/, so pin the staging folder this test configures
    pinned = Conventions(staging_dir="staging/{source}")
    context = build_context(project(tmp_path, text), manifest, None, pinned)
    assert context.model_path == "transform"
    assert context.nested_test_arguments is False
    assert context.configured_materializations == {"staging": "table", "marts": "table"}


def test_nested_test_arguments_default_applies_without_the_flag(tmp_path: Path, manifest: Manifest) -> None:
    context = build_context(
        project(tmp_path), manifest, None, Conventions(), nested_test_arguments_default=False
    )
    assert context.nested_test_arguments is False
