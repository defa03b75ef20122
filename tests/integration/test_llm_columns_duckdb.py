"""`generate` with the LLM planner through litellm and a scripted OpenAI-shaped server, on DuckDB with real dbt: the
model's answers use a conditional aggregate, a running total with the previous value, and an incremental fact.

The numbers are checked against SQL written by hand on the raw tables: the conditional sum is the sum of the
filtered rows, the running total the sum of each customer's charges up to the row (no window in the hand SQL),
and a second build of the incremental fact adds the new charge and leaves the old rows as they were built.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
from llm_answers import chat_request_of, request_data
from openai_server import ScriptedOpenAIServer
from support import duckdb_project

from cartridge_bridge.api import ProjectOptions, generate
from cartridge_bridge.planning.llm.chat import ChatRequest
from cartridge_bridge.progress import SilentProgress

RAW = [
    "create schema raw_pay",
    "create table raw_pay.customers (id integer, name varchar)",
    "insert into raw_pay.customers values (1, 'acme'), (2, 'globex'), (3, 'initech')",
    "create table raw_pay.charges (id integer, customer_id integer, amount decimal(12,2), status varchar, "
    "is_refunded boolean, created_at timestamp, _fivetran_synced timestamp)",
    "insert into raw_pay.charges values "
    "(1, 1, 100.00, 'succeeded', false, '2026-01-01 10:00:00', '2026-01-02 00:00:00'), "
    "(2, 1, 50.00, 'failed', false, '2026-01-02 10:00:00', '2026-01-03 00:00:00'), "
    "(3, 1, 25.50, 'succeeded', true, '2026-01-03 10:00:00', '2026-01-04 00:00:00'), "
    "(4, 2, 10.00, 'succeeded', false, '2026-01-01 09:00:00', '2026-01-02 00:00:00'), "
    "(5, 2, 70.00, 'failed', false, '2026-01-05 09:00:00', '2026-01-06 00:00:00'), "
    "(6, 2, 30.00, 'succeeded', false, '2026-01-06 09:00:00', '2026-01-07 00:00:00')",
]
# Six raw charges are "big" here: the fact's request offers the loader timestamp to be incremental on.
CARTRIDGE_YML = "incremental_min_rows: 5\n"
BIN = Path(sys.executable).parent

OUTLINE = {
    "models": [
        {"name": "stg_pay__customers", "layer": "staging", "source_table": "pay.customers",
         "grain": "one row per customer", "description": "Customers."},
        {"name": "stg_pay__charges", "layer": "staging", "source_table": "pay.charges",
         "grain": "one row per charge", "description": "Charges."},
        {"name": "int_charges_aggregated_to_customers", "layer": "intermediate", "inputs": ["stg_pay__charges"],
         "grain": "one row per customer with charges", "description": "Charges per customer."},
        {"name": "dim_customers", "layer": "marts", "role": "dimension",
         "inputs": ["stg_pay__customers", "int_charges_aggregated_to_customers"],
         "grain": "one row per customer", "description": "Customers with what their charges add up to."},
        {"name": "fct_charges", "layer": "marts", "role": "fact", "inputs": ["stg_pay__charges"],
         "grain": "one row per charge", "description": "Charges, built incrementally."},
        {"name": "fct_charge_balances", "layer": "marts", "role": "fact", "inputs": ["stg_pay__charges"],
         "grain": "one row per charge", "description": "Each customer's running total of charges."},
    ]
}  # fmt: skip
CHARGE_COLUMNS = [
    ("charge_id", "id", "integer"),
    ("customer_id", "customer_id", "integer"),
    ("amount", "amount", "decimal(12,2)"),
    ("status", "status", "varchar"),
    ("is_refunded", "is_refunded", "boolean"),
    ("created_at", "created_at", "timestamp"),
    ("_fivetran_synced", "_fivetran_synced", "timestamp"),
]
RUNNING = (
    "sum(charges.amount) over (partition by charges.customer_id order by charges.created_at, charges.charge_id "
    "rows between unbounded preceding and current row)"
)
PREVIOUS = "lag(charges.amount) over (partition by charges.customer_id order by charges.created_at, charges.charge_id)"


def _charges(*names: str) -> list[dict[str, str]]:
    return [{"name": n, "expression": f"charges.{n}"} for n in names]


SPECS: dict[str, dict[str, Any]] = {
    "stg_pay__customers": {
        "entity": "customer",
        "grain": ["customer_id"],
        "columns": [
            {"name": "customer_id", "source_column": "id", "cast_to": "integer"},
            {"name": "customer_name", "source_column": "name", "cast_to": "varchar"},
        ],
    },
    "stg_pay__charges": {
        "entity": "charge",
        "grain": ["charge_id"],
        "columns": [{"name": n, "source_column": s, "cast_to": t} for n, s, t in CHARGE_COLUMNS],
    },
    "int_charges_aggregated_to_customers": {
        "group_by": ["customer_id"],
        "columns": [
            {"name": "customer_id", "expression": "customer_id"},
            {"name": "number_of_charges", "expression": "count(*)"},
            {
                "name": "succeeded_amount",
                "aggregate": {"function": "sum", "column": "amount", "where": "status = 'succeeded'"},
            },
            {
                "name": "number_of_refunded_charges",
                "aggregate": {"function": "count", "where": "is_refunded"},
            },
        ],
    },
    "dim_customers": {
        "base_model": "stg_pay__customers",
        "base_alias": "customers",
        "grain": ["customer_id"],
        "columns": [{"name": n, "expression": f"customers.{n}"} for n in ("customer_id", "customer_name")],
        "joins": [
            {
                "model": "int_charges_aggregated_to_customers",
                "alias": "charges",
                "on": [
                    {"left_alias": "customers", "left_column": "customer_id", "right_column": "customer_id"}
                ],
                "columns": [
                    {"name": n, "expression": f"coalesce(charges.{n}, 0)"}
                    for n in ("number_of_charges", "succeeded_amount", "number_of_refunded_charges")
                ],
            }
        ],
    },
    "fct_charges": {
        "base_model": "stg_pay__charges",
        "base_alias": "charges",
        "grain": ["charge_id"],
        "columns": _charges(*(n for n, _, _ in CHARGE_COLUMNS)),
        "incremental": {"column": "_fivetran_synced"},
    },
    "fct_charge_balances": {
        "base_model": "stg_pay__charges",
        "base_alias": "charges",
        "grain": ["charge_id"],
        "columns": [
            *_charges("charge_id", "customer_id", "created_at", "amount"),
            {"name": "running_amount", "expression": RUNNING},
            {"name": "previous_amount", "expression": PREVIOUS},
        ],
    },
}
GRAINS = {"stg_pay__customers": "customer_id", "int_charges_aggregated_to_customers": "customer_id",
          "dim_customers": "customer_id"}  # fmt: skip


class PayModel:
    """Answers each request from the script above, recording the requests' data by model."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}

    def __call__(self, request: ChatRequest) -> str:
        task = request_data(request)
        if request.phase == "plan":
            return json.dumps(OUTLINE)
        if request.phase == "staging":
            names = [m["model"]["name"] for m in task["models"]]
            return json.dumps({"models": [{"model": n, **SPECS[n]} for n in names]})
        if request.phase == "docs_tests":
            return json.dumps({"models": [self.entry(m) for m in task["models_to_describe"]]})
        if request.phase == "repair":
            raise AssertionError(f"the build failed: {json.dumps(task)[:2000]}")
        name = task["model"]["name"]
        self.tasks[name] = task
        return json.dumps(SPECS[name])

    @staticmethod
    def entry(described: dict[str, Any]) -> dict[str, Any]:
        """Each column described from its name; the grain tested unique and not null."""
        name = described["model"]["name"]
        key = GRAINS.get(name, "charge_id")
        return {
            "model": name,
            "description": described["model"]["description"],
            "columns": [
                {
                    "name": c["name"],
                    "description": f"The {c['name'].replace('_', ' ')}.",
                    "tests": [{"name": "unique"}, {"name": "not_null"}] if c["name"] == key else [],
                }
                for c in described["columns"]
            ],
        }


