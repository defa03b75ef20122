"""Issue 15's injection payloads put into a plan's JSON, for the tests that apply them on a real warehouse.

Each payload closes a quote, ends the statement, creates a marker table and reopens what it closed, so that the
whole text dbt sends still parses. The tests then assert that the marker table does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Plan = dict[str, Any]


def marker_statements(table: str) -> str:
    """The statements a payload smuggles in: end dbt's transaction, create `table`, commit."""
    return f"commit; create table {table} (i int); commit;"


def edited(plan: Plan, edit: Callable[[Plan], None]) -> Plan:
    """A copy of `plan` with `edit` applied to it."""
    copy: Plan = json.loads(json.dumps(plan))
    edit(copy)
    return copy


def source_spec(plan: Plan) -> dict[str, Any]:
    """The spec of the plan's first source."""
    return next(a for a in plan["actions"] if a["type"] == "create_source")["spec"]


def staging_action(plan: Plan) -> dict[str, Any]:
    """The plan's first staging model."""
    return next(a for a in plan["actions"] if a["type"] == "create_staging")


def staging_column(plan: Plan, column: str) -> dict[str, Any]:
    """A column of the plan's first staging model."""
    return next(c for c in staging_action(plan)["spec"]["columns"] if c["name"] == column)


def add_model(plan: Plan, folder: str, name: str, spec: dict[str, Any]) -> None:
    """Add a model over the plan's first staging model (a rules plan of one table has no other model)."""
    plan["actions"].append(
        {
            "step_id": len(plan["actions"]) + 1,
            "type": "create_intermediate" if folder == "intermediate" else "create_mart",
            "name": name,
            "file_path": f"models/{folder}/{name}.sql",
            "description": "Users, summed up.",
            "dependencies": [staging_action(plan)["name"]],
            "spec": spec,
        }
    )


def accept_values(plan: Plan, column: str, *values: str) -> None:
    """Give a staging column an `accepted_values` test of `values` (a payload among them)."""
    staging_column(plan, column)["tests"] = [{"name": "accepted_values", "values": list(values)}]


# Text that Markdown, GitHub or Mermaid would read as something (a table cell's end, a code span's end, a fence,
# a link, HTML, a heading, a mention, an edge, a node, a directive), for the review page's tests: a run's page
# holds names, descriptions and reasons from the warehouse, a plan file or an LLM.
MARKDOWN_PAYLOADS = [
    "a | b | c",
    "back\\|slash pipe",
    "`one` ``two`` ```",
    "```\nfenced",
    "[click](https://evil.test) ![img](x.png)",
    "x] (javascript:alert(1)) [y",
    "<img src=x onerror=alert(1)>",
    "<!-- hide the rest",
    "# heading\n## injected section",
    "**bold** _em_ ~~gone~~",
    "@octocat fixes #1",
    "&lt;b&gt; &amp;",
    'x"] --> evil["owned"]',
    "a --> b; click a call alert()",
    "%%{init: {'theme': 'dark'}}%%",
    "end",
    " `padded` ",
    "view') }}{{ run_query('drop schema raw cascade') }}",
]


def shop_union_action() -> dict[str, Any]:
    """A union of the shop's customers (sign-ups) and orders into one activity model, as a plan file holds it."""
    columns = {
        "source_model": "text", "entity_id": "bigint", "happened_at": "timestamp", "customer_id": "bigint",
        "detail": "text", "amount": "numeric(12,2)", "is_order": "boolean",
    }  # fmt: skip
    return {
        "step_id": 99, "type": "create_intermediate", "name": "int_shop_activity",
        "file_path": "models/intermediate/int_shop_activity.sql",
        "properties_path": "models/intermediate/_intermediate__models.yml",
        "description": "Sign-ups and orders, one row each.",
        "dependencies": ["stg_shop__customers", "stg_shop__orders"],
        "spec": {
            "kind": "union", "source_column": "source_model", "grain": ["source_model", "entity_id"],
            "columns": [{"name": n, "data_type": t, "description": f"The {n}."} for n, t in columns.items()],
            "inputs": [
                {"model": "stg_shop__customers", "label": "signup", "columns": {
                    "entity_id": "customer_id", "happened_at": "created_at", "customer_id": "customer_id",
                    "detail": "email", "amount": "null", "is_order": "false"}},
                {"model": "stg_shop__orders", "label": "order", "columns": {
                    "entity_id": "order_id", "happened_at": "ordered_at", "customer_id": "customer_id",
                    "detail": "upper(status)", "amount": "0", "is_order": "true"}},
            ],
        },
        "tests": [{"name": "unique_combination_of_columns", "columns": ["source_model", "entity_id"]}],
    }  # fmt: skip


def add_self_union(plan: Plan, model: str, key: str, text_type: str, label: str, detail: str) -> None:
    """Append to `plan` a valid union of the staging model `model` with itself (`key` its key column), the first
    input labelled `label` with `detail` as its `detail` column: a payload in either is all that can be wrong."""
    columns = {"source_model": text_type, key: "bigint", "detail": text_type}
    name = f"int_{model.removeprefix('stg_').split('__')[-1]}_twice"
    plan["actions"].append(
        {"step_id": 99, "type": "create_intermediate", "name": name,
         "file_path": f"models/intermediate/{name}.sql",
         "properties_path": "models/intermediate/_intermediate__models.yml", "description": "d",
         "dependencies": [model],
         "spec": {"kind": "union", "grain": ["source_model", key],
                  "columns": [{"name": n, "data_type": t, "description": n} for n, t in columns.items()],
                  "inputs": [{"model": model, "label": label, "columns": {key: key, "detail": detail}},
                             {"model": model, "label": "second", "columns": {key: key, "detail": key}}]},
         "tests": [{"name": "unique_combination_of_columns", "columns": ["source_model", key]}]}
    )  # fmt: skip


def incremental_fact(plan: Plan, name: str, lookback_days: int, table: str = "events") -> dict[str, Any]:
    """A fact over the staging model of raw `table`, incremental on its loader timestamp."""
    staging = next(
        a for a in plan["actions"] if a["type"] == "create_staging" and a["spec"]["table"] == table
    )
    columns = staging["spec"]["columns"]
    key = next(c["name"] for c in columns if c.get("source_column") == "id")
    # The loader timestamp; a table without one grows by its key.
    synced = next((c for c in columns if c.get("source_column") == "_fivetran_synced"), {"name": key})
    return {
        "step_id": len(plan["actions"]) + 1,
        "type": "create_mart",
        "name": name,
        "file_path": f"models/marts/{name}.sql",
        "properties_path": "models/marts/_incremental__models.yml",
        "config": {
            "materialized": "incremental",
            "unique_key": [key],
            "incremental": {"column": "synced_at", "lookback_days": lookback_days},
        },
        "description": "Events, built incrementally.",
        "dependencies": [staging["name"]],
        "spec": {
            "kind": "mart",
            "role": "fact",
            "base_model": staging["name"],
            "base_alias": "events",
            "grain": [key],
            "columns": [
                {"name": key, "expression": f"events.{key}", "description": "The event.",
                 "tests": [{"name": "unique"}, {"name": "not_null"}]},
                {"name": "amount", "expression": "events.amount", "description": "The amount."},
                {"name": "synced_at", "expression": f"events.{synced['name']}", "data_type": "timestamp",
                 "description": "When the loader wrote the row."},
            ],
        },
    }  # fmt: skip
