"""Window columns and conditional aggregates (issue 18) built with real dbt on PostgreSQL and DuckDB.

A rules plan of a small payments schema gains window columns in its fact and conditional aggregates in its
intermediate; after `dbt build` the figures must be the hand-computed ones, and equal what plain SQL over the
raw rows says: a running total is the cumulative sum, a conditional sum the filtered sum.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from plan_payloads import edited
from support import (
    duckdb_execute,
    duckdb_output,
    duckdb_query,
    postgres_output,
    postgres_query,
    run_sql,
    write_project,
)
from window_plans import CUSTOMERS, PAYMENTS, assert_figures, normalized, with_windows_and_conditions

from cartridge_bridge.api import ProjectOptions, apply_plan, load_context, make_plan, undo_run
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import SilentProgress

RAW = [
    "create schema raw_pay",
    "create table raw_pay.customers (id integer primary key, name varchar(20))",
    "create table raw_pay.payments (id integer primary key, customer_id integer, paid_at date,"
    " amount decimal(10,2), status varchar(20))",
    "insert into raw_pay.customers values " + ", ".join(f"({i}, '{n}')" for i, n in CUSTOMERS),
    "insert into raw_pay.payments values "
    + ", ".join(f"({i}, {c}, date '{d}', {a}, '{s}')" for i, c, d, a, s in PAYMENTS),
]
# The same figures from the raw rows by plain SQL, without a window or a `case`.
RUNNING_BY_HAND = (
    "select p.id, (select sum(q.amount) from raw_pay.payments q where q.customer_id = p.customer_id"
    " and (q.paid_at < p.paid_at or (q.paid_at = p.paid_at and q.id <= p.id))) from raw_pay.payments p"
)
SUCCEEDED_BY_HAND = (
    "select customer_id, sum(amount) from raw_pay.payments where status = 'succeeded' group by customer_id"
)


@dataclass
class Built:
    query: Callable[[str], list[tuple[Any, ...]]]
    schema: str
    sql: dict[str, str]  # the rendered SQL of the edited models


def _postgres(
    request: pytest.FixtureRequest,
) -> tuple[dict[str, object], Callable[..., None], Callable[[str], list[tuple[Any, ...]]]]:

    server = request.getfixturevalue("pg_server")
    run_sql(server, "drop schema if exists raw_pay cascade")

    query = postgres_query(server.dsn)

    return postgres_output(server, "analytics_windows"), lambda *sql: run_sql(server, *sql), query


@pytest.fixture(scope="module", params=["postgres", "duckdb"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    home = tmp_path_factory.mktemp(f"windows_{request.param}")
    if request.param == "postgres":
        output, execute, query = _postgres(request)
        schema = "analytics_windows"
    else:
        database = home / "warehouse.duckdb"
        output, schema = duckdb_output(database, "analytics"), "analytics"

        execute = duckdb_execute(database)

        # dbt-duckdb keeps its own connection open in this process: the same configuration, not read-only.
        query = duckdb_query(database, read_only=False)

    execute(*RAW)
    project = write_project(home / "app", "app", output)
    DbtProject(project, project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_pay"])
    _, context = load_context(options, SilentProgress())
    plan = json.loads(make_plan(context).model_dump_json())
    report = apply_plan(
        ExecutionPlan.model_validate(edited(plan, with_windows_and_conditions)), options, SilentProgress()
    )
    assert report.build is not None and report.build.success, report.build
    assert report.build.failed == []
    sql = {
        name: (project / path).read_text()
        for name, path in (
            ("aggregate", "models/intermediate/int_payments_aggregated_to_customers.sql"),
            ("fact", "models/marts/fct_payments.sql"),
        )
    }
    yield Built(query, schema, sql)
    undo_run(project, None, profiles_dir=project)
    execute("drop schema raw_pay cascade")


def test_window_columns_and_conditional_aggregates_have_the_hand_computed_figures(built: Built) -> None:
    assert_figures(built.query, built.schema)


def test_a_running_total_is_the_cumulative_sum_and_a_conditional_sum_the_filtered_sum(built: Built) -> None:
    running = normalized(built.query(f"select payment_id, running_amount from {built.schema}.fct_payments"))
    assert running == normalized(built.query(RUNNING_BY_HAND))
    succeeded = (
        f"select customer_id, succeeded_amount from {built.schema}.int_payments_aggregated_to_customers"
    )
    filtered = normalized(built.query(SUCCEEDED_BY_HAND))
    assert {k: v for k, v in normalized(built.query(succeeded)).items() if v != (None,)} == filtered


def test_the_conditional_aggregates_render_as_portable_case(built: Built) -> None:
    aggregate = built.sql["aggregate"]
    assert "sum(case when (status = 'succeeded') then amount end) as succeeded_amount" in aggregate
    assert "count(case when (status = 'failed') then 1 end) as failed_payments" in aggregate
    assert "count(distinct case when (status = 'succeeded') then paid_at end) as succeeded_days" in aggregate
    assert "filter" not in aggregate.lower()
    assert "row_number() over (partition by payments.customer_id" in built.sql["fact"]
