"""Staging that cleans: names that say what columns hold, casts only where the type changes, loader metadata
handled once, and descriptions from real sources or none at all."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from support import shop_project

from cartridge_bridge.api import ApplyReport, undescribed_columns
from cartridge_bridge.cli.views import show_apply
from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.gather.facts import RawColumn, RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import Column, Manifest, Metadata, Node
from cartridge_bridge.planning.checks import plan_problems, validate_plan
from cartridge_bridge.planning.plan import ColumnSpec, ExecutionPlan, SourceSpec, StagingSpec
from cartridge_bridge.planning.rules.column_meanings import well_known_meaning
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import render_plan, render_sql
from cartridge_bridge.render.sql_style import SqlStyle, column_expression
from cartridge_bridge.review.page import ReviewInput, review_page
from cartridge_bridge.write.workspace import FileChange

EMPTY_MANIFEST = Manifest(metadata=Metadata(project_name="shop"))


def col(name: str, data_type: str = "integer", **fields: Any) -> dict[str, Any]:
    return {"name": name, "data_type": data_type, **fields}


def table(identifier: str, *columns: dict[str, Any], profiled: bool = False) -> RawRelation:
    raw_columns = [
        RawColumn(position=i, **({"profile": {"null_count": 0}} if profiled else {}) | c)
        for i, c in enumerate(columns, 1)
    ]
    return RawRelation.model_validate(
        {
            "schema": "raw",
            "identifier": identifier,
            "columns": raw_columns,
            **({"profile": {"row_count": 3}} if profiled else {}),
        }
    )


def context_of(
    tmp_path: Path, *relations: RawRelation, manifest: Manifest = EMPTY_MANIFEST, profiled: bool = False
) -> ProjectContext:
    facts = WarehouseFacts(
        cartridge_gather_version=1,
        adapter_type="postgres",
        schemas=["raw"],
        relations=list(relations),
        profile={"top_values_limit": 0} if profiled else None,  # type: ignore[arg-type]
    )
    return build_context(shop_project(tmp_path), manifest, facts, Conventions())


def checked_plan(context: ProjectContext) -> ExecutionPlan:
    """The rules plan of the context, which must pass the plan's own checks."""
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    return plan


def staging(plan: ExecutionPlan, name: str) -> StagingSpec:
    spec = next(a.spec for a in plan.actions if a.name == name)
    assert isinstance(spec, StagingSpec)
    return spec


def columns(spec: StagingSpec) -> dict[str, ColumnSpec]:
    return {c.name: c for c in spec.columns}


def sql(column: ColumnSpec) -> str:
    return column_expression(column, SqlStyle(adapter_type="postgres"))


def test_names_say_what_the_column_holds(tmp_path: Path) -> None:
    users = table(
        "users",
        col("id"),
        col("active", "boolean"),
        col("test", "boolean"),
        col("verified_email", "boolean"),
        col("has_avatar", "boolean"),
        col("accepts_marketing", "boolean"),
        col("default", "boolean"),
        col("created", "timestamp without time zone"),
        col("last_modified", "timestamp"),
        col("birth", "date"),
        col("shipped", "date"),
        col("due_on", "date"),
        col("closed_at", "timestamp"),
    )
    spec = staging(checked_plan(context_of(tmp_path, users)), "stg_raw__users")
    assert [c.name for c in spec.columns] == [
        "user_id",
        "is_active",
        "is_test",
        "is_verified_email",
        "has_avatar",  # already a question
        "accepts_marketing",  # a verb already says what is true
        "is_default",  # no longer a reserved word either
        "created_at",
        "last_modified_at",
        "birth",  # a date not named by an event keeps its name
        "shipped_date",
        "due_date",
        "closed_at",
    ]
    assert [sql(c) for c in spec.columns[:3]] == [
        "id",
        "active",
        "test",
    ]  # renamed, never cast to its own type


def test_a_rename_never_takes_another_columns_name(tmp_path: Path) -> None:
    tickets = table(
        "tickets",
        col("id"),
        col("created", "timestamp"),
        col("created_at", "timestamp"),
        col("solved", "boolean"),
        col("is_solved", "boolean"),
    )
    spec = staging(checked_plan(context_of(tmp_path, tickets)), "stg_raw__tickets")
    assert [c.name for c in spec.columns] == ["ticket_id", "created", "created_at", "solved", "is_solved"]


