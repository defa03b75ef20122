"""A fact's owner and its rows' numbers among the owner's: which parent owns, and the window columns that follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_rules_marts import columns_of, marts, plan_of, table

from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import ExecutionPlan, MartSpec, PeriodicSnapshotSpec
from cartridge_bridge.planning.rules.planner import RulesPlanner, plan_with_rules

CUSTOMERS = {"id": "integer", "name": "text"}
LOCATIONS = {"id": "integer", "name": "text"}
ORDERS = {
    "id": "integer",
    "customer_id": "integer",
    "location_id": "integer",
    "total_price": "numeric(10,2)",
    "created_at": "timestamp",
}
# More tables point at the location than at the customer: a place many things happen at.
STOCK = {"id": "integer", "location_id": "integer", "counted_at": "timestamp"}
SHIFTS = {"id": "integer", "location_id": "integer", "started_at": "timestamp"}


def _plan(tmp_path: Path, **tables: dict[str, str]) -> ExecutionPlan:
    every = {
        "customers": CUSTOMERS,
        "locations": LOCATIONS,
        "orders": ORDERS,
        "stock": STOCK,
        "shifts": SHIFTS,
    }
    plan, context = plan_of(tmp_path, *(table(n, c) for n, c in (every | tables).items() if c))
    assert plan_problems(plan, context) == []
    return plan


def _fact(plan: ExecutionPlan, name: str = "fct_orders") -> MartSpec:
    spec = marts(plan)[name].spec
    assert isinstance(spec, MartSpec)
    return spec


def test_an_order_knows_its_number_among_its_customers_orders_and_whether_it_is_the_first(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path)
    columns = {c.name: c for c in _fact(plan).columns}
    window = "row_number() over (partition by orders.customer_id order by orders.created_at, orders.order_id)"
    assert columns["customer_order_number"].expression == (
        f"case when orders.customer_id is not null then {window} end"
    )
    assert (
        columns["is_first_order"].expression
        == f"case when orders.customer_id is not null then {window} = 1 end"
    )
    assert columns["is_first_order"].data_type == "boolean"
    # New against repeat orders per month: both sides of the flag are measures of the semantic model.
    semantic = marts(plan)["fct_orders"].semantic_model
    assert semantic is not None
    measures = {m.name: m.expr for m in semantic.measures}
    assert measures["order_first_order_count"] == "case when is_first_order then 1 else 0 end"
    assert measures["order_not_first_order_count"] == "case when not is_first_order then 1 else 0 end"
    assert "is_first_order" in {d.name for d in semantic.dimensions}


def test_the_party_owns_before_the_place_more_tables_point_at(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    snapshots = {a.name for a in plan.actions if isinstance(a.spec, PeriodicSnapshotSpec)}
    assert "fct_orders_monthly_by_customer" in snapshots
    assert "fct_orders_monthly_by_location" not in snapshots


def test_a_place_owns_without_a_party_but_numbers_nothing(tmp_path: Path) -> None:
    plan = _plan(tmp_path, orders={k: v for k, v in ORDERS.items() if k != "customer_id"})
    snapshots = {a.name for a in plan.actions if isinstance(a.spec, PeriodicSnapshotSpec)}
    assert "fct_orders_monthly_by_location" in snapshots
    # The location's first order says nothing of anyone coming back.
    assert not {"location_order_number", "is_first_order"} & set(columns_of(marts(plan)["fct_orders"]))


@pytest.mark.parametrize(
    ("tables", "why"),
    [
        ({"orders": {**ORDERS, "customer_id": None, "buyer_customer_id": "integer"}}, "a role is no owner"),
        ({"customers": {**CUSTOMERS, "location_id": "integer"}}, "a customer who belongs to a location"),
    ],
)
def test_no_numbers_without_a_party_that_owns(tmp_path: Path, tables: dict[str, Any], why: str) -> None:
    changed = {n: {k: v for k, v in c.items() if v is not None} for n, c in tables.items()}
    plan = _plan(tmp_path, **changed)
    assert "is_first_order" not in columns_of(marts(plan)["fct_orders"]), why


def test_a_fact_large_enough_to_be_incremental_computes_no_window(tmp_path: Path) -> None:
    orders = table("orders", {**ORDERS, "_fivetran_synced": "timestamp"}, rows=5000, distinct={"id": 5000})
    _, context = plan_of(tmp_path, table("customers", CUSTOMERS, rows=10), orders)
    tuned = context.model_copy(update={"incremental_min_rows": 1000})
    plan = plan_with_rules(tuned)
    assert plan_problems(plan, tuned) == []
    fact = marts(plan)["fct_orders"]
    assert fact.config.materialized == "incremental"
    assert "is_first_order" not in columns_of(fact)


def test_the_planner_can_leave_the_numbers_out(tmp_path: Path) -> None:
    _, context = plan_of(tmp_path, table("customers", CUSTOMERS), table("orders", ORDERS))
    plan = plan_with_rules(context, RulesPlanner(owner_sequences=False))
    assert "is_first_order" not in columns_of(marts(plan)["fct_orders"])
    assert "is_first_order" in columns_of(marts(plan_with_rules(context))["fct_orders"])
