"""A hand-written general ledger: invoices with lines, payments and manual journal entries, with debits and credits.

The raw tables are created the same way on PostgreSQL, DuckDB and Spark (`raw_statements`); `add_ledger` adds to
a rules plan of them a union of every transaction type's journal lines, a monthly aggregate of it by account and
a mart over that. The expected figures below are computed by hand from the rows, not by any query.
"""

from __future__ import annotations

import decimal
from typing import Any

Plan = dict[str, Any]
D = decimal.Decimal

# Column types as each warehouse spells them ("text" is what Spark calls string).
_TYPES = {
    "int": {"postgres": "integer", "duckdb": "integer", "spark": "int"},
    "date": {"postgres": "date", "duckdb": "date", "spark": "date"},
    "money": {"postgres": "decimal(12,2)", "duckdb": "decimal(12,2)", "spark": "decimal(12,2)"},
    "text": {"postgres": "varchar", "duckdb": "varchar", "spark": "string"},
}
RAW_TABLES: dict[str, tuple[dict[str, str], list[str]]] = {
    "invoices": (
        {"id": "int", "invoiced_date": "date", "total": "money"},
        ["(1, date '2025-01-15', 150.00)", "(2, date '2025-02-03', 80.00)"],
    ),
    "invoice_lines": (
        {"id": "int", "invoice_id": "int", "invoiced_date": "date", "account": "text", "amount": "money"},
        [
            "(11, 1, date '2025-01-15', '4000', 100.00)",
            "(12, 1, date '2025-01-15', '4100', 50.00)",
            "(13, 2, date '2025-02-03', '4000', 80.00)",
        ],
    ),
    "payments": (
        {"id": "int", "invoice_id": "int", "paid_date": "date", "amount": "money"},
        ["(21, 1, date '2025-01-31', 150.00)", "(22, 2, date '2025-02-20', 30.00)"],
    ),
    "journal_lines": (
        {"id": "int", "journal_entry_id": "int", "posted_date": "date", "account": "text", "debit": "money",
         "credit": "money"},
        [
            "(31, 7, date '2025-01-31', '6000', 40.00, null)",
            "(32, 7, date '2025-01-31', '1000', null, 40.00)",
            "(33, 8, date '2025-02-28', '6100', 25.50, null)",
            "(34, 8, date '2025-02-28', '2000', null, 10.50)",
            "(35, 8, date '2025-02-28', '1000', null, 15.00)",
        ],
    ),
}  # fmt: skip

# By hand: invoice 1 debits receivable 1200 by 150 and credits revenue 4000/4100 by 100 + 50; invoice 2 debits
# 1200 by 80, credits 4000 by 80; each payment debits cash 1000 and credits 1200 by its amount; journal 7
# moves 40 from cash to 6000; journal 8 debits 6100 by 25.50 against 2000 (10.50) and cash (15.00).
LEDGER_ROWS = 2 + 3 + 2 * 2 + 5  # each input's rows; payments feed two inputs (the cash and receivable sides)
JOURNALS = {("invoice", 1), ("invoice", 2), ("payment", 21), ("payment", 22), ("manual", 7), ("manual", 8)}
# (month, account) → (net signed amount, debits, lines)
MONTHLY = {
    ("2025-01-01", "1000"): (D("110.00"), D("150.00"), 2),
    ("2025-01-01", "1200"): (D("0.00"), D("150.00"), 2),
    ("2025-01-01", "4000"): (D("-100.00"), D("0.00"), 1),
    ("2025-01-01", "4100"): (D("-50.00"), D("0.00"), 1),
    ("2025-01-01", "6000"): (D("40.00"), D("40.00"), 1),
    ("2025-02-01", "1000"): (D("15.00"), D("30.00"), 2),
    ("2025-02-01", "1200"): (D("50.00"), D("80.00"), 2),
    ("2025-02-01", "2000"): (D("-10.50"), D("0.00"), 1),
    ("2025-02-01", "4000"): (D("-80.00"), D("0.00"), 1),
    ("2025-02-01", "6100"): (D("25.50"), D("25.50"), 1),
}


