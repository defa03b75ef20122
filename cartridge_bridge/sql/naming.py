"""Turn warehouse identifiers into the snake_case names and entities that dbt models use."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
# Loaders' bookkeeping columns keep a leading underscore (`_fivetran_synced`); staging may drop it.
_LOADER_PREFIXES = ("fivetran_", "airbyte_", "stitch_", "sdc_", "dlt_", "meltano_", "hevo_", "dbt_")

# Words that break an unquoted identifier on at least one common warehouse; quoting them is harmless.
RESERVED_WORDS = frozenset(
    (
        "all and any array as asc authorization between both by case cast check collate column constraint "
        "create cross current_date current_time current_timestamp current_user default deferrable desc "
        "distinct do else end except false fetch for foreign from full grant group having in initially "
        "inner intersect into is join lateral leading left like limit localtime localtimestamp natural not "
        "null offset on only or order outer over partition primary qualify references right rows select "
        "session_user some symmetric table then to trailing true union unique user using variadic when "
        "where window with "
        # Not reserved everywhere, but keywords sqlglot (which checks every fragment) will not read as a bare
        # column in one of the dialects cartridge writes: quoted, they stay a name on every warehouse.
        "alter current_catalog current_datetime current_schema drop force glob ilike insert install map "
        "match_recognize minus notnull partitioned_by positional regexp returning revoke rlike rollback sample "
        "serdeproperties summarize tablesample top uncache undrop values xor"
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


def without_prefix(identifier: str, prefix: str) -> str:
    """`raw_orders` (or `RAW_ORDERS`) without the snake_case prefix `raw_`; other identifiers as they are."""
    short = identifier[len(prefix) :]
    if prefix and short and snake_case(identifier[: len(prefix)]) + "_" == prefix:
        return short
    return identifier


def unprefixed(identifiers: list[str], schema_identifiers: list[str], prefix: str) -> dict[str, str]:
    """identifier → the same without the prefix the project's staging drops, where one is dropped.

    A table whose shortened name another table of the schema already has keeps its name.
    """
    if not prefix:
        return {}
    taken = {i.lower() for i in schema_identifiers}
    renames: dict[str, str] = {}
    for identifier in identifiers:
        short = without_prefix(identifier, prefix)
        if short != identifier and short.lower() not in taken:
            renames[identifier] = short
            taken.add(short.lower())
    return renames


def needs_quoting(identifier: str) -> bool:
    """True when the identifier is not a plain lower-case word usable unquoted everywhere."""
    return _PLAIN_IDENTIFIER.fullmatch(identifier) is None or identifier in RESERVED_WORDS


# Words that already are singular although they end like plurals, and plurals used as mass nouns.
_KEEP_AS_IS = ("us", "ss", "is")
_MASS_NOUNS = frozenset(
    {"data", "metadata", "media", "news", "series", "species", "equipment", "information"}
)


@lru_cache(maxsize=4096)
def singular(noun: str) -> str:
    """The singular of a snake_case table name, inflecting its last word (`order_items` → `order_item`)."""
    import inflection  # Rails' inflector rules: fast to import, unlike `inflect`

    head, underscore, last = noun.rpartition("_")
    single = last if last in _MASS_NOUNS or last.endswith(_KEEP_AS_IS) else inflection.singularize(last)
    return f"{head}{underscore}{single}"  # `_1st` keeps the underscore that makes it a name


def plural(noun: str) -> str:
    """`order_line` → `order_lines`, `category` → `categories`; a plural (`orders`) stays as it is."""
    import inflection

    head, underscore, last = noun.rpartition("_")
    # `address`, `status`, `analysis` are singular (singular() keeps them): they take a plural like any noun.
    if singular(noun) != noun or last in _MASS_NOUNS:
        return noun
    many = inflection.pluralize(last)
    return f"{head}{underscore}{many}"


def dedupe(names: list[str]) -> list[str]:
    """Suffix repeated names with `_2`, `_3`… so every name is unique, never taking a name already in the list."""
    reserved = set(names)
    taken: set[str] = set()
    unique: list[str] = []
    for name in names:
        candidate, number = name, 1
        while candidate in taken or (candidate != name and candidate in reserved):
            number += 1
            candidate = f"{name}_{number}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


def pick_names(candidates: list[list[str]], taken: set[str], limit: int) -> list[str]:
    """One name per item, distinct from `taken` and from each other, each within `limit` characters.

    An item takes its first candidate that is free and is not another item's first choice, else its first
    candidate numbered `_2`, `_3`…; every chosen name is added to `taken`.
    """
    firsts = {fit_name(options[0], limit) for options in candidates}
    chosen: list[str] = []
    for options in candidates:
        fitted = [fit_name(o, limit) for o in options]
        free = [n for i, n in enumerate(fitted) if n not in taken and (i == 0 or n not in firsts)]
        name, number = (free[0] if free else None), 1
        while name is None:
            number += 1
            numbered = fit_name(f"{options[0]}_{number}", limit)
            if numbered not in taken and numbered not in firsts:
                name = numbered
        taken.add(name)
        chosen.append(name)
    return chosen


# CTE names the templates use themselves; a table-derived CTE must not take one of them.
TEMPLATE_CTES = frozenset({"source", "renamed", "final", "aggregated", "joined"})


def cte_name(name: str) -> str:
    """A CTE name for a table or model that stays plain SQL: `order` → `order_rows`."""
    return f"{name}_rows" if needs_quoting(name) or name in TEMPLATE_CTES else name


def fit_name(name: str, limit: int) -> str:
    """`name` within `limit` characters: cut, with a short hash of the whole name so cut names stay distinct."""
    if len(name) <= limit:
        return name
    import hashlib  # only for names past the warehouse's limit, which are rare

    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1].rstrip('_')}_{digest}"


def is_loader_name(name: str) -> bool:
    """A loader's bookkeeping column by its name (`_fivetran_synced`, `_sdc_batched_at`, `fivetran_synced`)."""
    return name.startswith("_") or name.startswith(_LOADER_PREFIXES)