def test_renamed_names_stay_within_the_identifier_limit(tmp_path: Path) -> None:
    long = "a_" * 31 + "enabled"  # 69 characters; `is_` makes it longer still
    spec = staging(
        checked_plan(context_of(tmp_path, table("flags", col("id"), col(long, "boolean")))),
        "stg_raw__flags",
    )
    assert all(len(c.name) <= 63 for c in spec.columns)
    assert spec.columns[1].name.startswith("is_a_a_")


def test_text_timestamps_are_cast_when_the_profile_shows_they_parse(tmp_path: Path) -> None:
    def stamped(low: str, high: str) -> dict[str, Any]:
        return {"null_count": 0, "min": low, "max": high}

    events = table(
        "events",
        col("id", profile={"null_count": 0, "distinct_count": 3}),
        col("happened_at", "text", profile=stamped("2019-07-13 01:17:22.000000", "2022-09-14T08:00:00Z")),
        col("processed_at", "text", profile=stamped("", "2020-01-01")),  # an empty string does not cast
        col("note_at", "text", profile=stamped("2020-01-01", "soon")),
        col("label", "text", profile=stamped("2020-01-01", "2020-01-02")),  # not named like a time
        col("_fivetran_synced", "text", profile=stamped("2024-01-01 00:00:00", "2024-02-01 00:00:00")),
        profiled=True,
    )
    spec = staging(checked_plan(context_of(tmp_path, events, profiled=True)), "stg_raw__events")
    found = columns(spec)
    assert sql(found["happened_at"]) == "cast(happened_at as timestamp)"
    assert found["happened_at"].data_type == "timestamp"
    assert [sql(found[n]) for n in ("processed_at", "note_at", "label")] == [
        "processed_at",
        "note_at",
        "label",
    ]
    assert sql(found["_fivetran_synced"]) == "cast(_fivetran_synced as timestamp)"


def test_without_a_profile_text_timestamps_stay_text(tmp_path: Path) -> None:
    spec = staging(
        checked_plan(context_of(tmp_path, table("events", col("id"), col("happened_at", "text")))),
        "stg_raw__events",
    )
    assert columns(spec)["happened_at"].cast_to is None


def test_a_foreign_key_is_cast_to_the_type_of_the_key_it_references(tmp_path: Path) -> None:
    accounts = table("accounts", col("id", "text"), col("name", "text"))
    cards = table("cards", col("id"), col("account_id", "integer"))
    plan = checked_plan(context_of(tmp_path, accounts, cards))
    account_id = columns(staging(plan, "stg_raw__cards"))["account_id"]
    assert (sql(account_id), account_id.data_type) == ("cast(account_id as text)", "text")
    relationships = [t for t in account_id.tests if t.name == "relationships"]
    assert [(t.to, t.field) for t in relationships] == [("stg_raw__accounts", "account_id")]  # tested once


def test_a_foreign_key_of_the_same_type_family_is_not_cast(tmp_path: Path) -> None:
    plan = checked_plan(
        context_of(
            tmp_path, table("accounts", col("id", "bigint")), table("cards", col("id"), col("account_id"))
        )
    )
    assert columns(staging(plan, "stg_raw__cards"))["account_id"].cast_to is None  # integer = bigint compares


def test_loader_soft_deletes_are_filtered_once_and_metadata_keeps_its_name(tmp_path: Path) -> None:
    orders = table(
        "orders",
        col("id"),
        col("_fivetran_deleted", "boolean"),
        col("_fivetran_synced", "timestamp"),
    )
    context = context_of(tmp_path, orders)
    plan = checked_plan(context)
    validate_plan(plan, context)
    spec = staging(plan, "stg_raw__orders")
    assert spec.filter == "not coalesce(_fivetran_deleted, false)"
    assert [c.name for c in spec.columns] == ["order_id", "_fivetran_synced"]
    assert columns(spec)["_fivetran_synced"].description == "When the loader last wrote this row."
    action = next(a for a in plan.actions if a.name == "stg_raw__orders")
    assert "where not coalesce(_fivetran_deleted, false)" in render_sql(action)
    assert "deleted left out" in action.description
    source = next(a.spec for a in plan.actions if isinstance(a.spec, SourceSpec))
    assert "_fivetran_deleted" in [c.name for t in source.tables for c in t.columns]  # declared, documented


@pytest.mark.parametrize(
    ("name", "meaning"),
    [
        ("_loaded_at", "When the loader wrote this row."),
        ("_etl_loaded_at", "When the loader wrote this row."),
        ("_synced", "When the loader last wrote this row."),
        ("_airbyte_extracted_at", "When the loader extracted this row from its source."),
        ("_active", None),  # without a loader's name, a flag could mean anything
        ("_end", None),
        ("loaded_at", None),  # no leading underscore: the data's own column
    ],
)
def test_a_load_time_is_described_with_or_without_the_loaders_name(name: str, meaning: str | None) -> None:
    assert well_known_meaning(name, "order") == meaning


