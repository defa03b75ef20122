"""SQL fragments a spec carries (column expressions, filters, casts), parsed with sqlglot in the target dialect.

A fragment must be exactly one scalar expression: no statement, no subquery, no alias of its own, no
comment, no `;`, no Jinja, no function that reads files, other databases or server settings. The
checks work on characters first (so that a disagreement between sqlglot's tokenizer and the
warehouse's cannot hide anything), then on the parsed tree.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from cartridge_bridge.context.naming import RESERVED_WORDS
from cartridge_bridge.planning.identifiers import CONTROL_CHARACTERS, JINJA_OPENERS, string_literal_body

# sqlglot logs "falling back to parsing as a 'Command'" for a fragment it cannot read; the problem it leads to
# names the fragment already, and the log line would land in the user's terminal without a handler.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

SQLGLOT_DIALECTS = {
    "postgres": "postgres", "duckdb": "duckdb", "snowflake": "snowflake", "bigquery": "bigquery",
    "redshift": "redshift", "databricks": "databricks", "spark": "spark", "trino": "trino",
}  # fmt: skip
# Text that ends or comments out a statement, quotes in ways tokenizers disagree on, or opens Jinja.
_FORBIDDEN_TEXT = (";", "--", "/*", "*/", "\\", "$", *JINJA_OPENERS)
# Anything that is not a scalar expression would change what the model does.
_FORBIDDEN_NODES = tuple(
    getattr(exp, name)
    for name in (
        "Query", "Subquery", "DDL", "DML", "Command", "Alias", "Create", "Drop", "Alter", "Insert", "Update",
        "Delete", "Merge", "TruncateTable", "Grant", "Revoke", "Copy", "Use", "Set", "Transaction", "Commit",
        "Rollback", "Pragma", "Table", "From", "Join", "Lateral", "Into", "Placeholder", "Parameter",
    )
    if hasattr(exp, name)  # the class list moves between sqlglot releases
)  # fmt: skip
# Functions that reach outside the model's inputs: files, other databases, settings, sleeping, the OS; on
# Spark, any static Java method (reflect, java_method) and the paths of the files a row came from.
_FORBIDDEN_FUNCTION = re.compile(
    r"^(pg_|lo_|dblink|query_to_|table_to_|database_to_|schema_to_|cursor_to_|set_config|current_setting|"
    r"read_|glob$|getenv|sleep|system|load_|install_|http|copy|txid_|xml|inet_|version$|current_user|"
    r"session_user|user$|has_.*_privilege|nextval|setval|currval|to_regclass|sniff_|parquet_|json_execute|"
    r"reflect$|try_reflect$|java_method$|input_file_)",
    re.IGNORECASE,
)
# The window functions a mart's or aggregate's column may compute (issue 18): running and moving aggregates,
# the previous and next value, positions and the first and last value of a partition. Each reads the same on
# PostgreSQL, DuckDB, Spark and the other warehouses; anything else with `over` is refused.
_WINDOW_FUNCTIONS = tuple(
    getattr(exp, name)
    for name in (
        "Sum", "Count", "Min", "Max", "Avg", "Lag", "Lead", "RowNumber", "Rank", "DenseRank", "FirstValue",
        "LastValue",
    )
)  # fmt: skip
# What a window may say besides its function: a partition, an order and a frame. A named window (`over w`),
# `ignore nulls`, `filter`, `within group` and `exclude` are left out: not every warehouse reads them.
_WINDOW_PARTS = frozenset({"this", "partition_by", "order", "spec", "over"})
_FRAME_PARTS = frozenset({"kind", "start", "start_side", "end", "end_side"})
_FRAME_BOUNDS = frozenset({"UNBOUNDED", "CURRENT ROW"})
_PLAIN_REFERENCE = re.compile(r"([a-z_][a-z0-9_]*)(?:\.([a-z_][a-z0-9_]*))?")
_CAST_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+(\s*,\s*\d+)?\s*\))?[A-Za-z ]*(\[\])*")


@dataclass(frozen=True)
class ColumnReference:
    """A column a fragment reads: its name as the warehouse resolves it, and the alias it is qualified by."""

    name: str
    table: str | None
    quoted: bool


def _text_problem(text: object) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return "is empty"
    found = next((bad for bad in _FORBIDDEN_TEXT if bad in text), None)
    if found is not None:
        what = "Jinja" if found in JINJA_OPENERS else repr(found)
        return f"{text!r} must not contain {what}"
    if CONTROL_CHARACTERS.search(text):
        return f"{text!r} must be on one line, without control characters"
    return None


def _frame_problem(frame: exp.Expr) -> str | None:
    """Why a window's frame is not `rows|range between <bound> and <bound>` with plain bounds, or None."""
    extra = sorted(k for k, v in frame.args.items() if v is not None and k not in _FRAME_PARTS)
    if extra:
        return f"its frame says {extra[0]}, which not every warehouse reads"
    if str(frame.args.get("kind") or "").upper() not in ("ROWS", "RANGE"):
        return "its frame is neither rows nor range"
    for bound in (frame.args.get("start"), frame.args.get("end")):
        plain = isinstance(bound, str) and bound.upper() in _FRAME_BOUNDS
        count = isinstance(bound, exp.Literal) and not bound.is_string and bound.this.isdigit()
        if bound is not None and not plain and not count:
            return "a frame bound is not unbounded, current row or a whole number of rows"
    for side in (frame.args.get("start_side"), frame.args.get("end_side")):
        if side is not None and str(side).upper() not in ("PRECEDING", "FOLLOWING"):
            return "a frame bound is neither preceding nor following"
    return None


