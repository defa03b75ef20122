"""Write generated SQL in the host project's style: commas, keyword case and indentation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cartridge_bridge.planning.plan import ColumnSpec, RenderSettings

# The keywords and functions the templates write; nothing else is re-cased.
_KEYWORDS = "with|as|select|from|where|group|by|left|join|on|cast|coalesce|count|sum|min|max|is|not|null|and"
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

    @classmethod
    def of(cls, settings: RenderSettings) -> SqlStyle:
        """The style a plan's render settings ask for."""
        return cls(
            import_ctes=settings.sql_import_ctes,
            leading_commas=settings.sql_leading_commas,
            keyword_case=settings.sql_keyword_case,
            indent=settings.sql_indent,
        )


def select_item(column: ColumnSpec) -> str:
    """`expression as name`, or the bare expression when it already yields that name."""
    expression = column.expression
    if expression == column.name or expression.endswith(f".{column.name}"):
        return expression
    return f"{expression} as {column.name}"


def select_list(columns: list[ColumnSpec], depth: int, style: SqlStyle) -> str:
    """The select items, one per line at `depth` template indents, with trailing or leading commas."""
    pad = " " * (_TEMPLATE_INDENT * depth)
    items = [select_item(c) for c in columns]
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
