"""Write generated SQL in the host project's style: commas, keyword case and indentation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cartridge_bridge.planning.plan import ColumnSpec, RenderSettings
from cartridge_bridge.render.guards import checked_cast_type, checked_expression, checked_name
from cartridge_bridge.sql.identifiers import quote

# The keywords and functions the templates write; nothing else is re-cased.
_KEYWORDS = (
    "with|as|select|from|where|group|by|left|inner|full|join|on|cast|coalesce|count|sum|min|max|is|not|null|"
    "and|over|partition|order|desc|row_number"
)
_KEYWORDS += "|union|all"  # a union's
_KEYWORD = re.compile(rf"\b({_KEYWORDS})\b")
# Spans that must keep their case: dbt Jinja, quoted identifiers and string literals.
_PROTECTED = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*'|`[^`]*`", re.S)
_TEMPLATE_INDENT = 4


@dataclass(frozen=True)
class SqlStyle:
    """The SQL habits a rendered model follows."""

    import_ctes: bool = True
    leading_commas: bool = False
    keyword_case: str = "lower"
    indent: int = 4
    adapter_type: str = "postgres"  # how warehouse names are quoted and fragments parsed

    @classmethod
    def of(cls, settings: RenderSettings, adapter_type: str = "postgres") -> SqlStyle:
        """The style a plan's render settings ask for, on this adapter."""
        return cls(
            import_ctes=settings.sql_import_ctes,
            leading_commas=settings.sql_leading_commas,
            keyword_case=settings.sql_keyword_case,
            indent=settings.sql_indent,
            adapter_type=adapter_type,
        )


def column_expression(column: ColumnSpec, style: SqlStyle) -> str:
    """The SQL a column is computed by: its raw column quoted (and cast), or its checked expression."""
    if column.source_column is not None:
        raw = quote(column.source_column, style.adapter_type)
        if column.cast_to is None:
            return raw
        return f"cast({raw} as {checked_cast_type(column.cast_to, style.adapter_type)})"
    if column.aggregate is not None:
        # Each part on its own first: the condition computes no window, the column is a plain name.
        checked_expression(column.aggregate.where, style.adapter_type)
        if column.aggregate.column is not None:
            checked_name(column.aggregate.column, style.adapter_type)
        return checked_expression(column.aggregate.sql(), style.adapter_type)
    # A window function passes here; the plan checks keep it to a mart's or aggregate's columns.
    return checked_expression(column.expression or "", style.adapter_type, windows=True)


def select_item(column: ColumnSpec, style: SqlStyle) -> str:
    """`expression as name`, or the bare expression when it already yields that name."""
    expression = column_expression(column, style)
    checked_name(column.name, style.adapter_type)
    if expression == column.name or expression.endswith(f".{column.name}"):
        return expression
    return f"{expression} as {column.name}"


def select_list(
    columns: list[ColumnSpec], depth: int, style: SqlStyle, every_column_of: str | None = None
) -> str:
    """The select items, one per line at `depth` template indents, with trailing or leading commas; first
    `<alias>.*` when `every_column_of` names an alias (an input's rows widened by joined columns)."""
    star = [f"{checked_name(every_column_of, style.adapter_type)}.*"] if every_column_of else []
    return _one_per_line(star + [select_item(c, style) for c in columns], depth, style)


def name_list(names: list[str], depth: int, style: SqlStyle) -> str:
    """Bare column names, one per line, as `select_list` lays them out."""
    return _one_per_line([checked_name(n, style.adapter_type) for n in names], depth, style)


def _one_per_line(items: list[str], depth: int, style: SqlStyle) -> str:
    pad = " " * (_TEMPLATE_INDENT * depth)
    if style.leading_commas:
        return "\n".join(f"{pad}{item}" if i == 0 else f"{pad}, {item}" for i, item in enumerate(items))
    return ",\n".join(f"{pad}{item}" for item in items)


def restyle(sql: str, style: SqlStyle) -> str:
    """Template SQL (4-space indents, lower-case keywords) in the project's indentation and keyword case."""
    if style.indent != _TEMPLATE_INDENT:
        sql = re.sub(
            r"^( +)",
            lambda m: (
                " "
                * (len(m.group(1)) // _TEMPLATE_INDENT * style.indent + len(m.group(1)) % _TEMPLATE_INDENT)
            ),
            sql,
            flags=re.M,
        )
    if style.keyword_case == "upper":
        parts, last = [], 0
        for protected in _PROTECTED.finditer(sql):
            parts.append(_KEYWORD.sub(lambda m: m.group(1).upper(), sql[last : protected.start()]))
            parts.append(protected.group(0))
            last = protected.end()
        parts.append(_KEYWORD.sub(lambda m: m.group(1).upper(), sql[last:]))
        sql = "".join(parts)
    return sql
