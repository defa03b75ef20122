"""`--modify-existing` on the classic jaffle_shop: the narrow model at the orders' grain becomes an edit of
`orders` itself (its SQL kept verbatim as the first CTE), or stays narrow with the reason in the plan."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
import test_brownfield_extension_rules as extension_rules
import test_brownfield_jaffle as jaffle
from support import PLAIN_ORDERS_SQL

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import PlanError
from cartridge_bridge.files.yaml_merge import merge_properties
from cartridge_bridge.gather.manifest import read_manifest
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.in_place import InPlaceEdits, extend_in_place, sha256_text, wrap_refusal
from cartridge_bridge.planning.plan import ExecutionPlan, MartSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import render_plan
from cartridge_bridge.review.page import ReviewInput, review_page
from cartridge_bridge.write.workspace import stage_changes

NEW = ["number_of_refunds", "total_refund_amount", "number_of_shipments"]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ProjectContext:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            jaffle, "RELATIONS", [*jaffle.RELATIONS, extension_rules.REFUNDS, extension_rules.SHIPMENTS]
        )
        return jaffle.context.__wrapped__(tmp_path_factory)  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(scope="module")
def narrow(context: ProjectContext) -> ExecutionPlan:
    return plan_with_rules(context)


def _project(tmp_path: Path, context: ProjectContext, orders_sql: str | None = PLAIN_ORDERS_SQL) -> Path:
    """The jaffle_shop's files where the context says the project is, `orders.sql` as given (None: the original)."""
    project = Path(context.project_dir)
    shutil.copytree(jaffle.JAFFLE / "models", project / "models", dirs_exist_ok=True)
    if orders_sql is not None:
        (project / "models" / "orders.sql").write_bytes(orders_sql.encode("utf-8"))
    return project


def _extended(narrow: ExecutionPlan, context: ProjectContext, project: Path) -> ExecutionPlan:
    return extend_in_place(
        narrow, context, InPlaceEdits(project, read_manifest(jaffle.JAFFLE / "manifest.json"))
    )


def test_the_narrow_model_becomes_an_edit_of_the_mart(
    tmp_path: Path, narrow: ExecutionPlan, context: ProjectContext
) -> None:
    project = _project(tmp_path, context)
    plan = _extended(narrow, context, project)
    assert plan_problems(plan, context) == []
    assert not any(a.name == "orders_with_new_measures" for a in plan.actions)
    edits = {a.name: a for a in plan.actions if a.type == "modify_in_place"}
    assert set(edits) == {"orders", "customers"}  # the classic customers mart is a plain select too
    edit = edits["orders"]
    assert (edit.name, edit.file_path, edit.properties_path) == (
        "orders",
        "models/orders.sql",
        "models/schema.yml",
    )
    assert edit.modifies is not None and edit.modifies.sha256 == sha256_text(PLAIN_ORDERS_SQL)
    assert "orders" not in edit.dependencies
    assert sorted(edit.dependencies) == sorted(j.model for j in edit.spec.joins)  # type: ignore[union-attr]

    changes = {c.path: c for c in stage_changes(project, render_plan(plan), "fail")}
    sql = changes["models/orders.sql"]
    assert (sql.status, sql.details) == ("modify", ["extend in place"])
    # The user's SQL verbatim as the first CTE, a newline after its last comment so `)` is not swallowed.
    assert sql.after.startswith("with\n\nexisting as (\n\n" + PLAIN_ORDERS_SQL + "\n),\n")
    assert "        existing.*,\n" in sql.after
    assert "coalesce(refunds_aggregated.number_of_refunds, 0) as number_of_refunds" in sql.after
    assert (
        "left join refunds_aggregated\n        on existing.order_id = refunds_aggregated.order_id"
        in sql.after
    )
    # The mart's properties gain the new columns in the file's own dialect (`tests:`), every old byte kept.
    yaml = changes["models/schema.yml"]
    assert yaml.before is not None and yaml.status == "modify"
    assert {f"add column orders.{name}" for name in NEW} <= set(yaml.details)
    assert not any(d.startswith(("replace", "keep")) for d in yaml.details)
    added = [line for line in yaml.after.splitlines() if line not in yaml.before.splitlines()]
    assert any("- name: number_of_refunds" in line for line in added)
    assert "data_tests" not in yaml.after
    removed = [
        d for d in difflib.ndiff(yaml.before.splitlines(), yaml.after.splitlines()) if d.startswith("- ")
    ]
    assert removed == []