def test_a_deleted_at_timestamp_keeps_rows_where_it_is_empty(tmp_path: Path) -> None:
    spec = staging(
        checked_plan(context_of(tmp_path, table("orders", col("id"), col("_sdc_deleted_at", "timestamp")))),
        "stg_raw__orders",
    )
    assert spec.filter == "_sdc_deleted_at is null"


def test_descriptions_come_from_comments_or_known_meanings_never_from_an_unrelated_models_docs(
    tmp_path: Path,
) -> None:
    documented = Node(
        unique_id="model.shop.stg_legacy",
        resource_type="model",
        name="stg_legacy",
        package_name="shop",
        columns={"loyalty_tier": Column(name="loyalty_tier", description="Tier of the loyalty programme.")},
    )
    manifest = Manifest(metadata=Metadata(project_name="shop"), nodes={documented.unique_id: documented})
    customers = table(
        "customers",
        col("id"),
        col("nickname", "text", comment="What the customer likes to be called"),
        col("loyalty_tier", "text"),
        col("email", "text"),
        col("created_at", "timestamp"),
        col("shoe_size", "integer"),
        col("active", "boolean"),
    )
    plan = checked_plan(context_of(tmp_path, customers, manifest=manifest))
    described = {c.name: c.description for c in staging(plan, "stg_raw__customers").columns}
    assert described == {
        "customer_id": "Identifies the customer (its key by name; not checked on the data).",
        "nickname": "What the customer likes to be called.",
        "loyalty_tier": "",  # stg_legacy's `loyalty_tier` is no upstream of these customers: not borrowed
        "email": "Email address of the customer.",
        "created_at": "When the customer was created.",
        "shoe_size": "",
        "is_active": "",
    }
    undescribed = undescribed_columns(plan)
    assert {"stg_raw__customers.shoe_size", "stg_raw__customers.is_active"} <= set(undescribed)
    assert {u.split(".")[1] for u in undescribed} == {"shoe_size", "is_active", "loyalty_tier"}
    properties = next(
        f for f in render_plan(plan) if f.models and f.models[0]["name"] == "stg_raw__customers"
    )
    shoe = next(c for c in properties.models[0]["columns"] if c["name"] == "shoe_size")
    assert shoe == {"name": "shoe_size", "data_type": "integer"}  # no `description: ''`


def test_undescribed_columns_show_a_count_and_a_few_when_a_report_file_holds_them(tmp_path: Path) -> None:
    wide = table("wide", col("id"), *(col(f"measure_{i}") for i in range(20)))
    plan = checked_plan(context_of(tmp_path, wide))
    report_file = tmp_path / ".cartridge/runs/20260101T000000000000Z/report.txt"
    report = ApplyReport(
        plan=plan, changes=[], journal=None, build=None, diff="", seconds=1.0, report_file=report_file
    )
    assert len(report.undescribed) == 20
    piped = io.StringIO()
    show_apply(Console(file=piped, width=100_000, color_system=None), report)
    line = next(line for line in piped.getvalue().splitlines() if "columns left undescribed" in line)
    assert line.startswith("20 columns left undescribed")
    assert "stg_raw__wide.measure_3" in line and "measure_19" not in piped.getvalue()
    assert line.endswith(f"… and 15 more, all listed in {report_file}")


def test_undescribed_columns_are_listed_whole_a_line_each_when_no_run_folder_holds_them(
    tmp_path: Path,
) -> None:
    wide = table("wide", col("id"), *(col(f"measure_{i}") for i in range(20)))
    plan = checked_plan(context_of(tmp_path, wide))
    report = ApplyReport(plan=plan, changes=[], journal=None, build=None, diff="", seconds=1.0)  # a dry run
    piped = io.StringIO()
    show_apply(Console(file=piped, width=100_000, color_system=None), report)
    lines = piped.getvalue().splitlines()
    assert "20 columns left undescribed (describe them in the properties files):" in lines
    listed = [line.strip() for line in lines if line.startswith("  stg_raw__wide.")]
    assert listed == report.undescribed  # every one, one a line
    # A dry run that prints its review page: the page lists them, the summary counts them and says where.
    report.changes = [FileChange(plan.actions[1].file_path, "create", None, "select 1\n")]
    report.review = review_page(ReviewInput(plan, report.changes, run_id=None))
    piped = io.StringIO()
    show_apply(Console(file=piped, width=100_000, color_system=None), report)
    printed = piped.getvalue()
    assert [line for line in printed.splitlines() if line.startswith("- `stg_raw__wide.")] == [
        f"- `{column}`" for column in report.undescribed
    ]
    assert "… and 15 more, all listed in the review page above" in printed