def window_problem(tree: exp.Expr) -> str | None:
    """Why a window function in `tree` is not one of the short list, with a partition, order and plain frame."""
    for window in tree.find_all(exp.Window):
        function = window.this
        name = function.sql_name().lower() if isinstance(function, exp.Func) else function.key
        if not isinstance(function, _WINDOW_FUNCTIONS):
            return f"uses {name}() as a window function; only sum, count, min, max, avg, lag, lead, " + (
                "row_number, rank, dense_rank, first_value and last_value may take `over`"
            )
        if window.args.get("alias") is not None:
            return "names its window; write the partition and order inside `over (…)`"
        extra = sorted(k for k, v in window.args.items() if v not in (None, []) and k not in _WINDOW_PARTS)
        if extra or str(window.args.get("over") or "").upper() != "OVER":
            return f"its {name}() window says more than partition by, order by and a frame"
        if function.find(exp.Distinct) is not None:
            return f"counts distinct values over a window, which {name}() does not do on every warehouse"
        if any(inner is not window for inner in window.find_all(exp.Window)):
            return "nests a window function inside another"
        frame = window.args.get("spec")
        if frame is not None and (problem := _frame_problem(frame)):
            return problem
    return None


@lru_cache(maxsize=65536)
def parse_expression(
    text: str, adapter_type: str, *, windows: bool = False
) -> tuple[exp.Expr | None, str | None]:
    """The parsed expression, or None and why `text` is not one safe SQL expression for this adapter.

    `windows`: a mart's or aggregate's column may compute a window function from a short list; every other
    fragment (staging columns, filters, tests, semantic expressions) may not.
    Cached: plans repeat the same fragments, and checks run again at render time. Callers only read the tree.
    """
    problem = _text_problem(text)
    if problem:
        return None, problem
    plain = _PLAIN_REFERENCE.fullmatch(text)
    if plain and not RESERVED_WORDS & {plain.group(1), plain.group(2)}:
        # Most mart columns are `alias.column`: no need for the parser to say so.
        table, name = (plain.group(1), plain.group(2)) if plain.group(2) else (None, plain.group(1))
        return exp.column(name, table=table), None
    dialect = SQLGLOT_DIALECTS.get(adapter_type)
    try:
        parsed = sqlglot.parse(text, read=dialect)
    except TokenError as error:
        return None, f"{text!r} does not parse ({error})"
    except ParseError as error:
        return None, f"{text!r} does not parse ({error.errors[0]['description']})"
    if len(parsed) != 1 or parsed[0] is None:
        return None, f"{text!r} must be exactly one SQL expression"
    tree = parsed[0]
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            if isinstance(node, exp.Command) and node is tree:
                # `comment.user_id = …`: the parser took the alias for the COMMENT statement's keyword.
                word = str(node.this).split()[0] if str(node.this).strip() else ""
                return None, (
                    f"{text!r} reads as a {word.upper()} statement: `{word.lower()}` is a SQL keyword, "
                    "so it cannot be an alias or a bare column name here; choose another alias"
                )
            return None, f"{text!r} must be a scalar expression, not a statement, subquery or alias"
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            return None, f"{text!r} must name its columns (only count(*) may use *)"
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if _FORBIDDEN_FUNCTION.match(name or ""):
                return None, f"{text!r} calls {name.lower()}(), which reaches outside the model's inputs"
    if tree.find(exp.Window) is not None:
        if not windows:
            return None, (
                f"{text!r} uses a window function (`over`), which only a mart's or aggregate's column may compute"
            )
        if problem := window_problem(tree):
            return None, f"{text!r} {problem}"
    return tree, None


