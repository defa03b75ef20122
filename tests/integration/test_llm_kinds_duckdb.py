"""The LLM planner's outline chooses a history, a union and a periodic snapshot: a scripted model answers through
litellm and a local OpenAI-compatible server, and real dbt builds the plan green on DuckDB, the snapshot's spine
one row per day between the first and the last booking, the union as many rows as its inputs, and a monthly
snapshot per account carrying each account's plan as of the month's end from the history."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from llm_answers import documented_entry, request_data
from llm_server_chat import ServerChat
from support import duckdb_project

from cartridge_bridge.api import ProjectOptions, generate, make_llm_planner
from cartridge_bridge.planning.llm.chat import ChatRequest, LLMSettings
from cartridge_bridge.planning.plan import HistorySpec, PeriodicSnapshotSpec, UnionSpec
from cartridge_bridge.progress import SilentProgress

INVOICE_LINES = [(1, 1, 100.00, "2025-01-01"), (2, 2, 40.00, "2025-01-03"), (3, 1, 10.50, "2025-01-10")]
CREDIT_NOTE_LINES = [(1, 1, 20.00, "2025-01-05"), (2, 2, 5.00, "2025-01-12")]
OUTLINE = {
    "models": [
        {"name": "stg_fin__accounts", "layer": "staging", "source_table": "fin.accounts",
         "grain": "one row per account version", "description": "Every version of each account."},
        {"name": "stg_fin__invoice_lines", "layer": "staging", "source_table": "fin.invoice_lines",
         "grain": "one row per invoice line", "description": "Invoice lines."},
        {"name": "stg_fin__credit_note_lines", "layer": "staging", "source_table": "fin.credit_note_lines",
         "grain": "one row per credit note line", "description": "Credit note lines."},
        {"name": "int_accounts_versions", "layer": "intermediate", "kind": "history",
         "inputs": ["stg_fin__accounts"], "grain": "one row per account version",
         "description": "The versions of each account, dated."},
        {"name": "int_accounts_current", "layer": "intermediate", "kind": "mart",
         "inputs": ["int_accounts_versions"], "grain": "one row per account",
         "description": "The current version of each account."},
        {"name": "int_ledger_lines", "layer": "intermediate", "kind": "union",
         "inputs": ["stg_fin__invoice_lines", "stg_fin__credit_note_lines"], "grain": "one row per ledger line",
         "description": "Invoice and credit note lines, signed."},
        {"name": "dim_accounts", "layer": "marts", "role": "dimension", "inputs": ["int_accounts_current"],
         "grain": "one row per account", "description": "Accounts as they are now."},
        {"name": "fct_ledger_daily", "layer": "marts", "role": "fact", "kind": "periodic_snapshot",
         "inputs": ["int_ledger_lines"], "grain": "one row per day",
         "description": "The ledger's daily net amount."},
        {"name": "fct_account_months", "layer": "marts", "role": "fact", "kind": "periodic_snapshot",
         "inputs": ["int_ledger_lines", "int_accounts_current", "int_accounts_versions"],
         "grain": "one row per account and month", "description": "Each account's month: its net amount and plan."},
    ]
}  # fmt: skip
LINE_COLUMNS = [
    {"name": "account_id", "source_column": "account_id", "cast_to": "integer"},
    {"name": "amount", "source_column": "amount", "cast_to": "decimal(12,2)"},
    {"name": "booked_on", "source_column": "booked_on", "cast_to": "date"},
]
SPECS: dict[str, dict[str, Any]] = {
    "stg_fin__accounts": {
        "entity": "account",
        "grain": ["account_id", "updated_at"],
        "columns": [
            {"name": "account_id", "source_column": "id", "cast_to": "integer"},
            {"name": "plan", "source_column": "plan", "cast_to": "varchar"},
            {"name": "updated_at", "source_column": "updated_at", "cast_to": "timestamp"},
        ],
    },
    "stg_fin__invoice_lines": {
        "entity": "invoice_line",
        "grain": ["invoice_line_id"],
        "columns": [{"name": "invoice_line_id", "source_column": "id", "cast_to": "integer"}, *LINE_COLUMNS],
    },
    "stg_fin__credit_note_lines": {
        "entity": "credit_note_line",
        "grain": ["credit_note_line_id"],
        "columns": [
            {"name": "credit_note_line_id", "source_column": "id", "cast_to": "integer"},
            *LINE_COLUMNS,
        ],
    },
    "int_accounts_versions": {
        "entity_key": ["account_id"],
        "valid_from": "updated_at",
        "tie_breaker": [{"column": "plan", "descending": True}],
    },
    "int_accounts_current": {
        "base_model": "int_accounts_versions",
        "base_alias": "versions",
        "grain": ["account_id"],
        "columns": [
            {"name": "account_id", "expression": "versions.account_id"},
            {"name": "plan", "expression": "versions.plan"},
            {"name": "updated_at", "expression": "versions.updated_at"},
        ],
        "filter": "versions.is_current",
    },
    "int_ledger_lines": {
        "columns": [
            {"name": "source_model", "data_type": "varchar"},
            {"name": "line_id", "data_type": "integer"},
            {"name": "account_id", "data_type": "integer"},
            {"name": "amount", "data_type": "decimal(12,2)"},
            {"name": "booked_on", "data_type": "date"},
        ],
        "inputs": [
            {
                "model": "stg_fin__invoice_lines",
                "label": "invoice",
                "columns": [
                    {"column": "line_id", "expression": "invoice_line_id"},
                    {"column": "account_id", "expression": "account_id"},
                    {"column": "amount", "expression": "amount"},
                    {"column": "booked_on", "expression": "booked_on"},
                ],
            },
            {
                "model": "stg_fin__credit_note_lines",
                "label": "credit_note",
                "columns": [
                    {"column": "line_id", "expression": "credit_note_line_id"},
                    {"column": "account_id", "expression": "account_id"},
                    {"column": "amount", "expression": "-amount"},
                    {"column": "booked_on", "expression": "booked_on"},
                ],
            },
        ],
        "grain": ["source_model", "line_id"],
    },
    "dim_accounts": {
        "base_model": "int_accounts_current",
        "base_alias": "accounts",
        "grain": ["account_id"],
        "columns": [
            {"name": "account_id", "expression": "accounts.account_id"},
            {"name": "plan", "expression": "accounts.plan"},
        ],
    },
    "fct_ledger_daily": {
        "period": "day",
        "event_model": "int_ledger_lines",
        "event_time": "booked_on",
        "measures": [
            {"name": "net_amount", "expression": "sum(amount)", "description": "The day's signed amounts."},
            {"name": "number_of_lines", "expression": "count(*)", "description": "The day's lines."},
        ],
    },
    "fct_account_months": {
        "period": "month",
        "event_model": "int_ledger_lines",
        "event_time": "booked_on",
        "entity": {"model": "int_accounts_current", "columns": ["account_id"]},
        "measures": [
            {"name": "net_amount", "expression": "sum(amount)", "description": "The month's net amount."}
        ],
        "state": {
            "model": "int_accounts_versions",
            "key_columns": ["account_id"],
            "columns": [
                {"name": "plan", "expression": "state.plan", "description": "The plan at the month's end."}
            ],
        },
    },
}
KEYS = {
    "stg_fin__invoice_lines": "invoice_line_id",
    "stg_fin__credit_note_lines": "credit_note_line_id",
    "int_accounts_current": "account_id",
    "dim_accounts": "account_id",
}


def answer(request: ChatRequest) -> str:
    """The scripted model: the outline above, each spec by the model it is asked for, generic docs and tests."""
    task = request_data(request)
    if request.phase == "plan":
        versioned = [t for t in task["raw_tables"] if t.get("key", {}).get("history")]
        assert [t["source_table"] for t in versioned] == ["fin.accounts"]  # what makes a history right
        return json.dumps(OUTLINE)
    if request.phase == "staging":
        by_name = {m["model"]["name"]: m for m in task["models"]}
        assert by_name["stg_fin__accounts"]["read_by_history"] == "int_accounts_versions"
        return json.dumps({"models": [{"model": n, **SPECS[n]} for n in by_name]})
    if request.phase == "docs_tests":
        return json.dumps({"models": [documented_entry(m, KEYS) for m in task["models_to_describe"]]})
    if request.phase == "history":
        assert task["history_key"] == {"key": ["account_id"], "version_columns": ["updated_at"]}
    if request.phase == "periodic_snapshot":
        assert {"column": "int_ledger_lines.booked_on", "data_type": "date"} in task["date_columns"]
    return json.dumps(SPECS[task["model"]["name"]])


def _project(tmp_path: Path) -> tuple[Path, Path]:
    raw = [
        "create schema raw_fin",
        "create table raw_fin.accounts (id integer, plan varchar, updated_at timestamp)",
        "insert into raw_fin.accounts values (1, 'free', '2025-01-01'), (1, 'pro', '2025-02-01'), "
        "(2, 'free', '2025-01-15'), (3, 'pro', '2025-01-20'), (3, 'team', '2025-03-01')",
    ]
    for table, rows in (("invoice_lines", INVOICE_LINES), ("credit_note_lines", CREDIT_NOTE_LINES)):
        raw.append(
            f"create table raw_fin.{table} (id integer, account_id integer, amount decimal(12,2), booked_on date)"
        )
        values = ", ".join(f"({line}, {account}, {amount}, '{day}')" for line, account, amount, day in rows)
        raw.append(f"insert into raw_fin.{table} values {values}")
    return duckdb_project(tmp_path, "fin", raw)


def test_the_outline_chooses_a_history_a_union_and_periodic_snapshots(tmp_path: Path) -> None:
    project, database = _project(tmp_path)
    chat = ServerChat(answer)
    try:
        options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_fin"])
        report = generate(
            options, SilentProgress(), planner=make_llm_planner(LLMSettings(model=chat.model), chat)
        )
    finally:
        chat.close()
    assert report.build is not None and report.build.success, report.build
    assert report.build.failed == []
    # Each spec accepted as first answered (the specs run concurrently: their order varies): no re-ask.
    specs = sorted(p for p in chat.phases() if p not in ("plan", "staging", "docs_tests"))
    assert specs == ["history", "mart", "mart", "periodic_snapshot", "periodic_snapshot", "union"]
    assert report.plan.skipped == [], report.plan.skipped
    kinds = {a.name: type(a.spec) for a in report.plan.models()}
    assert kinds["int_accounts_versions"] is HistorySpec
    assert kinds["int_ledger_lines"] is UnionSpec
    assert kinds["fct_ledger_daily"] is PeriodicSnapshotSpec
    dates = [datetime.date.fromisoformat(r[3]) for r in [*INVOICE_LINES, *CREDIT_NOTE_LINES]]
    with duckdb.connect(str(database)) as connection:

        def query(sql: str) -> list[tuple[Any, ...]]:
            return connection.execute(sql).fetchall()

        # The spine: one row per day from the first booking to the last, a day without lines at 0.
        days = (max(dates) - min(dates)).days + 1
        assert query("select count(*) from analytics.fct_ledger_daily") == [(days,)] == [(12,)]
        assert query("select sum(net_amount), sum(number_of_lines) from analytics.fct_ledger_daily") == [
            (Decimal("125.50"), 5)
        ]
        # The union: every input's rows, once each, labelled by their input.
        assert query(
            "select source_model, count(*) from analytics.int_ledger_lines group by 1 order by 1"
        ) == [
            ("credit_note", len(CREDIT_NOTE_LINES)),
            ("invoice", len(INVOICE_LINES)),
        ]
        # The history: five versions dated, one current per account, which the dimension reads.
        assert query(
            "select account_id, plan, valid_to is null, is_current from analytics.int_accounts_versions "
            "order by account_id, valid_from"
        ) == [
            (1, "free", False, False), (1, "pro", True, True), (2, "free", True, True),
            (3, "pro", False, False), (3, "team", True, True),
        ]  # fmt: skip
        # The monthly snapshot: one month of bookings per account, each with its plan as of that month's end
        # (account 1 turned pro in February, account 3 team in March), not the current one.
        assert query(
            "select account_id, period_start, net_amount, plan from analytics.fct_account_months order by 1"
        ) == [
            (1, datetime.date(2025, 1, 1), Decimal("90.50"), "free"),
            (2, datetime.date(2025, 1, 1), Decimal("35.00"), "free"),
            (3, datetime.date(2025, 1, 1), Decimal("0.00"), "pro"),
        ]
        assert query("select account_id, plan from analytics.dim_accounts order by 1") == [
            (1, "pro"), (2, "free"), (3, "team"),
        ]  # fmt: skip
