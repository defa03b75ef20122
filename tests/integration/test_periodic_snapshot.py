"""Periodic snapshots built by real dbt on PostgreSQL and DuckDB, their rows checked against a hand computation.

A rules plan over a small payments schema, with three snapshots added (tests/snapshot_cases.py): daily per
currency, weekly over everything, monthly per customer with the customer's plan as of each month's end.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from snapshot_cases import (
    CUSTOMERS,
    DAYS,
    MONTHS,
    WEEKS,
    expected_sums,
    plan_as_of_month_end,
    raw_statements,
    snapshot_actions,
)
from support import duckdb_output, postgres_output, run_sql, write_project

from cartridge_bridge.api import ApplyReport, ProjectOptions, apply_plan, load_context, make_plan
from cartridge_bridge.gather.dbt_runner import DbtProject
from cartridge_bridge.progress import SilentProgress

Rows = list[tuple[Any, ...]]


@dataclass
class Built:
    report: ApplyReport
    query: Callable[[str], Rows]
    schema: str


def _build(project: Path, schema: str) -> ApplyReport:
    DbtProject(project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=[schema])
    _, context = load_context(options, SilentProgress())
    plan = make_plan(context)
    plan.actions += snapshot_actions(plan, schema.removeprefix("raw_"))
    return apply_plan(plan, options, SilentProgress())


@pytest.fixture(scope="module", params=["postgres", "duckdb"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    home = tmp_path_factory.mktemp(f"snapshot_{request.param}")
    if request.param == "postgres":
        import psycopg2

        server = request.getfixturevalue("pg_server")
        run_sql(
            server,
            "drop schema if exists raw_pay cascade",
            "create schema raw_pay",
            *raw_statements("raw_pay"),
        )
        project = write_project(home / "pay", "pay", postgres_output(server, "analytics_snap"))

        def query(sql: str) -> Rows:
            with psycopg2.connect(server.dsn) as connection, connection.cursor() as cursor:
                cursor.execute(sql)
                rows = cursor.fetchall()
            connection.close()
            return rows

        yield Built(_build(project, "raw_pay"), query, "analytics_snap")
        run_sql(server, "drop schema raw_pay cascade", "drop schema analytics_snap cascade")
        return
    database = home / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        for statement in ["create schema raw_pay", *raw_statements("raw_pay")]:
            connection.execute(statement)
    project = write_project(home / "pay", "pay", duckdb_output(database, "analytics"))

    def query_duckdb(sql: str) -> Rows:
        with duckdb.connect(str(database)) as connection:  # dbt's connection in this process is not read-only
            return connection.execute(sql).fetchall()

    yield Built(_build(project, "raw_pay"), query_duckdb, "analytics")


def test_a_plan_with_periodic_snapshots_builds_green(built: Built) -> None:
    build = built.report.build
    assert build is not None and build.success, build
    assert build.failed == []
    for name in ("charges_daily_by_currency", "charges_weekly", "customers_monthly"):
        assert build.count("model", "success") >= 3, build
        assert name in {a.name for a in built.report.plan.models()}


def _rows(built: Built, sql: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return {tuple(row[:-2]): tuple(row[-2:]) for row in built.query(sql)}


def _check(
    actual: dict[tuple[Any, ...], tuple[Any, ...]], expected: dict[tuple[Any, ...], tuple[Decimal, int]]
) -> None:
    for key, (amount, count) in actual.items():
        want = expected.get(key, (Decimal(0), 0))  # a period without events holds 0, never null
        assert amount is not None and count is not None, key
        assert (round(Decimal(str(amount)), 2), int(count)) == want, key
    assert set(expected) <= set(actual)


def test_the_daily_spine_has_one_row_per_day_and_currency(built: Built) -> None:
    rows = _rows(
        built,
        f"select period_start, currency, amount, charge_count from {built.schema}.charges_daily_by_currency",
    )
    assert (
        len(rows) == DAYS * 2 == len(built.query(f"select * from {built.schema}.charges_daily_by_currency"))
    )
    days = sorted({key[0] for key in rows})
    assert days[0] == datetime.date(2024, 1, 30) and days[-1] == datetime.date(2024, 3, 5)
    assert all(b - a == datetime.timedelta(days=1) for a, b in itertools.pairwise(days))
    assert rows[(datetime.date(2024, 2, 2), "EUR")] == (0, 0)  # a day with no charge is there, with 0
    _check(rows, expected_sums("day", "currency"))


def test_the_weekly_spine_starts_each_week_on_monday(built: Built) -> None:
    rows = _rows(built, f"select week_start, amount, charge_count from {built.schema}.charges_weekly")
    assert len(rows) == WEEKS
    assert all(week.weekday() == 0 for (week,) in rows)
    _check(rows, expected_sums("week", None))


def test_the_monthly_snapshot_carries_each_customer_and_the_plan_as_of_month_end(built: Built) -> None:
    table = f"{built.schema}.customers_monthly"
    rows = _rows(built, f"select month_start, customer_id, amount, charge_count from {table}")
    assert len(rows) == MONTHS * len(CUSTOMERS)
    _check(rows, expected_sums("month", "customer"))
    plans = {(m, c): p for m, c, p in built.query(f"select month_start, customer_id, plan_name from {table}")}
    assert plans == {key: plan_as_of_month_end(key[1], key[0]) for key in plans}
    assert plans[(datetime.date(2024, 2, 1), 1)] == "pro"  # switched mid-February: pro at its end
    assert plans[(datetime.date(2024, 1, 1), 1)] == "basic"


def test_the_rules_planner_writes_the_daily_snapshot_of_the_charges(built: Built) -> None:
    rules = next(a for a in built.report.plan.models() if a.name == "fct_charges_daily")
    assert rules.spec.kind == "periodic_snapshot"
    table = f"{built.schema}.fct_charges_daily"
    rows = _rows(built, f"select date_day, currency, total_amount, number_of_charges from {table}")
    assert len(rows) == DAYS * 2
    _check(rows, expected_sums("day", "currency"))


def test_the_rules_planner_writes_running_totals_per_customer_at_each_month_end(built: Built) -> None:
    table = f"{built.schema}.fct_charges_monthly_by_customer"
    rows = built.query(
        f"select customer_id, currency, month_end, number_of_charges, total_amount, number_of_charges_to_date, "
        f"total_amount_to_date from {table}"
    )
    got = {
        (c, cur, end): (int(n), Decimal(str(a)), int(nd), Decimal(str(ad)))
        for c, cur, end, n, a, nd, ad in rows
    }
    jan, feb, mar = datetime.date(2024, 1, 31), datetime.date(2024, 2, 29), datetime.date(2024, 3, 31)
    # By hand from CHARGES: Ada 10.00 in January, 7.25 + 3.00 in February; Bo 5.50, then 20.00; Cy 1.00 in
    # March. Dee has no charge: no row (the charges' own keys make the entities). February 2024 ends on the 29th.
    assert got == {
        (1, "USD", jan): (1, Decimal("10.00"), 1, Decimal("10.00")),
        (1, "USD", feb): (2, Decimal("10.25"), 3, Decimal("20.25")),
        (1, "USD", mar): (0, Decimal("0.00"), 3, Decimal("20.25")),
        (2, "EUR", jan): (1, Decimal("5.50"), 1, Decimal("5.50")),
        (2, "EUR", feb): (1, Decimal("20.00"), 2, Decimal("25.50")),
        (2, "EUR", mar): (0, Decimal("0.00"), 2, Decimal("25.50")),
        (3, "USD", jan): (0, Decimal("0.00"), 0, Decimal("0.00")),
        (3, "USD", feb): (0, Decimal("0.00"), 0, Decimal("0.00")),
        (3, "USD", mar): (1, Decimal("1.00"), 1, Decimal("1.00")),
    }


def test_each_charge_knows_its_number_among_its_customers_and_the_first(built: Built) -> None:
    rows = built.query(
        f"select charge_id, customer_charge_number, is_first_charge from {built.schema}.fct_charges"
    )
    # By hand from CHARGES by created_at: Ada's are 1, 3, 4; Bo's 2, 5; Cy's 6.
    assert sorted((int(i), int(n), bool(f)) for i, n, f in rows) == [
        (1, 1, True),
        (2, 1, True),
        (3, 2, False),
        (4, 3, False),
        (5, 2, False),
        (6, 1, True),
    ]
