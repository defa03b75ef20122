"""A general ledger as a union, planned by hand over a rules plan and applied with `cartridge apply`.

On PostgreSQL and DuckDB: the union builds green with its grain tested, has as many rows as its inputs, every
journal balances (signed amounts sum to 0), and the mart of the ledger by month and account equals the figures
computed by hand in `ledger_fixture`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from ledger_fixture import JOURNALS, LEDGER_ROWS, MONTHLY, add_ledger, raw_statements
from support import duckdb_output, postgres_output, run_sql, snapshot_tree, write_project

from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.demo.local_postgres import LocalPostgres

BIN = Path(sys.executable).parent
Query = Callable[[str], list[tuple[Any, ...]]]


def _cartridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cartridge"), *args], capture_output=True, text=True, timeout=600, check=False
    )


def _duckdb(tmp_path: Path) -> tuple[dict[str, object], Query]:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_ledger")
        for statement in raw_statements("raw_ledger", "duckdb"):
            connection.execute(statement)

    def query(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(database), read_only=True) as connection:
            return connection.execute(sql).fetchall()

    return duckdb_output(database, "analytics"), query


def _postgres(server: LocalPostgres) -> tuple[dict[str, object], Query]:
    run_sql(server, "drop schema if exists raw_ledger cascade", "drop schema if exists analytics cascade")
    run_sql(server, "create schema raw_ledger", *raw_statements("raw_ledger", "postgres"))

    def query(sql: str) -> list[tuple[Any, ...]]:
        import psycopg2

        connection = psycopg2.connect(server.dsn)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            connection.close()

    return postgres_output(server, "analytics"), query


@pytest.mark.parametrize("adapter", ["duckdb", "postgres"])
def test_a_hand_written_ledger_union_applies_balances_and_matches_the_hand_computation(
    tmp_path: Path, adapter: str, request: pytest.FixtureRequest
) -> None:
    output, query = (
        _duckdb(tmp_path) if adapter == "duckdb" else _postgres(request.getfixturevalue("pg_server"))
    )
    project = write_project(tmp_path / "books", "books", output)
    DbtProject(project).deps()
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    rules_file, plan_file = tmp_path / "rules.json", tmp_path / "ledger.json"
    planned = _cartridge(
        "plan", *where, "--schema", "raw_ledger", "--out", str(rules_file), "--format", "json"
    )
    assert planned.returncode == 0, planned.stderr
    plan_file.write_text(json.dumps(add_ledger(json.loads(rules_file.read_text()), adapter)))

    before = snapshot_tree(project)
    dry = _cartridge("apply", str(plan_file), *where, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "union all" in dry.stdout and snapshot_tree(project) == before
    applied = _cartridge("apply", str(plan_file), *where)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "dbt build passed" in applied.stdout

    sql = (project / "models/intermediate/ledger/int_general_ledger.sql").read_text()
    assert sql.count("union all") == 4 and "cast('manual journal' as varchar) as source_model" in sql
    properties = (project / "models/intermediate/ledger/_int_ledger__models.yml").read_text()
    assert (
        "cartridge.unique_combination_of_columns" in properties and "data_type: decimal(14,2)" in properties
    )

    ledger = "analytics.int_general_ledger"
    inputs = sum(
        query(f"select count(*) from analytics.{model}")[0][0]
        for model in ("stg_ledger__invoices", "stg_ledger__invoice_lines", "stg_ledger__payments",
                      "stg_ledger__payments", "stg_ledger__journal_lines")
    )  # fmt: skip
    assert query(f"select count(*) from {ledger}") == [(LEDGER_ROWS,)] and inputs == LEDGER_ROWS
    by_label = dict(query(f"select source_model, count(*) from {ledger} group by source_model"))
    assert by_label == {
        "invoice receivable": 2, "invoice revenue": 3, "payment cash": 2, "payment receivable": 2,
        "manual journal": 5,
    }  # fmt: skip
    balances = query(f"select journal_type, journal_id, sum(signed_amount) from {ledger} group by 1, 2")
    assert {(kind, journal) for kind, journal, _ in balances} == JOURNALS
    assert all(total == 0 for _, _, total in balances), balances
    assert query(f"select count(*) from {ledger} where is_manual and invoice_id is null") == [(5,)]

    months = query(
        "select entry_month, account, net_amount, debits, line_count from analytics.fct_account_months"
    )
    assert {(str(m), a): (net, debits, lines) for m, a, net, debits, lines in months} == MONTHLY
    if adapter == "postgres":  # each branch cast to the declared type: PostgreSQL keeps exactly it
        types = dict(
            query(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'analytics' and table_name = 'int_general_ledger'"
            )
        )
        assert types["amount"] == "numeric" and types["journal_id"] == "bigint"
        assert types["is_manual"] == "boolean" and types["source_model"] == "character varying"
