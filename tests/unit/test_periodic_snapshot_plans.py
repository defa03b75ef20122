"""Periodic snapshots in plans: the rules planner's daily snapshot of money-moving facts, the checks, the SQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_plan_injection import PAYLOADS, outcome, string_leaves
from test_rules_marts import plan_of, table

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import PlanError
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import ExecutionPlan, PeriodicSnapshotSpec, PlanAction
from cartridge_bridge.planning.plan_file import parse_plan
from cartridge_bridge.render.plan_files import render_sql

CUSTOMERS = {"id": "integer", "name": "text"}
CHARGES = {
    "id": "integer",
    "customer_id": "integer",
    "amount": "numeric(10,2)",
    "currency": "text",
    "created_at": "timestamp",
}


def snapshots(plan: ExecutionPlan) -> dict[str, PlanAction]:
    return {a.name: a for a in plan.actions if isinstance(a.spec, PeriodicSnapshotSpec)}


def test_a_money_moving_fact_gets_a_daily_snapshot_per_currency(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, table("customers", CUSTOMERS), table("charges", CHARGES))
    action = snapshots(plan)["fct_charges_daily"]
    spec = action.spec
    assert isinstance(spec, PeriodicSnapshotSpec)
    assert (spec.period, spec.period_column, spec.event_model, spec.event_time) == (
        "day",
        "date_day",
        "fct_charges",
        "created_at",
    )
    assert (spec.bounds.model, spec.bounds.column, spec.bounds.end) == ("fct_charges", "created_at", "data")
    assert spec.entity is not None and spec.entity.columns == ["currency"]
    assert [(m.name, m.expression) for m in spec.measures] == [
        ("number_of_charges", "count(*)"),
        ("total_amount", "sum(amount)"),
    ]
    assert spec.grain == ["date_day", "currency"]
    assert action.tests[0].columns == ["date_day", "currency"]
    assert action.dependencies == ["fct_charges"]
    # After the fact it reads, in the marts folder.
    steps = {a.name: a.step_id for a in plan.actions}
    assert steps["fct_charges_daily"] > steps["fct_charges"]
    assert action.file_path.startswith("models/marts/")


def test_without_a_currency_the_snapshot_is_one_row_per_day(tmp_path: Path) -> None:
    columns = {k: v for k, v in CHARGES.items() if k != "currency"}
    plan, _ = plan_of(tmp_path, table("customers", CUSTOMERS), table("charges", columns))
    spec = snapshots(plan)["fct_charges_daily"].spec
    assert isinstance(spec, PeriodicSnapshotSpec) and spec.entity is None
    assert spec.grain == ["date_day"]


def test_an_amount_named_after_a_currency_is_no_currency(tmp_path: Path) -> None:
    columns = {**CHARGES, "amount_home_currency": "numeric(10,2)"}
    plan, _ = plan_of(tmp_path, table("customers", CUSTOMERS), table("charges", columns))
    spec = snapshots(plan)["fct_charges_daily"].spec
    assert isinstance(spec, PeriodicSnapshotSpec) and spec.entity is not None
    assert spec.entity.columns == ["currency"]
    columns.pop("currency")  # the amounts' currencies unknown: the measure rules sum none of them
    (tmp_path / "without").mkdir()
    plan, _ = plan_of(tmp_path / "without", table("customers", CUSTOMERS), table("charges", columns))
    assert snapshots(plan) == {}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"created_at": None}, "no event time"),
        ({"created_at": "text"}, "a time only by name"),
        ({"amount": None}, "no amount"),
        ({"amount": None, "quantity": "integer"}, "a quantity is no money"),
        ({"amount": None, "unit_price": "numeric(10,2)"}, "a unit price does not add up"),
        ({"amount": None, "total_weight": "numeric(10,2)"}, "a total that is no money"),
        ({"status": "text"}, "a status whose successful states the profile did not read"),
    ],
)
def test_no_snapshot_where_the_schema_leaves_a_doubt(
    tmp_path: Path, change: dict[str, Any], why: str
) -> None:
    columns = {k: v for k, v in {**CHARGES, **change}.items() if v is not None}
    plan, _ = plan_of(tmp_path, table("customers", CUSTOMERS), table("charges", columns))
    assert snapshots(plan) == {}, why


def test_the_snapshot_sql_reads_the_spine_and_zeroes_empty_days(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, table("customers", CUSTOMERS), table("charges", CHARGES))
    sql = render_sql(snapshots(plan)["fct_charges_daily"])
    assert (
        "{{ cartridge.period_spine('day', '(select spine_start from bounds)', '(select spine_end from bounds)') }}"
        in sql
    )
    assert "coalesce(measured.total_amount, 0) as total_amount" in sql
    assert "cross join entities" in sql and "group by cast(date_trunc('day'" in sql
    # `end: today`: the spine runs on to the day of the build, past data that ended earlier.
    action = snapshots(plan)["fct_charges_daily"]
    assert isinstance(action.spec, PeriodicSnapshotSpec)
    action.spec.bounds.end = "today"
    assert "'(select spine_start from bounds)', 'current_date') }}" in render_sql(action)


def test_two_currency_columns_group_the_snapshot_by_both(tmp_path: Path) -> None:
    columns = {**CHARGES, "home_currency": "text"}
    plan, _ = plan_of(tmp_path, table("customers", CUSTOMERS), table("charges", columns))
    spec = snapshots(plan)["fct_charges_daily"].spec
    assert isinstance(spec, PeriodicSnapshotSpec) and spec.entity is not None
    # Within one pair of currencies every amount is in one currency, whichever column names it.
    assert spec.entity.columns == ["currency", "home_currency"]
    assert [m.name for m in spec.measures] == ["number_of_charges", "total_amount"]


def test_a_fact_owned_by_a_parent_gets_monthly_running_totals_per_owner(tmp_path: Path) -> None:
    columns = {**CHARGES, "charge_date": "date", "tax_amount": "numeric(10,2)"}
    plan, _ = plan_of(tmp_path, table("customers", CUSTOMERS), table("charges", columns))
    action = snapshots(plan)["fct_charges_monthly_by_customer"]
    spec = action.spec
    assert isinstance(spec, PeriodicSnapshotSpec) and spec.entity is not None
    assert (spec.period, spec.period_column, spec.period_end_column) == ("month", "date_month", "month_end")
    # Dated by the charge's own date, not by when the row was created; every customer key the charges hold.
    assert (spec.event_time, spec.bounds.column) == ("charge_date", "charge_date")
    assert (spec.entity.model, spec.entity.columns) == ("fct_charges", ["customer_id", "currency"])
    assert [(m.name, m.expression, m.running) for m in spec.measures] == [
        ("number_of_charges", "count(*)", False),
        ("total_amount", "sum(amount)", False),
        ("total_tax_amount", "sum(tax_amount)", False),
        ("number_of_charges_to_date", "count(*)", True),
        ("total_amount_to_date", "sum(amount)", True),
        ("total_tax_amount_to_date", "sum(tax_amount)", True),
    ]
    assert action.tests[0].columns == spec.grain == ["date_month", "customer_id", "currency"]
    assert [c.name for c in spec.output_columns()][:4] == [
        "date_month",
        "month_end",
        "customer_id",
        "currency",
    ]
    assert action.dependencies == ["fct_charges"]
    # The daily snapshot is dated the same way.
    assert snapshots(plan)["fct_charges_daily"].spec.event_time == "charge_date"  # type: ignore[union-attr]
    sql = render_sql(action)
    assert "periods.period_last_day as month_end" in sql
    assert (
        "sum(coalesce(measured.total_amount_to_date, 0)) over (partition by periods.customer_id, periods.currency "
        "order by periods.period_start rows between unbounded preceding and current row) as total_amount_to_date"
    ) in sql
    assert "coalesce(measured.total_amount, 0) as total_amount," in sql


ACCOUNTS = {"id": "integer", "name": "text"}


@pytest.mark.parametrize(
    ("tables", "monthly", "why"),
    [
        (
            {"accounts": ACCOUNTS, "charges": {**CHARGES, "billing_account_id": "integer"}},
            ["fct_charges_monthly_by_customer"],
            "a parent by a role (the billing account) is no owner",
        ),
        (
            {"accounts": ACCOUNTS, "customers": {**CUSTOMERS, "account_id": "integer"}},
            [],
            "the parent belongs to another: the charges reach the account only through the customer",
        ),
        (
            {"accounts": ACCOUNTS, "charges": {**CHARGES, "account_id": "integer"}},
            ["fct_charges_monthly_by_customer"],
            "of two owners, the first the most tables point at",
        ),
    ],
)
def test_running_totals_are_per_the_one_owner(
    tmp_path: Path, tables: dict[str, dict[str, Any]], monthly: list[str], why: str
) -> None:
    every = {"customers": CUSTOMERS, "charges": CHARGES} | tables
    plan, _ = plan_of(tmp_path, *(table(n, c) for n, c in every.items()))
    assert "fct_charges_daily" in snapshots(plan)
    assert [n for n in snapshots(plan) if "monthly" in n] == monthly, why


@pytest.fixture
def snapshot_plan(tmp_path: Path) -> tuple[dict[str, Any], ProjectContext, int]:
    """A rules plan with its daily snapshot widened by hand: an event filter and a history's state."""
    history = {"id": "integer", "customer_id": "integer", "plan_name": "text", "valid_from": "timestamp",
               "valid_to": "timestamp"}  # fmt: skip
    plan, context = plan_of(
        tmp_path, table("customers", CUSTOMERS), table("charges", CHARGES), table("customer_plans", history)
    )
    document = json.loads(plan.model_dump_json())
    index = next(i for i, a in enumerate(document["actions"]) if a["name"] == "fct_charges_daily")
    spec = document["actions"][index]["spec"]
    spec["event_filter"] = "amount > 0"
    spec["entity"] = {"model": "fct_charges", "columns": ["customer_id"], "event_columns": ["customer_id"]}
    spec["state"] = {
        "model": "stg_raw__customer_plans",
        "valid_from": "valid_from",
        "valid_to": "valid_to",
        "key_columns": ["customer_id"],
        "columns": [{"name": "plan_name", "expression": "state.plan_name", "description": "The plan."}],
    }
    document["actions"][index]["dependencies"] = ["fct_charges", "stg_raw__customer_plans"]
    document["actions"][index]["tests"][0]["columns"] = ["date_day", "customer_id"]
    assert plan_problems(parse_plan(document), context) == []
    return document, context, index


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("event_time",), "updated", "spec.event_time"),
        (("bounds", "column"), "nope", "spec.bounds.column"),
        (("bounds", "model"), "nowhere", "spec.bounds.model"),
        (("measures", 1, "expression"), "amount * 2", "spec.measures[total_amount].expression"),
        (
            ("measures", 1, "expression"),
            "sum(amount) over (order by id)",
            "spec.measures[total_amount].expression",
        ),
        (("measures", 1, "name"), "period_end", "spec.columns"),
        (("measures", 1, "name"), "period_last_day", "spec.columns"),
        (("period_end_column",), "date_day", "spec.columns[date_day].name"),
        (("entity", "columns", 0), "period_start", "spec.columns"),
        (("entity", "event_columns"), ["customer_id", "id"], "spec.entity.event_columns"),
        (("state", "key_columns"), ["customer_id", "id"], "spec.state.key_columns"),
        (("state", "valid_to"), "ended", "spec.state.valid_to"),
        (("state", "columns", 0, "expression"), "max(state.plan_name)", "spec.columns[plan_name].expression"),
        (("state", "columns", 0, "expression"), "events.amount", "spec.columns[plan_name].expression"),
        (("event_filter",), "amount > (select 1)", "spec.event_filter"),
    ],
)
def test_the_checks_name_the_field_of_a_wrong_snapshot(
    snapshot_plan: tuple[dict[str, Any], ProjectContext, int], path: tuple[Any, ...], value: Any, field: str
) -> None:
    document, context, index = snapshot_plan
    node = document["actions"][index]["spec"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    problems = plan_problems(parse_plan(document), context)
    assert field in {p.field for p in problems if p.action == "fct_charges_daily"}, problems


@pytest.mark.parametrize(
    ("measure", "why"),
    [
        ({"expression": "max(amount)", "when_no_event": "null"}, "a maximum does not add up over months"),
        ({"expression": "sum(amount)", "when_no_event": "null"}, "a null period would break the total"),
        ({"expression": "avg(amount)"}, "an average does not add up"),
    ],
)
def test_a_running_measure_must_add_up(
    snapshot_plan: tuple[dict[str, Any], ProjectContext, int], measure: dict[str, Any], why: str
) -> None:
    document, context, index = snapshot_plan
    spec = document["actions"][index]["spec"]
    spec["measures"][1].update(running=True)
    assert plan_problems(parse_plan(document), context) == []
    spec["measures"][1].update(measure)
    problems = plan_problems(parse_plan(document), context)
    assert "spec.measures[total_amount].running" in {p.field for p in problems}, why


def test_a_snapshot_without_measures_or_state_is_refused(
    snapshot_plan: tuple[dict[str, Any], ProjectContext, int],
) -> None:
    document, context, index = snapshot_plan
    spec = document["actions"][index]["spec"]
    spec["measures"], spec["state"] = [], None
    document["actions"][index]["dependencies"] = ["fct_charges"]
    problems = plan_problems(parse_plan(document), context)
    assert "spec.measures" in {p.field for p in problems}, problems


def test_a_bad_period_is_refused_when_the_plan_is_read(
    snapshot_plan: tuple[dict[str, Any], ProjectContext, int],
) -> None:
    document, _, index = snapshot_plan
    document["actions"][index]["spec"]["period"] = "fortnight') }}{{ run_query('drop table x') }}"
    with pytest.raises(PlanError):
        parse_plan(document)


def test_every_snapshot_field_refuses_or_neutralizes_every_payload(
    snapshot_plan: tuple[dict[str, Any], ProjectContext, int],
) -> None:
    document, context, index = snapshot_plan
    paths = [("actions", index, *p) for p in string_leaves(document["actions"][index]["spec"], ("spec",))]
    assert len(paths) >= 20, paths
    outcomes = {"refused": 0, "inert": 0}
    for path in paths:
        for payload in PAYLOADS:
            outcomes[outcome(document, path, payload, context)] += 1
    # Names and SQL are refused; only descriptions are written, neutralized.
    assert outcomes["refused"] > 150 and outcomes["inert"] > 10, outcomes
