"""The union spec: checked (mappings confined to their input, declared types, labels, grain), rendered with every
branch cast to the declared types, placed in its layer, and shown on the review page and in the lineage."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlglot
from plan_payloads import Plan, edited, shop_union_action
from sqlglot import exp

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import PlanError
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.placement import place
from cartridge_bridge.planning.plan import ExecutionPlan, RenderSettings, UnionSpec, model_inputs
from cartridge_bridge.planning.plan_file import parse_plan
from cartridge_bridge.planning.planner import ModelDraft, PlanDraft
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import render_plan, render_sql
from cartridge_bridge.render.sql_style import SqlStyle
from cartridge_bridge.review.lineage import lineage_nodes
from cartridge_bridge.review.page import ReviewInput, review_page

UNION = "int_shop_activity"


@pytest.fixture(scope="module")
def document(context: ProjectContext) -> Plan:
    plan: Plan = json.loads(plan_with_rules(context).model_dump_json())
    return {**plan, "actions": [*plan["actions"], shop_union_action()]}


def _union(plan: Plan) -> dict[str, Any]:
    return next(a for a in plan["actions"] if a["name"] == UNION)


def _problems(document: Plan, context: ProjectContext, edit: Callable[[Plan], None]) -> set[tuple[str, str]]:
    try:
        problems = plan_problems(parse_plan(edited(document, edit)), context)
    except PlanError as error:
        problems = error.problems
    return {(p.action, p.field) for p in problems}


def test_a_union_passes_the_checks_and_renders_each_input_cast_to_the_declared_types(
    document: Plan, context: ProjectContext
) -> None:
    plan = parse_plan(document)
    assert plan_problems(plan, context) == []
    action = next(a for a in plan.actions if a.name == UNION)
    assert model_inputs(action.spec) == ["stg_shop__customers", "stg_shop__orders"]
    sql = render_sql(action, SqlStyle(adapter_type="postgres"))
    assert "cast('signup' as text) as source_model" in sql and "cast(upper(status) as text) as detail" in sql
    assert "cast(null as numeric(12,2)) as amount" in sql and "cast(true as boolean) as is_order" in sql
    compiled = sql.replace("{{ ref('stg_shop__customers') }}", "c").replace(
        "{{ ref('stg_shop__orders') }}", "o"
    )
    [tree] = sqlglot.parse(compiled, read="postgres")
    unions = list(tree.find_all(exp.Union))
    assert len(unions) == 1 and not unions[0].args.get("distinct")  # union all: no row dropped
    selects = [unions[0].left, unions[0].right]
    assert len(selects) == 2 and all(len(s.expressions) == 7 for s in selects)
    assert all(isinstance(item.this, exp.Cast) for s in selects for item in s.expressions)
    properties = next(f for f in render_plan(plan) if f.path == action.properties_path)
    entry = next(m for m in properties.models if m["name"] == UNION)
    assert [c["data_type"] for c in entry["columns"]][:3] == ["text", "bigint", "timestamp"]
    assert "cartridge.unique_combination_of_columns" in json.dumps(entry["data_tests"])


def test_one_model_feeding_two_inputs_is_selected_once_and_styles_apply(document: Plan) -> None:
    def twice(plan: Plan) -> None:
        spec = _union(plan)["spec"]
        spec["inputs"][1] = {**spec["inputs"][0], "label": "signup again"}
        _union(plan)["dependencies"] = ["stg_shop__customers"]

    action = next(a for a in parse_plan(edited(document, twice)).actions if a.name == UNION)
    assert model_inputs(action.spec) == ["stg_shop__customers"]
    sql = render_sql(action, SqlStyle(adapter_type="postgres"))
    assert sql.count("{{ ref('stg_shop__customers') }}") == 1 and sql.count("from customers") == 2
    upper = render_sql(action, SqlStyle.of(RenderSettings(sql_keyword_case="upper", sql_import_ctes=False)))
    assert "UNION ALL" in upper and "union all" not in upper
    assert "CAST('signup again' AS text) AS source_model" in upper and upper.count("{{ ref(") == 2


_REFUSED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "a column left unmapped": (lambda s: s["inputs"][0]["columns"].pop("detail"), "spec.inputs[0].columns"),
    "a column the union lacks": (
        lambda s: s["inputs"][1]["columns"].update(extra="1"), "spec.inputs[1].columns[extra]"),
    "a column of the other input": (
        lambda s: s["inputs"][0]["columns"].update(detail="status"), "spec.inputs[0].columns[detail]"),
    "an aliased column": (
        lambda s: s["inputs"][0]["columns"].update(detail="orders.status"), "spec.inputs[0].columns[detail]"),
    "an aggregate": (
        lambda s: s["inputs"][1]["columns"].update(amount="sum(order_id)"), "spec.inputs[1].columns[amount]"),
    "a window": (
        lambda s: s["inputs"][1]["columns"].update(entity_id="row_number() over (order by order_id)"),
        "spec.inputs[1].columns[entity_id]"),
    "a subquery": (
        lambda s: s["inputs"][1]["columns"].update(detail="(select 1)"), "spec.inputs[1].columns[detail]"),
    "a label with a quote": (lambda s: s["inputs"][0].update(label="it's"), "spec.inputs[0].label"),
    "a label with Jinja": (lambda s: s["inputs"][0].update(label="{{ 1 }}"), "spec.inputs[0].label"),
    "a label on two lines": (lambda s: s["inputs"][0].update(label="a\nb"), "spec.inputs[0].label"),
    "two inputs with one label": (lambda s: s["inputs"][1].update(label="signup"), "spec.inputs[1].label"),
    "an unknown model": (lambda s: s["inputs"][1].update(model="stg_shop__nothing"), "spec.inputs[1].model"),
    "a column without type": (lambda s: s["columns"][1].pop("data_type"), "spec.columns[entity_id].data_type"),
    "a type that is SQL": (
        lambda s: s["columns"][1].update(data_type="int) as x, (select 1"), "spec.columns[entity_id].data_type"),
    "an expression on a union column": (
        lambda s: s["columns"][1].update(expression="customer_id"), "spec.columns[entity_id]"),
    "a numeric source column": (
        lambda s: s["columns"][0].update(data_type="integer"), "spec.columns[source_model].data_type"),
    "a source column not output": (lambda s: s.update(source_column="origin"), "spec.source_column"),
    "one input": (lambda s: s["inputs"].pop(), "spec.inputs"),
    "no grain": (lambda s: s.update(grain=[]), "spec.grain"),
    "an untested grain": (lambda s: s.update(grain=["source_model", "customer_id"]), "tests"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(_REFUSED))
def test_a_bad_union_is_refused_with_the_field_named(
    document: Plan, context: ProjectContext, case: str
) -> None:
    edit, field = _REFUSED[case]
    problems = _problems(document, context, lambda plan: edit(_union(plan)["spec"]))
    assert (UNION, field) in problems, problems


def test_a_union_under_another_action_type_is_refused(document: Plan, context: ProjectContext) -> None:
    problems = _problems(document, context, lambda plan: _union(plan).update(type="create_staging"))
    assert (UNION, "spec.kind") in problems
    assert not _problems(document, context, lambda plan: _union(plan).update(type="create_mart"))


def test_placement_puts_a_union_in_its_layer(context: ProjectContext) -> None:
    spec = UnionSpec.model_validate(shop_union_action()["spec"])
    for layer, expected in (("intermediate", "create_intermediate"), ("marts", "create_mart")):
        draft = PlanDraft(
            models=[ModelDraft(name="int_shop_activity", layer=layer, description="d", spec=spec)]
        )
        [action] = place(draft, context, "rules").actions
        assert action.type == expected and action.dependencies == ["stg_shop__customers", "stg_shop__orders"]


def test_the_review_page_and_lineage_show_a_union(document: Plan) -> None:
    plan = ExecutionPlan.model_validate(document)
    page = review_page(ReviewInput(plan, [], run_id=None))
    row = next(line for line in page.splitlines() if f"`{UNION}`" in line and "|" in line)
    assert "`source_model`" in row and "`entity_id`" in row and "`stg_shop__orders`" in row
    assert UNION in lineage_nodes(plan)["intermediate"]
