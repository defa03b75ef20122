"""The values of the columns that can be categories (a status, a type, a currency), read after the profile.

The profile counts every column's distinct values but reads none (`top_values_limit: 0`): reading the values
of every text column would copy free text (names, notes) into the facts for nothing. The rules planner needs
the values of only a few columns: which states mean success before an amount is summed, which debit and
credit values sign a ledger line, the one currency of a table, the few states a child's count is split by.
Those are the text columns the profile shows to hold few distinct values, repeated over the rows, and that
no name calls a key or free text: one grouped statement per table (`cartridge.category_values`), the values
kept under each column's `profile`, like every value read from the data.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.facts import RawColumn, RawRelation, ValueCount, WarehouseFacts
from cartridge_bridge.sql.naming import is_loader_name
from cartridge_bridge.sql.sql_types import is_boolean, is_text

MACRO = "cartridge.category_values"
# At most this many distinct values make a category: states, types, kinds and currencies fit; names do not.
MAX_CATEGORY_VALUES = 20
# A column a name calls a key (`id`, `customer_id`, `sku`) or free text: its few values are no category.
_NOT_CATEGORY = re.compile(
    r"(^|_)(id|ids|key|uuid|guid|sku|token|hash|name|names|title|description|note|notes|comment|comments|body|"
    r"message|text|subject|email|phone|url|uri|address|street|city|zip|postal|line\d*|label|summary)$"
)
# A value that is an identifier (a hash, a uuid), whatever the column's name: `current_status` holding the id of
# the last status update is no state to split rows by.
_IDENTIFIER_VALUE = re.compile(r"[0-9a-f]{16,}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)
# A name that says the column is a state or a type: read even when each row holds another value.
_CATEGORY_NAME = re.compile(r"(^|_)(status|state|type|kind|category|outcome|result|currency|side)$")


def names_a_category(name: str) -> bool:
    """Whether a column's name says it holds a state, a type or a kind (`status`, `payment_type`)."""
    return _CATEGORY_NAME.search(name.lower()) is not None


def is_category(relation: RawRelation, column: RawColumn) -> bool:
    """Whether the profile shows a flag, or a text column with few distinct values that no name calls a key or
    free text."""
    stats = column.profile
    rows = relation.profile.row_count if relation.profile is not None else 0
    if stats is None or stats.distinct_count is None or not 1 <= stats.distinct_count <= MAX_CATEGORY_VALUES:
        return False
    name = column.name.lower()
    if is_boolean(column.data_type):
        # Whether a flag is all true or all false (a loader's `_fivetran_deleted` on every row) decides what a
        # filter on it keeps: its count of distinct values alone cannot say which.
        return True
    if not is_text(column.data_type) or is_loader_name(name) or _NOT_CATEGORY.search(name):
        return False
    if column.name in relation.primary_key:
        return False
    # A value on every row is a label, not a category, unless the name says state or type.
    return stats.distinct_count < rows or names_a_category(name)


def category_checks(facts: WarehouseFacts) -> list[dict[str, Any]]:
    """The macro's `relations` argument: per profiled table with rows, its category columns whose values the
    profile did not read."""
    checks = []
    for relation in facts.relations:
        if relation.profile is None or relation.profile.row_count == 0:
            continue
        columns = [
            c.name
            for c in relation.columns
            if is_category(relation, c) and c.profile is not None and c.profile.top_values is None
        ]
        if columns:
            checks.append(
                {
                    "database": relation.database,
                    "schema": relation.schema_,
                    "identifier": relation.identifier,
                    "columns": columns,
                }
            )
    return checks


def with_category_values(facts: WarehouseFacts, printed: str) -> WarehouseFacts:
    """The facts with the macro's values as each column's `profile.top_values`."""
    try:
        found = {
            (r["schema"], r["identifier"]): {
                column: [ValueCount(value=str(v["value"]), count=int(v["count"])) for v in values]
                for column, values in r["values"].items()
            }
            for r in json.loads(printed)
        }
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(f"the output of {MACRO} is not what this cartridge reads ({error})") from None
    relations = []
    for relation in facts.relations:
        values = found.get((relation.schema_, relation.identifier), {})
        columns = [
            c.model_copy(update={"profile": c.profile.model_copy(update={"top_values": values[c.name]})})
            if c.name in values and c.profile is not None and not _identifiers(values[c.name])
            else c
            for c in relation.columns
        ]
        relations.append(relation.model_copy(update={"columns": columns}) if values else relation)
    return facts.model_copy(update={"relations": relations})


def _identifiers(values: list[ValueCount]) -> bool:
    """Every value read is an identifier: the column names things one by one, it sorts them into no category."""
    return bool(values) and all(_IDENTIFIER_VALUE.fullmatch(v.value) for v in values)
