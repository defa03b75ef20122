"""An aggregate that joins its input rows to the models they point at before grouping: checks and SQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import PlanError
from cartridge_bridge.planning.checks import plan_problems, validate_plan
from cartridge_bridge.planning.plan import AggregateSpec, ExecutionPlan, PlanAction, RenderSettings
from cartridge_bridge.planning.plan_file import parse_plan, read_plan_file
from cartridge_bridge.planning.problems import PlanProblem
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import render_sql
from cartridge_bridge.render.sql_style import SqlStyle

NAME = "int_order_items_by_customer"


@pytest.fixture(scope="module")
def rules_plan(context: ProjectContext) -> ExecutionPlan:
    return plan_with_rules(context)


def spec(**changes: Any) -> dict[str, Any]:
    """Quantities summed per customer: each order item takes its order's customer through the order's key."""
    base: dict[str, Any] = {
        "kind": "aggregate",
        "from_model": "stg_shop__order_items",
        "from_alias": "items",
        "joins": [
            {
                "model": "stg_shop__orders",
                "alias": "orders",
                "on": [{"left_alias": "items", "left_column": "order_id", "right_column": "order_id"}],
                "columns": [
                    {"name": "customer_id", "expression": "orders.customer_id", "description": "The buyer."}
                ],
            }
        ],
        "group_by": ["customer_id"],
        "columns": [
            {"name": "customer_id", "expression": "customer_id", "description": "The customer."},
            {"name": "total_quantity", "expression": "sum(quantity)", "description": "What they bought."},
        ],
    }
    return base | changes


def with_aggregate(plan: ExecutionPlan, payload: dict[str, Any]) -> ExecutionPlan:
    """The plan with the aggregate added as an intermediate model reading what its spec selects from."""
    copy = plan.model_copy(deep=True)
    aggregate = AggregateSpec.model_validate(payload)
    dependencies = [aggregate.from_model, *(j.model for j in aggregate.joins)]
    copy.actions.append(
        PlanAction(
            step_id=len(copy.actions) + 1,
            type="create_intermediate",
            name=NAME,
            file_path=f"models/intermediate/{NAME}.sql",
            properties_path="models/intermediate/_int_joins.yml",
            description="Order items per customer.",
            dependencies=list(dict.fromkeys(dependencies)),
            spec=aggregate,
        )
    )
    return copy


def problems_of(plan: ExecutionPlan, context: ProjectContext) -> list[PlanProblem]:
    return [p for p in plan_problems(plan, context) if p.action == NAME]


def test_a_join_on_the_joined_models_key_is_accepted(
    rules_plan: ExecutionPlan, context: ProjectContext
) -> None:
    assert problems_of(with_aggregate(rules_plan, spec()), context) == []


def test_a_join_that_could_fan_out_is_refused(rules_plan: ExecutionPlan, context: ProjectContext) -> None:
    payload = spec()
    # Orders on their customer: an item would meet every order of that customer and be summed once per order.
    payload["joins"][0]["on"][0] |= {"left_column": "order_id", "right_column": "customer_id"}
    problems = problems_of(with_aggregate(rules_plan, payload), context)
    assert [(p.field, "fan-out" in p.problem) for p in problems] == [("spec.joins[0].on", True)]
    assert "order_id" in (problems[0].expected or "")  # the key it could have joined on


def test_a_join_on_an_unknown_key_column_is_refused(
    rules_plan: ExecutionPlan, context: ProjectContext
) -> None:
    payload = spec()
    payload["joins"][0]["on"][0] |= {"right_column": "order_number"}
    fields = {p.field for p in problems_of(with_aggregate(rules_plan, payload), context)}
    assert fields == {"spec.joins[0].on.right_column", "spec.joins[0].on"}


def test_a_joined_column_reading_an_unknown_column_is_refused(
    rules_plan: ExecutionPlan, context: ProjectContext
) -> None:
    payload = spec()
    payload["joins"][0]["columns"][0]["expression"] = "orders.buyer_id"
    problems = problems_of(with_aggregate(rules_plan, payload), context)
    assert [p.field for p in problems] == ["spec.joins[0].columns[customer_id].expression"]
    assert "buyer_id" in problems[0].problem


def test_the_group_keys_read_only_what_the_joins_add(
    rules_plan: ExecutionPlan, context: ProjectContext
) -> None:
    payload = spec(group_by=["status_code"])
    payload["columns"][0] = {"name": "status_code", "expression": "status_code", "description": "x"}
    fields = {p.field for p in problems_of(with_aggregate(rules_plan, payload), context)}
    assert fields == {"spec.group_by", "spec.columns[status_code].expression"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from_alias": None}, "spec.from_alias"),
        ({"from_alias": "joined"}, "spec.from_alias"),
        ({"from_alias": "Items"}, "spec.from_alias"),
    ],
)
def test_the_inputs_alias_is_a_plain_free_name(
    rules_plan: ExecutionPlan, context: ProjectContext, change: dict[str, Any], field: str
) -> None:
    fields = {p.field for p in problems_of(with_aggregate(rules_plan, spec(**change)), context)}
    assert field in fields


def test_jinja_or_an_aggregate_in_a_joined_column_is_refused(
    rules_plan: ExecutionPlan, context: ProjectContext
) -> None:
    for expression in (
        "{{ run_query('drop table x') }}",
        "max(orders.customer_id)",
        "orders.customer_id; drop",
    ):
        payload = spec()
        payload["joins"][0]["columns"][0]["expression"] = expression
        fields = [p.field for p in problems_of(with_aggregate(rules_plan, payload), context)]
        assert fields == ["spec.joins[0].columns[customer_id].expression"], expression


def test_a_joined_column_may_not_shadow_an_input_column(
    rules_plan: ExecutionPlan, context: ProjectContext
) -> None:
    payload = spec()
    payload["joins"][0]["columns"][0] |= {"name": "order_id", "expression": "orders.order_id"}
    payload["group_by"] = ["order_id"]
    payload["columns"][0] = {"name": "order_id", "expression": "order_id", "description": "x"}
    fields = [p.field for p in problems_of(with_aggregate(rules_plan, payload), context)]
    assert fields == ["spec.joins[0].columns[order_id].name"]


def test_dependencies_include_the_joined_models(rules_plan: ExecutionPlan, context: ProjectContext) -> None:
    plan = with_aggregate(rules_plan, spec())
    plan.actions[-1].dependencies = ["stg_shop__order_items"]
    assert [p.field for p in problems_of(plan, context)] == ["dependencies"]


@pytest.mark.parametrize("import_ctes", [True, False])
@pytest.mark.parametrize("adapter", ["postgres", "duckdb", "spark"])
def test_the_sql_joins_before_it_groups(rules_plan: ExecutionPlan, adapter: str, import_ctes: bool) -> None:
    action = with_aggregate(rules_plan, spec()).actions[-1]
    style = SqlStyle.of(RenderSettings(sql_import_ctes=import_ctes), adapter)
    sql = render_sql(action, style)
    assert "items.*,\n        orders.customer_id\n" in sql
    assert "left join" in sql and "on items.order_id = orders.order_id" in sql
    assert "from joined\n" in sql and sql.count("group by customer_id") == 1
    assert "{{ ref('stg_shop__orders') }}" in sql
    if import_ctes:
        assert "items as (\n\n    select * from {{ ref('stg_shop__order_items') }}" in sql
    else:
        assert "{{ ref('stg_shop__order_items') }} as items" in sql


def test_an_aggregate_without_joins_renders_as_before(rules_plan: ExecutionPlan) -> None:
    aggregate = next(a for a in rules_plan.actions if isinstance(a.spec, AggregateSpec))
    sql = render_sql(aggregate)
    assert "joined" not in sql and sql.count(" as (") == 2


def test_a_plan_file_with_joins_reads_back_and_a_fan_out_is_refused_in_one_line(
    rules_plan: ExecutionPlan, context: ProjectContext, tmp_path: Path
) -> None:
    plan = with_aggregate(rules_plan, spec())
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json(indent=2))
    assert read_plan_file(path).actions == plan.actions
    document = json.loads(path.read_text())
    document["actions"][-1]["spec"]["joins"][0]["on"][0]["right_column"] = "customer_id"
    path.write_text(json.dumps(document))
    with pytest.raises(PlanError) as caught:
        validate_plan(read_plan_file(path), context, "plan file plan.json")
    [line] = str(caught.value).splitlines()  # one problem: one line, naming the model and the field
    assert line.startswith(
        "plan file plan.json has a problem: int_order_items_by_customer: spec.joins[0].on: "
    )
    assert "fan-out" in line and "proved: order_id" in line


def test_a_version_2_aggregate_without_the_new_fields_reads_as_before(rules_plan: ExecutionPlan) -> None:
    document = json.loads(rules_plan.model_dump_json())
    document["plan_version"] = 2
    for action in document["actions"]:
        if action["spec"]["kind"] == "aggregate":
            del action["spec"]["joins"], action["spec"]["from_alias"]
    assert parse_plan(document).actions == rules_plan.actions
