"""Turn warehouse identifiers into the snake_case names and entities that dbt models use."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")

# Words that break an unquoted identifier on at least one common warehouse; quoting them is harmless.
RESERVED_WORDS = frozenset(
    (
        "all and any array as asc authorization between both by case cast check collate column constraint "
        "create cross current_date current_time current_timestamp current_user default deferrable desc "
        "distinct do else end except false fetch for foreign from full grant group having in initially "
        "inner intersect into is join lateral leading left like limit localtime localtimestamp natural not "
        "null offset on only or order outer over partition primary qualify references right rows select "
        "session_user some symmetric table then to trailing true union unique user using variadic when "
        "where window with"
    ).split()
)


def snake_case(identifier: str) -> str:
    """`createdAt`, `Order Date` or `ORDER-ID` as `created_at`, `order_date`, `order_id`."""
    ascii_only = unicodedata.normalize("NFKD", identifier).encode("ascii", "ignore").decode()
    words = _CAMEL_BOUNDARY.sub("_", ascii_only.strip())
    snake = _NON_WORD.sub("_", words).strip("_").lower()
    if not snake:
        return "column"
    if snake[0].isdigit():
        snake = f"_{snake}"
    return snake


def needs_quoting(identifier: str) -> bool:
    """True when the identifier is not a plain lower-case word usable unquoted everywhere."""
    return _PLAIN_IDENTIFIER.fullmatch(identifier) is None or identifier in RESERVED_WORDS


@lru_cache(maxsize=4096)
def singular(noun: str) -> str:
    """The singular of a snake_case table name, inflecting its last word (`order_items` → `order_item`)."""
    head, _, last = noun.rpartition("_")
    single = _inflect_engine().singular_noun(last) or last
    return f"{head}_{single}" if head else single


@lru_cache(maxsize=1)
def _inflect_engine() -> Any:
    # inflect builds its tables on first use (~0.1 s); only planning needs it.
    import inflect

    return inflect.engine()


def dedupe(names: list[str]) -> list[str]:
    """Suffix repeated names with `_2`, `_3`… so every name in the list is unique."""
    taken: set[str] = set()
    unique: list[str] = []
    for name in names:
        candidate, number = name, 1
        while candidate in taken:
            number += 1
            candidate = f"{name}_{number}"
        taken.add(candidate)
        unique.append(candidate)
    return unique
