"""New tables attaching to the classic jaffle_shop's `orders` mart: narrow extensions, and refunds reaching orders
through the project's `stg_payments` (joined on its tested key before grouping)."""

from __future__ import annotations

import pytest
import test_brownfield_jaffle as jaffle

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import AggregateSpec, ExecutionPlan, MartSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import render_sql

REFUNDS = jaffle.relation(
    "raw_refunds",
    ("id", "INTEGER"),
    ("payment_id", "INTEGER"),
    ("amount", "INTEGER"),
    ("refunded_at", "TIMESTAMP"),
)
SHIPMENTS = jaffle.relation(
    "raw_shipments",
    ("id", "INTEGER"),
    ("order_id", "INTEGER"),
    ("carrier", "VARCHAR"),
    ("shipped_at", "TIMESTAMP"),
)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ProjectContext:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jaffle, "RELATIONS", [*jaffle.RELATIONS, REFUNDS, SHIPMENTS])
        return jaffle.context.__wrapped__(tmp_path_factory)  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(scope="module")
def plan(context: ProjectContext) -> ExecutionPlan:
    return plan_with_rules(context)


def test_the_plan_is_valid(plan: ExecutionPlan, context: ProjectContext) -> None:
    assert plan_problems(plan, context) == []


def test_the_extension_is_the_marts_key_and_the_new_measures(plan: ExecutionPlan) -> None:
    extension = next(a for a in plan.actions if a.name == "orders_with_new_measures")
    assert isinstance(extension.spec, MartSpec)
    assert extension.spec.base_model == "orders" and extension.spec.grain == ["order_id"]
    assert [c.name for c in extension.spec.columns] == ["order_id"]
    joined = {j.model: [c.name for c in j.columns] for j in extension.spec.joins}
    assert set(joined) == {
        "int_refunds_aggregated_to_orders",
        "int_reviews_aggregated_to_orders",
        "int_shipments_aggregated_to_orders",
    }
    # none of the mart's own columns (its status, amounts, dates) is copied
    assert not {"status", "order_date", "amount", "customer_id"} & {c for cs in joined.values() for c in cs}
    assert "Join it to `orders` on `order_id`" in extension.description
    assert not any(a.name.endswith("_enriched") for a in plan.actions)


def test_refunds_reach_orders_through_the_projects_payments(plan: ExecutionPlan) -> None:
    action = next(a for a in plan.actions if a.name == "int_refunds_aggregated_to_orders")
    spec = action.spec
    assert isinstance(spec, AggregateSpec)
    assert (spec.from_model, spec.from_alias, spec.group_by) == ("stg_refunds", "refunds", ["order_id"])
    [join] = spec.joins
    assert join.model == "stg_payments"
    assert [(c.left_alias, c.left_column, c.right_column) for c in join.on] == [
        ("refunds", "payment_id", "payment_id")
    ]
    assert [(c.name, c.expression) for c in join.columns] == [("order_id", f"{join.alias}.order_id")]
    assert sorted(action.dependencies) == ["stg_payments", "stg_refunds"]
    assert "takes its `order_id` from `stg_payments`" in action.description
    sql = render_sql(action)
    assert f"left join {join.alias}\n        on refunds.payment_id = {join.alias}.payment_id" in sql


def test_a_join_off_the_existing_models_key_is_a_fan_out(
    plan: ExecutionPlan, context: ProjectContext
) -> None:
    edited = plan.model_copy(deep=True)
    action = next(a for a in edited.actions if a.name == "int_refunds_aggregated_to_orders")
    assert isinstance(action.spec, AggregateSpec)
    action.spec.joins[0].on[0].right_column = "order_id"  # many payments per order: refunds would multiply
    [problem] = plan_problems(edited, context)
    assert (problem.action, problem.field) == ("int_refunds_aggregated_to_orders", "spec.joins[0].on")
    assert "fan-out" in problem.problem and "proved: payment_id" in (problem.expected or "")
