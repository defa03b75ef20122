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
