"""A small payments schema and the periodic snapshots planned over it, with their numbers computed by hand.

Shared by the PostgreSQL/DuckDB test and the Spark lane's: the same rows, the same snapshots, the same answers.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

from cartridge_bridge.planning.plan import ExecutionPlan, PeriodicSnapshotSpec, PlanAction, model_inputs

D = datetime.datetime
CUSTOMERS = [(1, "Ada"), (2, "Bo"), (3, "Cy"), (4, "Dee")]  # Dee never pays: a row of zeros every month
CHARGES = [  # id, customer_id, amount, currency, created_at
    (1, 1, Decimal("10.00"), "USD", D(2024, 1, 30, 10, 0)),
    (2, 2, Decimal("5.50"), "EUR", D(2024, 1, 30, 23, 59)),
    (3, 1, Decimal("7.25"), "USD", D(2024, 2, 1, 0, 0)),
    (4, 1, Decimal("3.00"), "USD", D(2024, 2, 14, 12, 0)),
    (5, 2, Decimal("20.00"), "EUR", D(2024, 2, 29, 8, 0)),
    (6, 3, Decimal("1.00"), "USD", D(2024, 3, 5, 18, 0)),
]
HISTORY = [  # customer_id, plan_name, valid_from, valid_to (null: the current version)
    (1, "basic", D(2024, 1, 1), D(2024, 2, 15)),
    (1, "pro", D(2024, 2, 15), None),
    (2, "basic", D(2024, 1, 20), None),
]
# Counted by hand on a calendar: 2024-01-30 to 2024-03-05 is 2 + 29 + 5 days; its weeks start on the Mondays
# 01-29, 02-05, 02-12, 02-19, 02-26 and 03-04; its months are January, February and March.
DAYS, WEEKS, MONTHS = 36, 6, 3


def raw_statements(schema: str, text: str = "varchar", money: str = "decimal(10,2)") -> list[str]:
    """The raw tables and their rows, in SQL PostgreSQL, DuckDB and Spark all read."""

    def ts(value: D | None) -> str:
        return "null" if value is None else f"timestamp '{value:%Y-%m-%d %H:%M:%S}'"

    charges = ", ".join(f"({i}, {c}, {a}, '{cur}', {ts(at)})" for i, c, a, cur, at in CHARGES)
    history = ", ".join(f"({c}, '{p}', {ts(f)}, {ts(t)})" for c, p, f, t in HISTORY)
    return [
        f"create table {schema}.customers (id int, name {text})",
        f"create table {schema}.charges (id int, customer_id int, amount {money}, currency {text}, "
        "created_at timestamp)",
        f"create table {schema}.customer_plans (customer_id int, plan_name {text}, valid_from timestamp, "
        "valid_to timestamp)",
        f"insert into {schema}.customers values " + ", ".join(f"({i}, '{n}')" for i, n in CUSTOMERS),
        f"insert into {schema}.charges values {charges}",
        f"insert into {schema}.customer_plans values {history}",
    ]


def _start(period: str, at: D) -> datetime.date:
    day = at.date()
    if period == "week":
        return day - datetime.timedelta(days=day.weekday())
    return day.replace(day=1) if period == "month" else day


def expected_sums(period: str, by: str | None) -> dict[tuple[Any, ...], tuple[Decimal, int]]:
    """`sum(amount), count(*) where date in period` per (period start, entity), computed from the rows."""
    sums: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for _, customer, amount, currency, at in CHARGES:
        key = (_start(period, at), *({"currency": (currency,), "customer": (customer,)}.get(by or "", ())))
        sums[key][0] += amount
        sums[key][1] += 1
    return {k: (v[0], v[1]) for k, v in sums.items()}


def plan_as_of_month_end(customer: int, month: datetime.date) -> str | None:
    """The plan in effect at the end of the month (the version begun before the next month, not ended by then)."""
    following = (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    end = D(following.year, following.month, following.day)
    return next((p for c, p, f, t in HISTORY if c == customer and f < end and (t is None or t >= end)), None)


def snapshot_actions(plan: ExecutionPlan, source: str) -> list[PlanAction]:
    """Three snapshots over the rules plan's staging models: daily per currency, weekly, monthly per customer."""
    marts = next(a for a in plan.models() if a.type == "create_mart" and a.properties_path)
    folder = PurePosixPath(marts.file_path).parent
    charges, customers, plans = (f"stg_{source}__{t}" for t in ("charges", "customers", "customer_plans"))
    bounds = {"model": charges, "column": "created_at"}
    measures = [
        {"name": "amount", "expression": "sum(amount)", "description": "Charged in the period."},
        {"name": "charge_count", "expression": "count(*)", "description": "Charges in the period."},
    ]
    specs = {
        "charges_daily_by_currency": {
            "period": "day",
            "entity": {"model": charges, "columns": ["currency"]},
        },
        "charges_weekly": {"period": "week", "period_column": "week_start"},
        "customers_monthly": {
            "period": "month",
            "period_column": "month_start",
            "entity": {"model": customers, "columns": ["customer_id"]},
            "state": {
                "model": plans,
                "valid_from": "valid_from",
                "valid_to": "valid_to",
                "key_columns": ["customer_id"],
                "columns": [
                    {"name": "plan_name", "expression": "state.plan_name", "description": "The plan."}
                ],
            },
        },
    }
    actions = []
    for name, spec in specs.items():
        full = {
            "kind": "periodic_snapshot",
            "bounds": bounds,
            "event_model": charges,
            "event_time": "created_at",
            "measures": measures,
            **spec,
        }
        parsed = PlanAction.model_validate(
            {
                "step_id": len(plan.actions) + len(actions) + 1,
                "type": "create_mart",
                "name": name,
                "file_path": str(folder / f"{name}.sql"),
                "properties_path": marts.properties_path,
                "config": {"materialized": "table"},
                "description": f"{name}, one row per period.",
                "spec": full,
            }
        )
        assert isinstance(parsed.spec, PeriodicSnapshotSpec)
        parsed.dependencies = model_inputs(parsed.spec)
        actions.append(parsed)
    return actions
