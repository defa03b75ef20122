"""Validate an execution plan against the project before anything is written."""

from __future__ import annotations

import re
from graphlib import CycleError, TopologicalSorter
from pathlib import PurePosixPath

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import PlanError
from cartridge_bridge.planning.plan import ExecutionPlan, SourceSpec, output_columns

_MODEL_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_SQLGLOT_DIALECTS = {
    "postgres": "postgres", "duckdb": "duckdb", "snowflake": "snowflake", "bigquery": "bigquery",
    "redshift": "redshift", "databricks": "databricks", "spark": "spark", "trino": "trino",
}  # fmt: skip
# A column expression is rendered as `<expression> as <name>`: anything that is not a plain scalar
# expression (a query, a statement, an alias of its own) would change what the model does.
_FORBIDDEN = tuple(
    getattr(exp, name)
    for name in (
        "Query", "Subquery", "DDL", "DML", "Command", "Alias", "Create", "Drop", "Alter", "Insert", "Update",
        "Delete", "Merge", "TruncateTable", "Grant", "Revoke", "Copy", "Use", "Set", "Transaction", "Commit",
        "Rollback", "Pragma",
    )
    if hasattr(exp, name)  # the class list moves between sqlglot releases
)  # fmt: skip


def check_expression(expression: str, adapter_type: str, where: str) -> None:
    """Accept a single SQL expression (no statement, no Jinja); raise PlanError naming `where` otherwise."""
    if "{{" in expression or "{%" in expression or "{#" in expression:
        raise PlanError(f"{where}: SQL expression {expression!r} must not contain Jinja")
    dialect = _SQLGLOT_DIALECTS.get(adapter_type)
    try:
        tokens = sqlglot.tokenize(expression, read=dialect)
        if any(t.token_type == TokenType.SEMICOLON or t.comments for t in tokens):
            raise PlanError(f"{where}: SQL expression {expression!r} must not contain `;` or comments")
        parsed = sqlglot.parse(expression, read=dialect)
    except TokenError as error:
        raise PlanError(f"{where}: SQL expression {expression!r} does not parse ({error})") from None
    except ParseError as error:
        raise PlanError(
            f"{where}: SQL expression {expression!r} does not parse ({error.errors[0]['description']})"
        ) from None
    if len(parsed) != 1 or parsed[0] is None or any(node is None for node in parsed):
        raise PlanError(f"{where}: {expression!r} must be exactly one SQL expression")
    if any(isinstance(node, _FORBIDDEN) for node in parsed[0].walk()):
        raise PlanError(f"{where}: {expression!r} must be an expression, not a statement or subquery")


def validate_plan(plan: ExecutionPlan, context: ProjectContext) -> None:
    """Unique names, resolvable dependencies without cycles, safe paths and parseable SQL, or PlanError."""
    if plan.project_name != context.project_name:
        raise PlanError(f"the plan was made for project {plan.project_name!r}, not {context.project_name!r}")
    models = [a.name for a in plan.models()]
    duplicates = sorted({n for n in models if models.count(n) > 1})
    if duplicates:
        raise PlanError(f"the plan creates {duplicates[0]!r} twice")
    for name in models:
        if name in context.existing_models:
            raise PlanError(f"model {name!r} already exists in the project; choose another name or --select")
        if not _MODEL_NAME.fullmatch(name):
            raise PlanError(f"model name {name!r} is not a lower-case snake_case identifier")
    available = set(models) | set(context.existing_models) | set(context.existing_sources)
    for action in plan.actions:
        if isinstance(action.spec, SourceSpec):
            available |= {f"{action.spec.source_name}.{t.name}" for t in action.spec.tables}
    graph: dict[str, list[str]] = {}
    files: dict[str, str] = {}
    root = PurePosixPath(context.model_path)
    for action in plan.actions:
        for path in filter(None, (action.file_path, action.properties_path)):
            pure = PurePosixPath(path)
            if pure.is_absolute() or ".." in pure.parts or root not in pure.parents:
                raise PlanError(
                    f"{action.name}: path {path!r} is not inside the model path {context.model_path!r}"
                )
        expected = ".yml" if action.type == "create_source" else ".sql"
        if PurePosixPath(action.file_path).suffix != expected:
            raise PlanError(f"{action.name}: {action.file_path!r} should end in {expected}")
        if expected == ".sql" and PurePosixPath(action.file_path).stem != action.name:
            raise PlanError(
                f"{action.name}: dbt names a model after its file, so it must be {action.name}.sql"
            )
        if action.properties_path and PurePosixPath(action.properties_path).suffix != ".yml":
            raise PlanError(f"{action.name}: {action.properties_path!r} should end in .yml")
        if action.file_path in files and expected == ".sql":
            raise PlanError(f"{action.name} and {files[action.file_path]} both write {action.file_path!r}")
        files[action.file_path] = action.name
        for dependency in action.dependencies:
            if dependency not in available:
                raise PlanError(
                    f"{action.name} depends on {dependency!r}, which is neither planned nor in the project"
                )
        graph[action.name] = list(action.dependencies)
        if not isinstance(action.spec, SourceSpec):
            for column in output_columns(action.spec):
                check_expression(column.expression, plan.adapter_type, f"{action.name}.{column.name}")
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        raise PlanError(f"the plan's dependencies form a cycle: {' → '.join(error.args[1])}") from None
