"""Source freshness: which column dates a table's last load, the thresholds (cartridge.yml, the project's own
convention, the default), the plan's checks of both and the YAML written for dbt 1.10+."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support import shop_project
from unit.test_staging_cleaning import EMPTY_MANIFEST, checked_plan, col, table

from cartridge_bridge.cli.views import freshness_coverage_line
from cartridge_bridge.config import CONFIG_FILE, DEFAULT_FRESHNESS, Conventions, load_config
from cartridge_bridge.context.convention_evidence import apply_pinned, pinned_settings
from cartridge_bridge.context.convention_rules import freshness_of, infer_conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.facts import RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import Manifest, Metadata, Node, SourceTable
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import ExecutionPlan, SourceSpec, SourceTableSpec
from cartridge_bridge.planning.rules.source_freshness import (
    FreshnessCoverage,
    freshness_coverage,
    loaded_at_column,
)
from cartridge_bridge.render.plan_files import render_plan

TS = "timestamp without time zone"
HALF_DAY = {"warn_after": {"count": 12, "period": "hour"}, "error_after": {"count": 1, "period": "day"}}


def loaded_at(*columns: dict[str, Any], profiled: bool = False) -> str | None:
    found = loaded_at_column(table("t", col("id"), *columns, profiled=profiled))
    return found.name if found is not None else None


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ([col("_fivetran_synced", TS)], "_fivetran_synced"),
        ([col("_airbyte_extracted_at", "timestamp with time zone")], "_airbyte_extracted_at"),
        ([col("_etl_loaded_at", "TIMESTAMP_NTZ")], "_etl_loaded_at"),
        # When it reached the warehouse before when it left the source, whatever the column order.
        ([col("_sdc_extracted_at", TS), col("_sdc_batched_at", TS)], "_sdc_batched_at"),
        # Bookkeeping that is no load time; business timestamps; a date; dlt's text load id.
        ([col("_sdc_deleted_at", TS), col("_fivetran_start", TS)], None),
        ([col("updated_at", TS), col("synced_at", TS)], None),
        ([col("_loaded_at", "date")], None),
        ([col("_dlt_load_id", "text")], None),
        ([col("_fivetran_synced", "text")], None),  # text with no profile showing timestamps
    ],
)
def test_the_loader_timestamp_is_found_by_name_and_type(
    columns: list[dict[str, Any]], expected: str | None
) -> None:
    assert loaded_at(*columns) == expected


def test_text_holding_timestamps_counts_and_a_column_never_filled_does_not() -> None:
    iso = {"null_count": 0, "min": "2025-01-01 10:00:00", "max": "2025-03-01 10:00:00"}
    assert (
        loaded_at(col("_airbyte_emitted_at", "varchar", profile=iso), profiled=True) == "_airbyte_emitted_at"
    )
    empty = {"null_count": 3}
    assert loaded_at(col("_loaded_at", TS, profile=empty), profiled=True) is None


def write_config(directory: Path, text: str) -> Conventions:
    (directory / CONFIG_FILE).write_text(text, encoding="utf-8")
    return load_config(directory).conventions


def test_thresholds_come_from_cartridge_yml(tmp_path: Path) -> None:
    assert Conventions().source_freshness == DEFAULT_FRESHNESS
    assert write_config(tmp_path, "conventions: {source_freshness: false}\n").source_freshness is None
    assert (
        write_config(tmp_path, "conventions: {source_freshness: true}\n").source_freshness
        == DEFAULT_FRESHNESS
    )
    only_warn = write_config(
        tmp_path, "conventions:\n  source_freshness:\n    warn_after: {count: 3, period: day}\n"
    )
    assert only_warn.source_freshness is not None and only_warn.source_freshness.error_after is None
    assert str(only_warn.source_freshness) == "warn after 3 days"


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{warn_after: {count: 1, period: week}}", "period"),
        ("{warn_after: {count: 0, period: hour}}", "count"),
        (
            "{warn_after: {count: 2, period: day}, error_after: {count: 1, period: day}}",
            "longer than error_after",
        ),
        ("{}", "needs warn_after, error_after or both"),
        ("{warn_after: {count: 1, period: hour}, filter: 'x > 1'}", "filter"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_key(tmp_path: Path, block: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as error:
        write_config(tmp_path, f"conventions:\n  source_freshness: {block}\n")
    assert "conventions.source_freshness" in str(error.value)


def source_table(name: str, freshness: dict[str, Any] | None) -> SourceTable:
    return SourceTable(
        unique_id=f"source.shop.legacy.{name}",
        name=name,
        source_name="legacy",
        package_name="shop",
        identifier=name,
        freshness=freshness,
    )


def manifest_with(*tables: SourceTable) -> Manifest:
    model = Node(unique_id="model.shop.stg_a", resource_type="model", name="stg_a", package_name="shop")
    return Manifest(
        metadata=Metadata(project_name="shop"),
        nodes={model.unique_id: model},
        sources={t.unique_id: t for t in tables},
    )


def test_the_projects_own_thresholds_win_over_the_default_and_cartridge_yml_over_both() -> None:
    # dbt writes null counts for a table without freshness: no evidence either way.
    none = {"warn_after": {"count": None, "period": None}, "error_after": {"count": None, "period": None}}
    manifest = manifest_with(
        source_table("a", HALF_DAY), source_table("b", HALF_DAY), source_table("c", none)
    )
    found = infer_conventions(manifest, {"name": "shop"})
    assert found.source_freshness.value == freshness_of(HALF_DAY)
    assert (found.source_freshness.evidence.agree, found.source_freshness.evidence.total) == (2, 2)
    assert found.conventions(0.5).source_freshness == freshness_of(HALF_DAY)  # unanimous: followed
    # One table is weak evidence: the default stands.
    single = infer_conventions(manifest_with(source_table("a", HALF_DAY)), {"name": "shop"})
    assert single.conventions(0.5).source_freshness == DEFAULT_FRESHNESS
    pinned = apply_pinned(found, pinned_settings(Conventions(source_freshness=False)))
    assert pinned.conventions(0.5).source_freshness is None


def context_for(tmp_path: Path, conventions: Conventions, *relations: RawRelation) -> ProjectContext:
    tmp_path.mkdir(parents=True, exist_ok=True)
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=list(relations)
    )
    return build_context(shop_project(tmp_path), EMPTY_MANIFEST, facts, conventions)


def plan_for(tmp_path: Path, conventions: Conventions, *relations: RawRelation) -> ExecutionPlan:
    return checked_plan(context_for(tmp_path, conventions, *relations))


def source_tables(plan: ExecutionPlan) -> dict[str, SourceTableSpec]:
    return {t.name: t for a in plan.actions if isinstance(a.spec, SourceSpec) for t in a.spec.tables}


def source_yaml(plan: ExecutionPlan) -> dict[str, Any]:
    rendered = next(f for f in render_plan(plan) if f.sources)
    return {t["name"]: t for t in rendered.sources[0]["tables"]}


SYNCED = table("orders", col("id"), col("amount", "numeric"), col("_fivetran_synced", TS))
UNLOADED = table("customers", col("id"), col("name", "text"))


def test_the_rules_plan_and_the_sources_yaml_carry_freshness_under_config(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, Conventions(), SYNCED, UNLOADED)
    tables = source_tables(plan)
    assert (tables["orders"].loaded_at_field, tables["orders"].freshness) == (
        "_fivetran_synced",
        DEFAULT_FRESHNESS,
    )
    assert tables["customers"].loaded_at_field is None and tables["customers"].freshness is None
    entries = source_yaml(plan)
    assert entries["orders"]["config"] == {
        "loaded_at_field": "_fivetran_synced",
        "freshness": {
            "warn_after": {"count": 24, "period": "hour"},
            "error_after": {"count": 48, "period": "hour"},
        },
    }
    assert "config" not in entries["customers"] and "freshness" not in entries["orders"]  # never top level
    off = plan_for(tmp_path / "off", Conventions(source_freshness=False), SYNCED)
    assert "config" not in source_yaml(off)["orders"]


def test_the_summary_counts_checked_tables_and_those_with_no_loader_timestamp(tmp_path: Path) -> None:
    stamped_too = table("refunds", col("id"), col("_sdc_batched_at", TS))
    context = context_for(tmp_path, Conventions(), SYNCED, UNLOADED, stamped_too)
    plan = checked_plan(context)
    assert freshness_coverage(plan, context) == FreshnessCoverage(tables=3, checked=2, unstamped=1)
    # Applied already, the warehouse is not read again: the plan's declared columns tell the same.
    (tmp_path / "unread").mkdir()
    unread = build_context(shop_project(tmp_path / "unread"), EMPTY_MANIFEST, None, Conventions())
    assert freshness_coverage(plan, unread) == FreshnessCoverage(tables=3, checked=2, unstamped=1)
    assert freshness_coverage_line(freshness_coverage(plan, context)) == (
        "Source freshness: 2 of 3 new source tables checked; 1 has no loader timestamp."
    )
    off = context_for(tmp_path / "off", Conventions(source_freshness=False), SYNCED, UNLOADED, stamped_too)
    coverage = freshness_coverage(checked_plan(off), off)
    assert (coverage.checked, coverage.unstamped, coverage.unchecked_stamped) == (0, 1, 2)
    assert freshness_coverage_line(coverage) == (
        "Source freshness: 0 of 3 new source tables checked; 1 has no loader timestamp; 2 with one not checked."
    )


def test_an_odd_name_is_quoted_and_escaped_and_text_is_cast(tmp_path: Path) -> None:
    odd = '_Loaded"At {{ x }}'
    plan = plan_for(tmp_path, Conventions(), SYNCED)
    orders = source_tables(plan)["orders"]
    orders.columns[2].name = odd
    orders.loaded_at_field = odd
    field = source_yaml(plan)["orders"]["config"]["loaded_at_field"]
    assert field.startswith("{{ '") and '""' in field  # Jinja neutralized, the inner quote doubled
    assert yaml.safe_dump(field)  # plain data for the YAML writer
    orders.columns[2].data_type = "text"
    orders.loaded_at_field = orders.columns[2].name = "_loaded_at"
    assert source_yaml(plan)["orders"]["config"]["loaded_at_field"] == "cast(_loaded_at as timestamp)"


def test_the_plan_checks_the_loaded_at_field(tmp_path: Path) -> None:
    context = context_for(tmp_path, Conventions(), SYNCED)
    plan = checked_plan(context)
    orders = source_tables(plan)["orders"]

    def problems() -> set[tuple[str, str]]:
        return {(p.field, p.problem) for p in plan_problems(plan, context)}

    orders.loaded_at_field = "synced"
    assert ("spec.tables[orders].loaded_at_field", "'synced' is not a column of this table") in problems()
    orders.loaded_at_field = "amount"
    assert (
        "spec.tables[orders].loaded_at_field",
        "'amount' is numeric, which holds no point in time",
    ) in problems()
    orders.loaded_at_field = None
    assert (
        "spec.tables[orders].freshness",
        "loaded_at_field and freshness go together: set both or neither",
    ) in problems()
