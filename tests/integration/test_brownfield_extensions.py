"""Brownfield: new tables attach to the classic jaffle_shop's `orders` mart. Shipments point at orders; refunds
point at payments only, and reach each payment's order through the project's `stg_payments` (joined on its
tested key, one payment per refund). The new measures land in one narrow model at the orders' grain — the key
and the new measures, never a copy of the mart's columns — and `orders` itself is left as it is.

By hand (jaffle's seeds: payment 1 is order 1's, payments 4 and 9 are order 4's, payment 5 is order 5's; refunds
in cents, converted like the project converts payments): order 1 has 2 refunds, 6 + 4 = 10; order 4 has 2,
5 + 3 = 8; order 5 has 1, 17; every other order none. Order 2 has 2 shipments, order 1 one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import duckdb_warehouse, postgres_warehouse
from test_brownfield_conventions import _fixture_project

from cartridge_bridge.api import ProjectOptions, generate
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import AggregateSpec, MartSpec
from cartridge_bridge.progress import SilentProgress

RAW = (
    "create schema raw_shop",
    "create table raw_shop.refunds (id integer, payment_id integer, amount integer, refunded_at timestamp)",
    "insert into raw_shop.refunds values (1, 1, 600, '2018-01-03'), (2, 1, 400, '2018-01-04'),"
    " (3, 4, 500, '2018-01-05'), (4, 9, 300, '2018-01-06'), (5, 5, 1700, '2018-01-10')",
    "create table raw_shop.shipments (id integer, order_id integer, carrier varchar(10), shipped_at timestamp)",
    "insert into raw_shop.shipments values (1, 1, 'DHL', '2018-01-02'), (2, 2, 'UPS', '2018-01-03'),"
    " (3, 2, 'UPS', '2018-01-04')",
)
REFUNDS_BY_HAND = {1: (2, 10.0), 4: (2, 8.0), 5: (1, 17.0)}
SHIPMENTS_BY_HAND = {1: 1, 2: 2}
ORDERS_COLUMNS = {"customer_id", "order_date", "status", "amount", "credit_card_amount", "coupon_amount"}


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_new_measures_at_an_existing_marts_grain_land_in_one_narrow_model(
    tmp_path: Path, request: pytest.FixtureRequest, warehouse: str
) -> None:
    if warehouse == "duckdb":
        output, sql = duckdb_warehouse(tmp_path, RAW)
    else:
        output, sql = postgres_warehouse(request.getfixturevalue("pg_server"), "brownfield_extensions", RAW)
    project = _fixture_project(tmp_path, "jaffle_classic", (), output=output)
    built = DbtProject(project, project).build()
    assert built.success, built.errors
    orders_sql = (project / "models/orders.sql").read_text()
    options = ProjectOptions(
        project_dir=project, profiles_dir=project, schemas=["raw_shop"], source_name="shop"
    )
    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    assert report.build.failed == []
    actions = {a.name: a for a in report.plan.models()}

    # Refunds reach orders through the project's payments, joined on its key before grouping.
    refunds = actions["int_refunds_aggregated_to_orders"].spec
    assert isinstance(refunds, AggregateSpec)
    [join] = refunds.joins
    assert (join.model, [(c.left_column, c.right_column) for c in join.on]) == (
        "stg_payments",
        [("payment_id", "payment_id")],
    )
    assert refunds.group_by == ["order_id"]

    # One narrow model at the orders' grain: the key and the new measures, none of the mart's own columns.
    extension = actions["orders_with_new_measures"]
    assert isinstance(extension.spec, MartSpec) and extension.spec.base_model == "orders"
    [key] = extension.spec.columns
    assert key.name == "order_id"
    added = {c.name for j in extension.spec.joins for c in j.columns}
    assert {"number_of_refunds", "total_refund_amount", "number_of_shipments"} <= added
    assert not added & ORDERS_COLUMNS
    assert "Join it to `orders` on `order_id`" in extension.description
    assert not any(name.endswith("_enriched") for name in actions)
    assert (project / "models/orders.sql").read_text() == orders_sql

    rows = sql(
        "select order_id, number_of_refunds, total_refund_amount, number_of_shipments"
        " from analytics.orders_with_new_measures order by order_id"
    )
    orders = sql("select count(*) from analytics.orders")[0][0]
    assert len(rows) == orders  # every order, those without new rows too
    refunded = {r[0]: (r[1], float(r[2] or 0)) for r in rows if r[1]}
    assert refunded == REFUNDS_BY_HAND
    assert {r[0]: r[3] for r in rows if r[3]} == SHIPMENTS_BY_HAND
