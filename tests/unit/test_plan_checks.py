"""Unit tests of cartridge_bridge.planning.checks: the plan validation that runs before anything is written."""

from __future__ import annotations

import re

import pytest

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import PlanError
from cartridge_bridge.planning.checks import check_expression, validate_plan
from cartridge_bridge.planning.plan import ExecutionPlan, PlanAction, StagingSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules


@pytest.fixture(scope="module")
def valid_plan(context: ProjectContext) -> ExecutionPlan:
    return plan_with_rules(context)


@pytest.fixture
def plan(valid_plan: ExecutionPlan) -> ExecutionPlan:
    """A deep copy each test may break as it likes."""
    return valid_plan.model_copy(deep=True)


def action(plan: ExecutionPlan, name: str) -> PlanAction:
    return next(a for a in plan.actions if a.name == name)


def refused(plan: ExecutionPlan, context: ProjectContext) -> str:
    with pytest.raises(PlanError) as caught:
        validate_plan(plan, context)
    return str(caught.value)


def test_the_rules_plan_is_valid(valid_plan: ExecutionPlan, context: ProjectContext) -> None:
    assert context.existing_models == ["stg_legacy"]
    assert len(valid_plan.models()) > 5
    validate_plan(valid_plan, context)


def test_plan_for_another_project(plan: ExecutionPlan, context: ProjectContext) -> None:
    plan.project_name = "jaffle"
    assert "'jaffle'" in refused(plan, context)


def test_duplicate_model_name(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "stg_shop__orders").name = "stg_shop__customers"
    assert refused(plan, context) == "the plan creates 'stg_shop__customers' twice"


def test_name_of_an_existing_model(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "dim_products").name = "stg_legacy"
    message = refused(plan, context)
    assert "'stg_legacy' already exists" in message


@pytest.mark.parametrize("name", ["Dim_Products", "dim-products", "dim products", "2dim", "dim_products;"])
def test_name_not_in_snake_case(plan: ExecutionPlan, context: ProjectContext, name: str) -> None:
    action(plan, "dim_products").name = name
    assert f"model name {name!r} is not a lower-case snake_case identifier" in refused(plan, context)


@pytest.mark.parametrize(
    "path",
    [
        "models/../analyses/dim_products.sql",
        "models/marts/../../dim_products.sql",
        "/tmp/models/dim_products.sql",
        "analyses/dim_products.sql",
        "dim_products.sql",
        "models_old/dim_products.sql",
    ],
)
def test_file_path_outside_the_model_path(plan: ExecutionPlan, context: ProjectContext, path: str) -> None:
    action(plan, "dim_products").file_path = path
    message = refused(plan, context)
    assert message == f"dim_products: path {path!r} is not inside the model path 'models'"


def test_properties_path_outside_the_model_path(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "fct_orders").properties_path = "../_marts__models.yml"
    assert "fct_orders: path '../_marts__models.yml' is not inside" in refused(plan, context)


def test_sources_file_outside_the_model_path(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "shop").file_path = "/etc/_shop__sources.yml"
    assert "shop: path '/etc/_shop__sources.yml'" in refused(plan, context)


def test_model_file_with_the_wrong_suffix(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "stg_shop__orders").file_path = "models/staging/shop/stg_shop__orders.py"
    message = refused(plan, context)
    assert message == "stg_shop__orders: 'models/staging/shop/stg_shop__orders.py' should end in .sql"


def test_sources_file_with_the_wrong_suffix(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "shop").file_path = "models/staging/shop/_shop__sources.sql"
    assert "shop: 'models/staging/shop/_shop__sources.sql' should end in .yml" in refused(plan, context)


def test_properties_file_with_the_wrong_suffix(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "fct_orders").properties_path = "models/marts/fct_orders.sql"
    assert "models/marts/fct_orders.sql" in refused(plan, context)


def test_model_file_named_after_another_model(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "dim_products").file_path = "models/marts/fct_orders.sql"
    assert "dim_products" in refused(plan, context)


def test_dependency_that_resolves_nowhere(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "fct_orders").dependencies.append("stg_shop__refunds")
    message = refused(plan, context)
    assert message == (
        "fct_orders depends on 'stg_shop__refunds', which is neither planned nor in the project"
    )


def test_dependency_on_an_undeclared_source_table(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "stg_shop__orders").dependencies = ["shop.refunds"]
    assert "depends on 'shop.refunds'" in refused(plan, context)


def test_dependencies_on_existing_models_and_sources_resolve(
    plan: ExecutionPlan, context: ProjectContext
) -> None:
    action(plan, "fct_orders").dependencies += ["stg_legacy", "legacy.payments"]
    validate_plan(plan, context)


def test_cycle(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "stg_shop__customers").dependencies.append("dim_customers")
    message = refused(plan, context)
    assert message.startswith("the plan's dependencies form a cycle: ")
    cycle = message.split(": ", 1)[1].split(" → ")
    assert set(cycle) == {"stg_shop__customers", "dim_customers"}


def test_bad_expression_is_named_by_model_and_column(plan: ExecutionPlan, context: ProjectContext) -> None:
    staging = action(plan, "stg_shop__orders")
    assert isinstance(staging.spec, StagingSpec)
    status = next(c for c in staging.spec.columns if c.name == "status")
    status.expression = "{{ ref('x') }}"
    assert refused(plan, context).startswith("stg_shop__orders.status: ")


def test_bad_expression_in_a_mart_join_is_checked(plan: ExecutionPlan, context: ProjectContext) -> None:
    mart = action(plan, "dim_customers")
    mart.spec.joins[0].columns[0].expression = "drop table x"  # type: ignore[union-attr]
    assert refused(plan, context).startswith("dim_customers.number_of_orders: ")


@pytest.mark.parametrize(
    "expression",
    [
        'cast("createdAt" as timestamp with time zone)',
        "coalesce(orders_aggregated.number_of_orders, 0)",
        "sum(quantity)",
        "case when status = 'paid' then 1 else 0 end",
        "customers.customer_id",
    ],
)
def test_expressions_are_accepted(expression: str) -> None:
    check_expression(expression, "postgres", "m.c")


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("{{ ref('orders') }}", "must not contain Jinja"),
        ("{% if true %}1{% endif %}", "must not contain Jinja"),
        ("drop table x", "not a statement or subquery"),
        ("delete from orders", "not a statement or subquery"),
        ("1; select 2", "must not contain `;` or comments"),
        ("(select 1)", "not a statement or subquery"),
        ("amount in (select amount from payments)", "not a statement or subquery"),
        ("cast(amount as", "does not parse"),
        ("", "must be exactly one SQL expression"),
    ],
)
def test_expressions_are_refused(expression: str, complaint: str) -> None:
    with pytest.raises(PlanError) as caught:
        check_expression(expression, "postgres", "fct_orders.amount")
    message = str(caught.value)
    assert message.startswith("fct_orders.amount: ")
    assert repr(expression) in message
    assert complaint in message


def test_expressions_are_parsed_in_the_adapter_dialect() -> None:
    check_expression("`createdAt`", "bigquery", "m.c")
    with pytest.raises(PlanError, match=re.escape("'`createdAt`'")):
        check_expression("`createdAt`", "postgres", "m.c")


@pytest.mark.parametrize(
    "expression",
    [
        "truncate table raw_shop.orders",
        "grant select on orders to public",
        "merge into t using s on t.id = s.id when matched then delete",
        "amount -- the total",
        "amount as total",
        "amount;",
    ],
)
def test_statements_and_select_breakers_are_refused(expression: str) -> None:
    with pytest.raises(PlanError):
        check_expression(expression, "postgres", "m.c")