def raw_statements(schema: str, adapter: str) -> list[str]:
    """The statements that create and fill the raw ledger tables in `schema` on `adapter`."""
    using = " using parquet" if adapter == "spark" else ""
    statements = []
    for table, (columns, rows) in RAW_TABLES.items():
        typed = ", ".join(f"{name} {_TYPES[kind][adapter]}" for name, kind in columns.items())
        statements.append(f"create table {schema}.{table} ({typed}){using}")
        statements.append(f"insert into {schema}.{table} values {', '.join(rows)}")
    return statements


def ledger_types(adapter: str) -> dict[str, str]:
    """The union's declared column types on `adapter`."""
    return {
        "source_model": _TYPES["text"][adapter], "journal_type": _TYPES["text"][adapter], "journal_id": "bigint",
        "line_id": "bigint", "entry_date": "date", "entry_month": "date", "account": _TYPES["text"][adapter],
        "side": _TYPES["text"][adapter], "amount": "decimal(14,2)", "signed_amount": "decimal(14,2)",
        "direction": "integer", "invoice_id": "bigint", "is_manual": "boolean",
    }  # fmt: skip


def _month(column: str) -> str:
    return f"cast(date_trunc('month', {column}) as date)"


def ledger_inputs(staged: dict[str, str], key: dict[str, str]) -> list[dict[str, Any]]:
    """The union's inputs over the staging models `staged` (raw table → model), `key` their id columns.

    Every kind of mapping is here: columns, text, number, boolean and null literals, casts, expressions.
    """
    inv, line, pay, journal = key["invoices"], key["invoice_lines"], key["payments"], key["journal_lines"]
    return [
        {"model": staged["invoices"], "label": "invoice receivable", "columns": {
            "journal_type": "'invoice'", "journal_id": inv, "line_id": inv, "entry_date": "invoiced_date",
            "entry_month": _month("invoiced_date"), "account": "'1200'", "side": "'debit'", "amount": "total",
            "signed_amount": "total", "direction": "1", "invoice_id": inv, "is_manual": "false"}},
        {"model": staged["invoice_lines"], "label": "invoice revenue", "columns": {
            "journal_type": "'invoice'", "journal_id": "invoice_id", "line_id": line, "entry_date": "invoiced_date",
            "entry_month": _month("invoiced_date"), "account": "account", "side": "'credit'", "amount": "amount",
            "signed_amount": "-amount", "direction": "-1", "invoice_id": "invoice_id", "is_manual": "false"}},
        {"model": staged["payments"], "label": "payment cash", "columns": {
            "journal_type": "'payment'", "journal_id": pay, "line_id": pay, "entry_date": "paid_date",
            "entry_month": _month("paid_date"), "account": "'1000'", "side": "'debit'", "amount": "amount",
            "signed_amount": "amount", "direction": "1", "invoice_id": "invoice_id", "is_manual": "false"}},
        {"model": staged["payments"], "label": "payment receivable", "columns": {
            "journal_type": "'payment'", "journal_id": pay, "line_id": pay, "entry_date": "paid_date",
            "entry_month": _month("paid_date"), "account": "'1200'", "side": "'credit'", "amount": "amount",
            "signed_amount": "amount * -1", "direction": "-1", "invoice_id": "invoice_id", "is_manual": "false"}},
        {"model": staged["journal_lines"], "label": "manual journal", "columns": {
            "journal_type": "'manual'", "journal_id": "journal_entry_id", "line_id": journal,
            "entry_date": "posted_date", "entry_month": _month("posted_date"), "account": "account",
            "side": "case when debit is not null then 'debit' else 'credit' end",
            "amount": "coalesce(debit, credit)", "signed_amount": "coalesce(debit, 0) - coalesce(credit, 0)",
            "direction": "case when debit is not null then 1 else -1 end", "invoice_id": "null",
            "is_manual": "true"}},
    ]  # fmt: skip