def _action(plan: ExecutionPlan, name: str) -> Any:
    return next(a for a in plan.actions if a.name == name)


def test_soft_deletes_are_filtered_after_the_latest_version_is_picked(tmp_path: Path) -> None:
    # A history table: (id, updated_at) is the key, the latest version per id is kept.
    history = table(
        "order_history",
        col("id"),
        col("updated_at", "timestamp"),
        col("status", "text"),
        col("_fivetran_deleted", "boolean"),
    )
    from cartridge_bridge.planning.plan import Deduplicate, OrderBy

    context = context_of(tmp_path, history)
    plan = plan_with_rules(context)
    action = _action(plan, "stg_raw__order_history")
    spec = action.spec
    spec.deduplicate = spec.deduplicate or Deduplicate(
        partition_by=[spec.columns[0].name], order_by=[OrderBy(column="updated_at", descending=True)]
    )
    validate_plan(plan, context)
    text = render_sql(action)
    renamed, _, after = text.partition("ranked as")
    assert "where" not in renamed.split("from source")[-1]  # nothing filtered before the ranking
    assert "cartridge_row_number = 1" in after and "cartridge_kept" in after
    assert "cartridge_kept" not in text.split("deduplicated as")[1].split("from ranked")[0]


def test_a_marker_bigquery_cannot_quote_in_a_fragment_is_kept_as_a_column(tmp_path: Path) -> None:
    orders = table("orders", col("id"), col("_deleted`x", "boolean"), col("_sdc\\deleted_at", "timestamp"))
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="bigquery", schemas=["raw"], relations=[orders]
    )
    context = build_context(shop_project(tmp_path), EMPTY_MANIFEST, facts, Conventions())
    plan = plan_with_rules(context)
    from cartridge_bridge.planning.checks import plan_problems

    assert plan_problems(plan, context) == []
    spec = staging(plan, "stg_raw__orders")
    assert spec.filter is None
    assert {c.source_column for c in spec.columns} == {"id", "_deleted`x", "_sdc\\deleted_at"}
    render_plan(plan)


def test_a_table_of_loader_markers_only_is_skipped_and_empty_models_are_flagged(tmp_path: Path) -> None:
    from cartridge_bridge.planning.checks import plan_problems
    from cartridge_bridge.planning.rules.planner import RulesPlanner

    context = context_of(
        tmp_path, table("t", col("_fivetran_deleted", "boolean")), table("orders", col("id"))
    )
    draft = RulesPlanner().draft(context)
    assert any("raw.t: has no columns but loader markers" in s for s in draft.skipped)
    plan = plan_with_rules(context)
    assert "stg_raw__t" not in [a.name for a in plan.actions]
    assert plan_problems(plan, context) == []
    staging(plan, "stg_raw__orders").columns = []
    problems = plan_problems(plan, context)
    assert any("no columns" in p.problem for p in problems)


def test_a_table_named_by_a_number_gets_a_plain_key_name(tmp_path: Path) -> None:
    from cartridge_bridge.planning.checks import plan_problems

    context = context_of(tmp_path, table("1st", col("id"), col("2nd", "text")))
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    spec = next(a.spec for a in plan.actions if isinstance(a.spec, StagingSpec))
    assert [c.name for c in spec.columns] == ["_1st_id", "_2nd"]
    render_plan(plan)
    spec.columns[1].name = "1st_id"
    assert any("1st_id" in p.problem for p in plan_problems(plan, context))


def test_a_staged_column_may_not_take_a_name_de_duplication_adds(tmp_path: Path) -> None:
    from cartridge_bridge.planning.checks import plan_problems
    from cartridge_bridge.planning.plan import Deduplicate, OrderBy

    context = context_of(tmp_path, table("orders", col("id"), col("updated_at", "timestamp")))
    plan = plan_with_rules(context)
    spec = staging(plan, "stg_raw__orders")
    spec.deduplicate = Deduplicate(partition_by=["order_id"], order_by=[OrderBy(column="updated_at")])
    spec.columns[1].name = "cartridge_kept"
    spec.deduplicate.order_by[0].column = "cartridge_kept"
    assert any("de-duplication adds" in p.problem for p in plan_problems(plan, context))