def test_a_mart_with_jinja_control_flow_keeps_the_narrow_model(
    tmp_path: Path, narrow: ExecutionPlan, context: ProjectContext
) -> None:
    project = _project(tmp_path, context, orders_sql=None)  # the classic orders.sql loops in Jinja
    plan = _extended(narrow, context, project)
    assert any(a.name == "orders_with_new_measures" for a in plan.actions)
    assert [a.name for a in plan.actions if a.type == "modify_in_place"] == ["customers"]
    assert (
        "orders: not modified in place (its SQL has Jinja control flow ({% … %})); its new measures are in "
        "orders_with_new_measures" in plan.skipped
    )


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("{% if true %}select 1 as order_id{% endif %}", "Jinja control flow"),
        ("select 1 as order_id;", "ends with a semicolon"),
        ("insert into x values (1)", "not a plain select"),
        ("select 1 as order_id; select 2 as order_id", "not a plain select"),
        ("{{ dbt_utils.star(ref('x')) }}", "not a plain select"),
    ],
)
def test_sql_that_cannot_be_wrapped_is_refused(sql: str, reason: str) -> None:
    assert reason in (wrap_refusal(sql, "duckdb") or "")


def test_plain_selects_with_refs_sources_and_config_can_be_wrapped() -> None:
    assert wrap_refusal(PLAIN_ORDERS_SQL, "postgres") is None
    assert (
        wrap_refusal("select * from {{ source('shop', 'orders') }} union all select 1, 2", "duckdb") is None
    )


def test_an_incremental_mart_or_a_missing_key_keeps_the_narrow_model(
    tmp_path: Path, narrow: ExecutionPlan, context: ProjectContext
) -> None:
    project = _project(tmp_path, context)
    manifest = read_manifest(jaffle.JAFFLE / "manifest.json")
    [orders] = [n for n in manifest.root_models() if n.name == "orders"]
    orders.config["materialized"] = "incremental"
    plan = extend_in_place(narrow, context, InPlaceEdits(project, manifest))
    assert "orders: not modified in place (it is materialized as incremental)" in plan.skipped[-1]
    orders.config["materialized"] = "table"
    without_key = context.model_copy(deep=True)
    facts = without_key.existing["orders"]
    facts.columns = [c for c in facts.columns if c.name != "order_id"]
    plan = _extended(narrow, without_key, project)
    assert "its key 'order_id' is not a column of the relation" in plan.skipped[-1]


def test_a_plan_file_whose_mart_changed_since_is_refused(
    tmp_path: Path, narrow: ExecutionPlan, context: ProjectContext
) -> None:
    project = _project(tmp_path, context)
    plan = _extended(narrow, context, project)
    (project / "models/orders.sql").write_text(PLAIN_ORDERS_SQL + "\n-- edited after the plan\n")
    [problem] = [p for p in plan_problems(plan, context) if p.action == "orders"]
    assert (problem.action, problem.field) == ("orders", "modifies.sha256")
    assert "models/orders.sql changed since the plan was made" in problem.problem
    with pytest.raises(PlanError, match=r"models/orders\.sql changed since the plan was made"):
        stage_changes(project, render_plan(plan), "fail")


