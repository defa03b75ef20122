"""Window columns and conditional aggregates in a plan (issue 18): allowed where they mean something, checked
like every fragment, refused everywhere else, rendered as portable SQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
import test_plan_checks
from test_plan_checks import action

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import PlanError
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    ConditionalAggregate,
    ExecutionPlan,
    MartSpec,
    ModelTest,
    SemanticMeasure,
    SemanticModelSpec,
    StagingSpec,
)
from cartridge_bridge.planning.plan_file import parse_plan
from cartridge_bridge.planning.problems import PlanProblem
from cartridge_bridge.render.plan_files import render_sql
from cartridge_bridge.sql.sql_fragments import expression_problem

# The rules plan of the unit shop, and a deep copy each test may break.
valid_plan = test_plan_checks.valid_plan
plan = test_plan_checks.plan
ORDERS = "int_orders_aggregated_to_customers"
RUNNING = "sum(orders.order_id) over (partition by orders.customer_id order by orders.ordered_at rows between unbounded preceding and current row)"


def fact(plan: ExecutionPlan) -> MartSpec:
    spec = action(plan, "fct_orders").spec
    assert isinstance(spec, MartSpec)
    return spec


def aggregate(plan: ExecutionPlan) -> AggregateSpec:
    spec = action(plan, ORDERS).spec
    assert isinstance(spec, AggregateSpec)
    return spec


def problems_at(plan: ExecutionPlan, context: ProjectContext) -> dict[tuple[str, str], str]:
    return {(p.action, p.field): p.problem for p in plan_problems(plan, context)}


def add_column(columns: list[ColumnSpec], name: str, **how: Any) -> None:
    columns.append(ColumnSpec(name=name, description="", **how))


WINDOWS = [
    RUNNING,
    "lag(orders.ordered_at) over (partition by orders.customer_id order by orders.ordered_at)",
    "lead(orders.ordered_at, 1) over (partition by orders.customer_id order by orders.ordered_at)",
    "row_number() over (partition by orders.customer_id order by orders.ordered_at desc)",
    "rank() over (order by orders.ordered_at)",
    "dense_rank() over (partition by orders.status order by orders.ordered_at)",
    "first_value(orders.status) over (partition by orders.customer_id order by orders.ordered_at)",
    "last_value(orders.status) over (partition by orders.customer_id order by orders.ordered_at"
    " rows between unbounded preceding and unbounded following)",
    "avg(orders.order_id) over (order by orders.ordered_at rows between 2 preceding and 1 following)",
    "count(*) over (partition by orders.customer_id)",
    "min(orders.ordered_at) over (partition by orders.customer_id range between unbounded preceding and current row)",
    "coalesce(max(orders.ordered_at) over (partition by orders.customer_id), orders.ordered_at)",
]


@pytest.mark.parametrize("expression", WINDOWS)
def test_a_mart_column_may_compute_a_window_from_the_list(
    plan: ExecutionPlan, context: ProjectContext, expression: str
) -> None:
    add_column(fact(plan).columns, "windowed", expression=expression)
    assert problems_at(plan, context) == {}
    assert f"{expression} as windowed" in render_sql(action(plan, "fct_orders"))


def test_an_aggregate_column_may_compute_a_window_over_its_groups(
    plan: ExecutionPlan, context: ProjectContext
) -> None:
    add_column(aggregate(plan).columns, "order_rank", expression="rank() over (order by count(*) desc)")
    add_column(aggregate(plan).columns, "all_orders", expression="sum(count(*)) over ()")
    assert problems_at(plan, context) == {}


REFUSED_WINDOWS = {
    "ntile(4) over (order by orders.ordered_at)": "ntile()",
    "percent_rank() over (order by orders.ordered_at)": "percent_rank()",
    "sum(orders.order_id) over w": "names its window",
    "count(distinct orders.status) over (partition by orders.customer_id)": "distinct",
    "first_value(orders.status ignore nulls) over (order by orders.ordered_at)": "ignorenulls",
    "sum(orders.order_id) filter (where orders.status = 'paid') over ()": "filter",
    "sum(orders.order_id) over (order by orders.ordered_at groups between 1 preceding and current row)": "rows nor range",
    "sum(orders.order_id) over (order by orders.ordered_at rows between unbounded preceding and current row"
    " exclude current row)": "exclude",
    "sum(orders.order_id) over (order by orders.ordered_at range between interval '1 day' preceding"
    " and current row)": "frame bound",
    "sum(lag(orders.order_id) over (order by orders.ordered_at)) over ()": "nests",
    "sum(orders.order_id) over (partition by row_number() over ())": "nests",
}


@pytest.mark.parametrize(("expression", "why"), sorted(REFUSED_WINDOWS.items()))
def test_anything_else_with_over_is_refused(
    plan: ExecutionPlan, context: ProjectContext, expression: str, why: str
) -> None:
    add_column(fact(plan).columns, "windowed", expression=expression)
    found = problems_at(plan, context)
    assert list(found) == [("fct_orders", "spec.columns[windowed].expression")]
    assert why in found["fct_orders", "spec.columns[windowed].expression"]
    with pytest.raises(PlanError, match="refusing to render"):
        render_sql(action(plan, "fct_orders"))


def test_partition_and_order_read_only_the_inputs(plan: ExecutionPlan, context: ProjectContext) -> None:
    add_column(
        fact(plan).columns,
        "a",
        expression="row_number() over (partition by orders.no_such order by orders.ordered_at)",
    )
    add_column(fact(plan).columns, "b", expression="row_number() over (order by elsewhere.ordered_at)")
    add_column(
        fact(plan).columns, "c", expression="lag(orders.secret_column) over (order by orders.ordered_at)"
    )
    found = problems_at(plan, context)
    assert set(found) == {("fct_orders", f"spec.columns[{c}].expression") for c in "abc"}
    assert "no_such" in found["fct_orders", "spec.columns[a].expression"]
    assert "not an input alias" in found["fct_orders", "spec.columns[b].expression"]


def test_windows_stay_refused_in_staging_filters_tests_and_semantic_expressions(
    plan: ExecutionPlan, context: ProjectContext
) -> None:
    window = "row_number() over (order by id) = 1"
    staging = action(plan, "stg_shop__orders").spec
    assert isinstance(staging, StagingSpec)
    add_column(staging.columns, "position", expression="row_number() over (order by id)")
    staging.filter = window
    aggregate(plan).filter = "row_number() over (order by ordered_at) = 1"
    fact(plan).filter = "row_number() over (order by orders.ordered_at) = 1"
    mart = action(plan, "fct_orders")
    mart.tests = [
        ModelTest(name="expression_is_true", expression="row_number() over (order by order_id) > 0")
    ]
    mart.semantic_model = SemanticModelSpec(
        name="orders",
        agg_time_dimension="ordered_at",
        measures=[SemanticMeasure(name="ranked", agg="sum", expr="row_number() over (order by order_id)")],
    )
    found = problems_at(plan, context)
    for where in (
        ("stg_shop__orders", "spec.columns[position].expression"),
        ("stg_shop__orders", "spec.filter"),
        (ORDERS, "spec.filter"),
        ("fct_orders", "spec.filter"),
        ("fct_orders", "tests[0].expression"),
    ):
        assert "window function" in found[where], where
    assert any("semantic" in field and "window" in found[name, field] for name, field in found), found


def test_a_conditional_aggregate_renders_as_a_portable_case(
    plan: ExecutionPlan, context: ProjectContext
) -> None:
    columns = aggregate(plan).columns
    paid = "status = 'paid'"
    add_column(columns, "paid_orders", aggregate=ConditionalAggregate(function="count", where=paid))
    add_column(
        columns, "paid_ids", aggregate=ConditionalAggregate(function="sum", column="order_id", where=paid)
    )
    add_column(
        columns, "paid_days", aggregate={"function": "count_distinct", "column": "ordered_at", "where": paid}
    )
    add_column(columns, "last_paid_at", aggregate={"function": "max", "column": "ordered_at", "where": paid})
    add_column(columns, "mean_paid_id", aggregate={"function": "avg", "column": "order_id", "where": paid})
    assert problems_at(plan, context) == {}
    sql = render_sql(action(plan, ORDERS))
    assert "count(case when (status = 'paid') then 1 end) as paid_orders" in sql
    assert "sum(case when (status = 'paid') then order_id end) as paid_ids" in sql
    assert "count(distinct case when (status = 'paid') then ordered_at end) as paid_days" in sql
    assert "max(case when (status = 'paid') then ordered_at end) as last_paid_at" in sql
    assert "avg(case when (status = 'paid') then order_id end) as mean_paid_id" in sql
    assert "filter" not in sql


def test_a_conditional_aggregate_is_checked(plan: ExecutionPlan, context: ProjectContext) -> None:
    columns = aggregate(plan).columns
    add_column(columns, "twice", expression="count(*)", aggregate={"function": "count", "where": "true"})
    add_column(columns, "no_column", aggregate={"function": "sum", "where": "status = 'paid'"})
    add_column(columns, "unknown", aggregate={"function": "sum", "column": "secret", "where": "status = 'x'"})
    add_column(columns, "reads", aggregate={"function": "count", "where": "secret = 1"})
    add_column(columns, "nested", aggregate={"function": "count", "where": "count(*) > 1"})
    add_column(columns, "windowed", aggregate={"function": "count", "where": "row_number() over () = 1"})
    found = problems_at(plan, context)
    at = "spec.columns[{}].aggregate"
    assert set(found) == {
        (ORDERS, at.format("twice")),
        (ORDERS, at.format("no_column") + ".column"),
        (ORDERS, at.format("unknown") + ".column"),
        (ORDERS, at.format("reads") + ".where"),
        (ORDERS, at.format("nested") + ".where"),
        (ORDERS, at.format("windowed") + ".where"),
    }
    assert "sum needs a column" in found[ORDERS, at.format("no_column") + ".column"]
    assert "aggregates" in found[ORDERS, at.format("nested") + ".where"]


def test_only_an_aggregate_models_column_aggregates(plan: ExecutionPlan, context: ProjectContext) -> None:
    condition = ConditionalAggregate(function="count", where="true")
    add_column(fact(plan).columns, "counted", aggregate=condition)
    staging = action(plan, "stg_shop__orders").spec
    assert isinstance(staging, StagingSpec)
    add_column(staging.columns, "counted", source_column="id", aggregate=condition)
    found = problems_at(plan, context)
    assert "only an aggregate model" in found["fct_orders", "spec.columns[counted].aggregate"]
    assert ("stg_shop__orders", "spec.columns[counted].aggregate") in found


PAYLOADS = [
    "status = 'paid') then 1 end), (select string_agg(rolname, ',') from pg_roles",
    "status = 'paid' then 1 end) as x from raw.orders; drop table raw.orders; --",
    "true) then 1 end); drop table raw.orders; select (case when (true",
    "{{ run_query('drop schema raw cascade') }}",
    "pg_read_file('/etc/passwd') = 'x'",
    "status = 'a' /* hide */",
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("field", ["where", "column", "function"])
def test_payloads_in_a_conditional_aggregate_are_refused(
    valid_plan: ExecutionPlan, context: ProjectContext, payload: str, field: str
) -> None:
    document = json.loads(valid_plan.model_dump_json())
    spec = next(a for a in document["actions"] if a["name"] == ORDERS)["spec"]
    conditional = {"function": "sum", "column": "order_id", "where": "status = 'paid'"} | {field: payload}
    spec["columns"].append({"name": "paid", "description": "", "aggregate": conditional})
    try:
        problems: list[PlanProblem] = plan_problems(parse_plan(document), context)
    except PlanError as error:
        problems = error.problems
    assert problems
    assert all(p.action == ORDERS and ("paid" in p.field or field in p.field) for p in problems), problems


WINDOW_PAYLOADS = [
    "sum(orders.order_id) over (partition by orders.customer_id) as x, (select 1) as y",
    "sum(orders.order_id) over (partition by (select rolname from pg_roles limit 1))",
    "sum(orders.order_id) over (order by orders.ordered_at); drop table raw.orders",
    "sum(orders.order_id) over (order by {{ var('x') }})",
    "row_number() over (order by pg_read_file('/etc/passwd'))",
    "sum(orders.order_id) over (order by orders.ordered_at -- )",
]


@pytest.mark.parametrize("payload", WINDOW_PAYLOADS)
def test_payloads_in_a_window_clause_are_refused(
    plan: ExecutionPlan, context: ProjectContext, payload: str
) -> None:
    add_column(fact(plan).columns, "windowed", expression=payload)
    assert list(problems_at(plan, context)) == [("fct_orders", "spec.columns[windowed].expression")]
    assert expression_problem(payload, "postgres", windows=True) is not None