def _column(name: str, data_type: str, tests: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": name, "data_type": data_type, "description": f"The journal line's {name.replace('_', ' ')}.",
            "tests": tests or []}  # fmt: skip


def add_ledger(plan: Plan, adapter: str, folder: str = "models/intermediate/ledger") -> Plan:
    """`plan` (a rules plan of the raw ledger) with the general ledger union, its monthly aggregate and a mart."""
    staged = {a["spec"]["table"]: a["name"] for a in plan["actions"] if a["type"] == "create_staging"}
    key = {
        a["spec"]["table"]: a["spec"]["grain"][0] for a in plan["actions"] if a["type"] == "create_staging"
    }
    inputs = ledger_inputs(staged, key)
    labels = [i["label"] for i in inputs]
    not_null = [{"name": "not_null"}]
    columns = [
        _column(name, data_type, not_null if name in ("source_model", "account", "signed_amount") else None)
        for name, data_type in ledger_types(adapter).items()
    ]
    columns[0]["tests"] = [{"name": "accepted_values", "values": labels}, *not_null]
    union = {
        "step_id": 0, "type": "create_intermediate", "name": "int_general_ledger",
        "file_path": f"{folder}/int_general_ledger.sql", "properties_path": f"{folder}/_int_ledger__models.yml",
        "config": {"materialized": "table"}, "description": "Every journal line of every transaction type.",
        "dependencies": list(dict.fromkeys(staged[t] for t in ("invoices", "invoice_lines", "payments",
                                                                "journal_lines"))),
        "spec": {"kind": "union", "inputs": inputs, "source_column": "source_model", "columns": columns,
                 "grain": ["source_model", "line_id"]},
        "tests": [
            {"name": "unique_combination_of_columns", "columns": ["source_model", "line_id"]},
            {"name": "expression_is_true", "expression": "amount >= 0 and direction in (1, -1)"},
        ],
    }  # fmt: skip
    monthly = {
        "step_id": 0, "type": "create_intermediate", "name": "int_general_ledger_by_month",
        "file_path": f"{folder}/int_general_ledger_by_month.sql",
        "properties_path": f"{folder}/_int_ledger__models.yml", "description": "The ledger by month and account.",
        "dependencies": ["int_general_ledger"],
        "spec": {"kind": "aggregate", "from_model": "int_general_ledger", "group_by": ["entry_month", "account"],
                 "columns": [
                     {"name": "entry_month", "expression": "entry_month", "description": "The month."},
                     {"name": "account", "expression": "account", "description": "The account."},
                     {"name": "net_amount", "expression": "sum(signed_amount)", "description": "Debits - credits."},
                     {"name": "debits", "expression": "sum(case when side = 'debit' then amount else 0 end)",
                      "description": "The debits."},
                     {"name": "line_count", "expression": "count(*)", "description": "The journal lines."}]},
        "tests": [{"name": "unique_combination_of_columns", "columns": ["entry_month", "account"]}],
    }  # fmt: skip
    mart_folder = folder.replace("intermediate", "marts")
    mart = {
        "step_id": 0, "type": "create_mart", "name": "fct_account_months",
        "file_path": f"{mart_folder}/fct_account_months.sql", "properties_path": f"{mart_folder}/_ledger__models.yml",
        "description": "Each account's movements by month: the P&L and balance sheet's rows.",
        "dependencies": ["int_general_ledger_by_month"],
        "spec": {"kind": "mart", "role": "fact", "base_model": "int_general_ledger_by_month", "base_alias": "months",
                 "grain": ["entry_month", "account"],
                 "columns": [{"name": n, "expression": f"months.{n}", "description": f"The {n}."}
                             for n in ("entry_month", "account", "net_amount", "debits", "line_count")]},
    }  # fmt: skip
    steps = len(plan["actions"])
    for offset, action in enumerate((union, monthly, mart), start=1):
        action["step_id"] = steps + offset
    return {**plan, "actions": [*plan["actions"], union, monthly, mart]}