def test_a_plan_file_may_not_edit_another_file_or_an_unknown_model(
    tmp_path: Path, narrow: ExecutionPlan, context: ProjectContext
) -> None:
    project = _project(tmp_path, context)
    plan = _extended(narrow, context, project)
    moved = plan.model_copy(deep=True)
    target = next(a for a in moved.actions if a.name == "orders")
    target.file_path = target.modifies.path = "models/customers.sql"  # type: ignore[union-attr]
    fields = {p.field for p in plan_problems(moved, context)}
    assert (
        "file_path" in fields
    )  # customers.sql is not where orders is defined (and dbt names it after the file)
    escaped = plan.model_copy(deep=True)
    target = next(a for a in escaped.actions if a.name == "orders")
    target.file_path = "../outside/orders.sql"
    assert any(p.field == "file_path" for p in plan_problems(escaped, context))
    unknown = plan.model_copy(deep=True)
    target = next(a for a in unknown.actions if a.name == "orders")
    target.name = "orders_v2"
    assert any("is not a model of the project" in p.problem for p in plan_problems(unknown, context))


def test_new_columns_join_an_existing_entry_in_its_dialect_and_an_absent_entry_is_added() -> None:
    existing = "version: 2\n\nmodels:\n  - name: orders\n    columns:\n      - name: order_id\n        tests:\n          - unique\n"
    column = {"name": "number_of_refunds", "description": "How many.", "data_tests": ["not_null"]}
    merged = merge_properties(
        existing, "m.yml", [], [], "fail", extend=[{"name": "orders", "columns": [column]}]
    )
    assert (
        merged.text
        == existing
        + "      - name: number_of_refunds\n        description: How many.\n        tests:\n          - not_null\n"
    )
    assert merged.added == ["column orders.number_of_refunds"]
    again = merge_properties(
        merged.text, "m.yml", [], [], "fail", extend=[{"name": "orders", "columns": [column]}]
    )
    assert again.text == merged.text and again.added == []
    absent = merge_properties(
        existing, "m.yml", [], [], "fail", extend=[{"name": "customers", "columns": [column]}]
    )
    assert absent.added == ["model customers"]


def test_the_review_page_shows_the_edit_as_a_diff(
    tmp_path: Path, narrow: ExecutionPlan, context: ProjectContext
) -> None:
    project = _project(tmp_path, context)
    plan = _extended(narrow, context, project)
    page = review_page(ReviewInput(plan, stage_changes(project, render_plan(plan), "fail"), run_id=None))
    section = page.split("## Existing models edited in place\n\n", 1)[1].split("\n## ", 1)[0]
    assert section.startswith("```diff\n--- a/models/schema.yml\n")
    assert "+++ b/models/orders.sql\n" in section and "+existing as (\n" in section
    assert "Adds " in page and "2 existing marts extended in place" in page


def test_counts_and_sums_a_planner_joined_bare_are_coalesced(
    tmp_path: Path, narrow: ExecutionPlan, context: ProjectContext
) -> None:
    project = _project(tmp_path, context)
    bare = narrow.model_copy(deep=True)
    extension = next(a for a in bare.actions if a.name == "orders_with_new_measures")
    assert isinstance(extension.spec, MartSpec)
    for join in extension.spec.joins:  # as an LLM planner may write them: no coalesce
        for column in join.columns:
            column.expression = (column.expression or "").removeprefix("coalesce(").removesuffix(", 0)")
    edit = next(a for a in _extended(bare, context, project).actions if a.name == "orders")
    assert isinstance(edit.spec, MartSpec)
    expressions = {c.name: c.expression for j in edit.spec.joins for c in j.columns}
    assert expressions["number_of_refunds"] == "coalesce(refunds_aggregated.number_of_refunds, 0)"
    assert expressions["total_refund_amount"] == "coalesce(refunds_aggregated.total_refund_amount, 0)"
    assert expressions["first_refunded_at"] == "refunds_aggregated.first_refunded_at"  # no 0 for a date
