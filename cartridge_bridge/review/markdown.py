"""Outside text (warehouse names, plan files, LLM answers) made inert for a Markdown page and a Mermaid chart.

Every outside value on a review page is a code span: Markdown reads nothing in one (no emphasis, link, image,
HTML, entity, autolink or @mention), so only what ends a span, a line or a table cell is left to escape.
"""

from __future__ import annotations

import re

from cartridge_bridge.errors import shown

_BACKTICKS = re.compile(r"`+")


def code(text: str) -> str:
    """`text` as one Markdown code span on one line: read as itself, whatever it holds.

    Control characters and line breaks are escaped (`\\n`); the span's fence is one backtick longer than the
    longest run of backticks inside, padded with a space where the text starts or ends with a backtick or a
    space (CommonMark strips one of each).
    """
    safe = shown(text, limit=None)
    if not safe.strip(" "):  # a span of spaces only would be read as nothing at all
        return f"(blank: {len(safe)} spaces)" if safe else "(empty)"
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(safe)), default=0) + 1)
    pad = " " if safe[0] in " `" or safe[-1] in " `" else ""
    return f"{fence}{pad}{safe}{pad}{fence}"


def codes(texts: list[str], empty: str = "none") -> str:
    """Several values as code spans joined by commas; `empty` (cartridge's own words) when there are none."""
    return ", ".join(code(text) for text in texts) if texts else empty


def cell(text: str) -> str:
    """A GitHub-flavoured table cell: a pipe, even inside a code span, would end the cell unless escaped."""
    return text.replace("|", "\\|")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines: the header, its delimiter row and one line per row, every cell escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]


# Mermaid reads `#<decimal>;` as the character of that code point inside a quoted label. These would end the
# label (`"`), start an entity (`#`), HTML (`<`, `>`, `&`), a Markdown string (`` ` ``) or a comment (`%`).
_MERMAID_ESCAPED = re.compile('["#<>&`%]')


def mermaid_label(text: str) -> str:
    """`text` for a quoted Mermaid node label: on one line, nothing in it read as Mermaid, HTML or Markdown."""
    return _MERMAID_ESCAPED.sub(lambda found: f"#{ord(found.group())};", shown(text, limit=None))
