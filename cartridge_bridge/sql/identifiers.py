"""What may reach a template: names from a strict grammar, warehouse names quoted, any Jinja neutralized.

dbt renders Jinja in model SQL *and* in YAML properties, so text that did not come from cartridge's
own templates (warehouse comments and names, plan files people edit, LLM answers) must never carry
a live `{{`, `{%` or `{#` into a file. Names that cartridge writes bare into SQL (models, columns,
aliases, CTEs) follow the grammar below; names that only the warehouse chose are quoted instead.
"""

from __future__ import annotations

import re

from cartridge_bridge.sql.naming import RESERVED_WORDS, needs_quoting

# The names cartridge writes unquoted: lower-case snake_case, usable bare on every adapter.
NAME = re.compile(r"[a-z_][a-z0-9_]*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# Folder and file names under the model paths: no separators, no dots at the start, nothing to quote.
PATH_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
JINJA_OPENERS = ("{{", "{%", "{#")
# A doc block name a description may reference: `{% docs %}` takes a plain identifier.
DOC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The longest identifier each warehouse accepts; others are taken to accept at least 127 characters.
_IDENTIFIER_LIMITS = {"postgres": 63, "redshift": 127, "duckdb": 255, "snowflake": 255, "bigquery": 300}
_DEFAULT_LIMIT = 127
# Adapters that quote identifiers with backticks; every other adapter dbt supports uses double quotes.
_BACKTICK_ADAPTERS = frozenset({"bigquery", "databricks", "spark", "clickhouse", "mysql"})
# Adapters whose string literals only escape a quote by doubling it (a backslash is an ordinary character).
_DOUBLING_LITERAL_ADAPTERS = frozenset({"postgres", "duckdb", "trino", "athena", "sqlserver", "fabric"})
# Adapters whose string literals read a backslash as an escape: Spark and Databricks even read `'a''b'` as two
# adjacent literals, so a quote is escaped with a backslash there, never doubled.
_BACKSLASH_LITERAL_ADAPTERS = frozenset(
    {"spark", "databricks", "bigquery", "snowflake", "redshift", "mysql", "clickhouse"}
)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# Adapters whose persist_docs writes a description between quotes escaping `'` as `\'` but not `\` itself, so a
# backslash before a quote (or at the end) would end the comment's literal early.
_BACKSLASH_COMMENT_ADAPTERS = frozenset({"spark", "databricks"})


def identifier_limit(adapter_type: str) -> int:
    """The longest relation or column name the adapter's warehouse accepts."""
    return _IDENTIFIER_LIMITS.get(adapter_type, _DEFAULT_LIMIT)


def name_problem(name: object, adapter_type: str, *, reserved_ok: bool = False) -> str | None:
    """Why `name` cannot be written bare into generated SQL, or None when it can."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return (
            f"{name!r} is not a lower-case snake_case name (letters, digits and _, not starting with a digit)"
        )
    if len(name) > identifier_limit(adapter_type):
        return f"{name!r} is {len(name)} characters; {adapter_type} allows {identifier_limit(adapter_type)}"
    if not reserved_ok and name in RESERVED_WORDS:
        return f"{name!r} is a reserved SQL word"
    return None


def has_jinja(text: str) -> bool:
    """True when dbt would read part of `text` as Jinja."""
    return any(opener in text for opener in JINJA_OPENERS)


def jinja_literal(text: str) -> str:
    """A Jinja expression that renders exactly `text`: `{{ '...' }}`, every quote and backslash escaped."""
    escaped = []
    for char in text:
        if char in "\\'":
            escaped.append("\\" + char)
        elif char == "\n":
            escaped.append("\\n")
        elif char == "\r":
            escaped.append("\\r")
        elif char == "\t":
            escaped.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\x{ord(char):02x}")
        else:
            escaped.append(char)
    return "{{ '" + "".join(escaped) + "' }}"


def neutralize(text: str) -> str:
    """`text` as it may appear in a file dbt renders: unchanged unless it holds Jinja, then a literal of itself."""
    return jinja_literal(text) if has_jinja(text) else text


def description_text(text: str, adapter_type: str) -> str:
    """A description as written into YAML: Jinja neutralized, and escaped for the adapter's persisted comments."""
    if adapter_type in _BACKSLASH_COMMENT_ADAPTERS:
        # Doubled, each reads back as itself, and each `\'` dbt makes of a quote stays an escaped quote.
        text = text.replace("\\", "\\\\")
    return neutralize(text)


def quote(identifier: str, adapter_type: str) -> str:
    """A warehouse name as written in SQL for this adapter: bare when plain, quoted otherwise, never live Jinja."""
    if not needs_quoting(identifier):
        return identifier
    if adapter_type == "bigquery":  # BigQuery escapes inside backticks with a backslash
        quoted = "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"
    elif adapter_type in _BACKTICK_ADAPTERS:
        quoted = "`" + identifier.replace("`", "``") + "`"
    else:
        quoted = '"' + identifier.replace('"', '""') + '"'
    return neutralize(quoted)


def quote_mark(adapter_type: str) -> str:
    """The character the adapter (and dbt's `quote()` for it) wraps a quoted identifier in."""
    return "`" if adapter_type in _BACKTICK_ADAPTERS else '"'


def dbt_quoting_problem(name: str, adapter_type: str) -> str | None:
    """Why dbt cannot write `name` into SQL safely, or None: dbt wraps a name in quotes and escapes nothing inside."""
    mark = quote_mark(adapter_type)
    if mark in name:
        return f"{name!r} holds {mark}, which dbt does not escape when it quotes a name"
    if adapter_type == "bigquery" and "\\" in name:
        return f"{name!r} holds a backslash, which dbt does not escape when it quotes a name"
    if CONTROL_CHARACTERS.search(name):
        return f"{name!r} holds a control character, which dbt cannot quote in a name"
    return None


def string_literal_body(value: str, adapter_type: str) -> str | None:
    """`value` escaped to sit between the `'` dbt writes around it, or None when the adapter's escaping is unknown."""
    if adapter_type in _BACKSLASH_LITERAL_ADAPTERS:
        return value.replace("\\", "\\\\").replace("'", "\\'")
    if adapter_type in _DOUBLING_LITERAL_ADAPTERS:
        return value.replace("'", "''")
    return None if "'" in value or "\\" in value else value