def _dbt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "dbt"), *args], capture_output=True, text=True, timeout=600, check=False)


def test_conditional_aggregates_running_totals_and_an_incremental_fact_build_with_the_hand_numbers(
    tmp_path: Path,
) -> None:
    project, database = duckdb_project(tmp_path, "pay", RAW, models={"cartridge.yml": CARTRIDGE_YML})
    model = PayModel()
    with ScriptedOpenAIServer(responder=lambda body: model(chat_request_of(body))) as server:
        options = ProjectOptions(
            project_dir=project, profiles_dir=project, schemas=["raw_pay"], semantic_models=False,
            model="openai/scripted-model", api_base=server.base_url, cache=False,
        )  # fmt: skip
        report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    assert report.build.failed == []

    # What the requests showed: the child's status and flag, the loader timestamp the fact may grow on.
    splits = model.tasks["int_charges_aggregated_to_customers"]["split_columns"]
    assert [(s["column"], s["kind"]) for s in splits] == [("status", "status"), ("is_refunded", "flag")]
    assert "values" not in splits[0]  # no row value leaves the warehouse without share_samples
    assert model.tasks["fct_charges"]["incremental"]["growing_column"] == "_fivetran_synced"
    assert "incremental" not in model.tasks["dim_customers"]

    fact_sql = (project / "models/marts/fct_charges.sql").read_text()
    assert "materialized='incremental'" in fact_sql and "{% if is_incremental() %}" in fact_sql
    aggregate_sql = (project / "models/intermediate/int_charges_aggregated_to_customers.sql").read_text()
    assert "sum(case when (status = 'succeeded') then amount end) as succeeded_amount" in aggregate_sql

    def rows(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(database), read_only=True) as connection:
            return connection.execute(sql).fetchall()

    # The conditional sum is the sum of the filtered rows; the flag's count the rows where it holds.
    built = rows(
        "select customer_id, succeeded_amount, number_of_refunded_charges, number_of_charges "
        "from analytics.dim_customers order by 1"
    )
    by_hand = rows(
        "select c.id, coalesce((select sum(amount) from raw_pay.charges where customer_id = c.id "
        "and status = 'succeeded'), 0), (select count(*) from raw_pay.charges where customer_id = c.id "
        "and is_refunded), (select count(*) from raw_pay.charges where customer_id = c.id) "
        "from raw_pay.customers c order by 1"
    )
    assert built == by_hand
    assert [(r[0], float(r[1]), r[2]) for r in built] == [(1, 125.5, 1), (2, 40.0, 0), (3, 0.0, 0)]

    # The running total is the cumulative sum of the customer's charges up to the row; the previous amount lags.
    balances = rows(
        "select charge_id, running_amount, previous_amount from analytics.fct_charge_balances order by 1"
    )
    cumulative = rows(
        "select c.id, (select sum(p.amount) from raw_pay.charges p where p.customer_id = c.customer_id and "
        "(p.created_at < c.created_at or (p.created_at = c.created_at and p.id <= c.id))) "
        "from raw_pay.charges c order by 1"
    )
    assert [(r[0], r[1]) for r in balances] == cumulative
    assert [(r[0], float(r[1]), r[2] and float(r[2])) for r in balances] == [
        (1, 100.0, None), (2, 150.0, 100.0), (3, 175.5, 50.0),
        (4, 10.0, None), (5, 80.0, 10.0), (6, 110.0, 70.0),
    ]  # fmt: skip

    # A second build of the incremental fact reads only from its newest `_fivetran_synced` on: a new charge is
    # added, an old charge changed in the raw table keeps the amount it was built with.
    with duckdb.connect(str(database)) as connection:
        connection.execute("update raw_pay.charges set amount = 999 where id = 1")
        connection.execute(
            "insert into raw_pay.charges values "
            "(7, 3, 5.00, 'succeeded', false, '2026-01-08 09:00:00', '2026-01-09 00:00:00')"
        )
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    again = _dbt("build", *where, "--select", "fct_charges")
    assert again.returncode == 0, again.stdout
    amounts = rows("select charge_id, amount from analytics.fct_charges order by 1")
    assert [(r[0], float(r[1])) for r in amounts] == [
        (1, 100.0), (2, 50.0), (3, 25.5), (4, 10.0), (5, 70.0), (6, 30.0), (7, 5.0),
    ]  # fmt: skip
