"""The last line of defence: nothing reaches a template unless it passes the plan checks' grammar again.

The plan is validated before rendering; these guards make a renderer that is handed an unchecked plan
fail loudly instead of writing unchecked text into a file dbt will run.
"""

from __future__ import annotations

from cartridge_bridge.errors import PlanError
from cartridge_bridge.sql.identifiers import dbt_quoting_problem, name_problem, string_literal_body
from cartridge_bridge.sql.sql_fragments import cast_type_problem, expression_problem, literal_problem


def checked_name(name: str, adapter_type: str) -> str:
    """`name` when it may be written bare into SQL (reserved words included: callers quote those)."""
    problem = name_problem(name, adapter_type, reserved_ok=True)
    if problem:
        raise PlanError(f"refusing to render {problem}")
    return name


def checked_expression(text: str, adapter_type: str, *, windows: bool = False) -> str:
    """`text` when it is one safe SQL expression (computing allowed window functions when `windows`)."""
    problem = expression_problem(text, adapter_type, windows=windows)
    if problem:
        raise PlanError(f"refusing to render the SQL expression {problem}")
    return text


def checked_cast_type(type_text: str, adapter_type: str) -> str:
    """`type_text` when it is a plain SQL type."""
    problem = cast_type_problem(type_text, adapter_type)
    if problem:
        raise PlanError(f"refusing to render the cast type {problem}")
    return type_text


def checked_warehouse_name(name: str, adapter_type: str) -> str:
    """`name` when dbt can quote it safely (a source's database, schema or identifier)."""
    problem = dbt_quoting_problem(name, adapter_type)
    if problem:
        raise PlanError(f"refusing to render {problem}")
    return name


def checked_literal_body(value: str, adapter_type: str) -> str:
    """`value` escaped for the `'...'` dbt writes around a test's value, when it stays one literal."""
    problem = literal_problem(value, adapter_type)
    body = string_literal_body(value, adapter_type)
    if problem or body is None:
        raise PlanError(f"refusing to render the value {problem}")
    return body