# Functions that change a value before it is compared: `trim(kind) = 'percentage'` also counts `'percentage '`,
# a value the source wrote otherwise; a condition compares the values the data holds, as written.
_VALUE_CHANGING = (exp.Trim, exp.Lower, exp.Upper)


def changed_comparison(tree: exp.Expr) -> str | None:
    """The function (trim, lower, upper) a condition in `tree` wraps around a column it compares, or None."""
    for node in tree.find_all(*_VALUE_CHANGING):
        if node.find(exp.Column) is not None and node.find_ancestor(exp.Predicate) is not None:
            return node.sql_name().lower()
    return None


def expression_problem(text: str, adapter_type: str, *, windows: bool = False) -> str | None:
    """Why `text` is not one safe SQL expression (with window functions when `windows`), or None."""
    return parse_expression(text, adapter_type, windows=windows)[1]


def column_references(tree: exp.Expr) -> list[ColumnReference]:
    """Every column the expression reads (window and function arguments included)."""
    references = []
    for column in tree.find_all(exp.Column):
        identifier = column.this
        if not isinstance(identifier, exp.Identifier):
            continue  # `*` in count(*)
        references.append(
            ColumnReference(name=identifier.this, table=column.table or None, quoted=bool(identifier.quoted))
        )
    return references


def cast_type_problem(type_text: object, adapter_type: str) -> str | None:
    """Why `type_text` cannot follow `cast(... as`, or None."""
    problem = _text_problem(type_text)
    if problem:
        return problem
    assert isinstance(type_text, str)
    if not _CAST_TYPE.fullmatch(type_text.strip()):
        return f"{type_text!r} is not a plain SQL type (a name, an optional (precision, scale), [])"
    tree, problem = parse_expression(f"cast(x as {type_text})", adapter_type)
    if problem or not isinstance(tree, exp.Cast):
        return f"{type_text!r} is not a SQL type {adapter_type} reads"
    return None


def is_plain_cast_type(type_text: str, adapter_type: str) -> bool:
    """True when a warehouse type can be written in a cast."""
    return cast_type_problem(type_text, adapter_type) is None


def literal_problem(value: object, adapter_type: str) -> str | None:
    """Why `value` cannot be written as one SQL string literal for this adapter (as dbt's tests quote it), or None.

    The escaped literal is read back with sqlglot: it must be exactly the value, and nothing else.
    """
    if not isinstance(value, str):
        return f"{value!r} is not text"
    if "\x00" in value:
        return f"{value!r} contains a NUL character"
    body = string_literal_body(value, adapter_type)
    if body is None:
        return f"{value!r} holds a quote or a backslash, which cartridge cannot escape for {adapter_type}"
    dialect = SQLGLOT_DIALECTS.get(adapter_type)
    if dialect is None:
        return None  # escaped as the adapter's family escapes; no reader to confirm it with
    try:
        parsed = sqlglot.parse(f"select '{body}'", read=dialect)
    except (TokenError, ParseError):
        parsed = []
    projections = parsed[0].expressions if len(parsed) == 1 and isinstance(parsed[0], exp.Select) else []
    literal = projections[0] if len(projections) == 1 else None
    if not isinstance(literal, exp.Literal) or not literal.is_string or literal.this != value:
        return f"{value!r} does not stay one string literal in {adapter_type} SQL"
    return None
