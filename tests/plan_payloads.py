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
