"""What staging does to each raw column: a name that says what it holds, a cast only where the type changes.

Renames (a rename that would take another column's name is not made):
- a loader's bookkeeping column (`_fivetran_synced`) keeps its leading underscore: it stays recognizable
  as metadata downstream;
- a timestamp named by a past participle (`created`, `last_modified`) gets `_at`: `created_at`; a date
  named so, or ending in `_on`, gets `_date`: `created_date`, `due_date`;
- a boolean gets `is_` (`active` → `is_active`, `verified_email` → `is_verified_email`) unless its name
  already reads as a question: it starts with `is_`, `has_`, `can_`, `should_`… or holds a verb
  (`accepts_marketing`, `requires_shipping`, `applies_once_per_customer`).

Casts: a column keeps its type unless text holds timestamps (its name says so and the profile's min and
max parse as ISO timestamps), or it is a foreign key whose referenced key has a type of another family
(an integer pointing at a text key, which a join or relationships test could not compare).
"""

from __future__ import annotations

import re
from datetime import datetime

from cartridge_bridge.context.keys import is_metadata
from cartridge_bridge.gather.facts import RawColumn
from cartridge_bridge.sql.naming import RESERVED_WORDS, snake_case
from cartridge_bridge.sql.sql_types import is_boolean, is_temporal, is_text

_BOOLEAN_LEADS = frozenset(
    "is has have had can could should would will was were does did do are allow allows use uses needs".split()
)
# Verbs that make a boolean's name a statement already (`buyer_accepts_marketing`).
_BOOLEAN_VERBS = frozenset(
    "accepts allows applies combines requires includes uses needs supports contains wants".split()
)
_DATE_TYPE = re.compile(r"date\b", re.I)
# Names that say "a point in time": what a text column must be called before its values are read as timestamps.
_TEMPORAL_NAME = re.compile(r"(^|_)(at|on|date|time|timestamp|ts|datetime)$|ed$")
_ISO_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?"
)


def is_deleted_marker(column: RawColumn) -> bool:
    """A loader's soft-delete column (`_fivetran_deleted`, `_sdc_deleted_at`): its rows are left out in staging."""
    words = snake_case(column.name).split("_")
    return (
        is_metadata(column.name)
        and "deleted" in words
        and (is_boolean(column.data_type) or is_temporal(column.data_type))
    )


def is_active_marker(column: RawColumn) -> bool:
    """A loader's `_fivetran_active` beside no version columns: false marks a deleted row (see `keys._HISTORY_MARKERS`)."""
    return (
        is_metadata(column.name)
        and snake_case(column.name) == "fivetran_active"
        and is_boolean(column.data_type)
    )


def deleted_filter(column: RawColumn, quoted: str) -> str:
    """The staging filter keeping the rows a soft-delete column does not mark (`quoted`: the column in SQL)."""
    if is_active_marker(column):
        return f"coalesce({quoted}, true)"
    if is_boolean(column.data_type):
        return f"not coalesce({quoted}, false)"
    return f"{quoted} is null"


def _parses_as_timestamp(value: object) -> bool:
    if not isinstance(value, str) or not _ISO_TIMESTAMP.fullmatch(value.strip()):
        return False
    try:
        datetime.fromisoformat(value.strip()[:26].replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return False
    return True


def holds_timestamps(column: RawColumn) -> bool:
    """A text column named like a point in time whose profiled min and max are ISO timestamps."""
    name = snake_case(column.name)
    profile = column.profile
    return (
        is_text(column.data_type)
        and _TEMPORAL_NAME.search(name) is not None
        and profile is not None
        and _parses_as_timestamp(profile.min)
        and _parses_as_timestamp(profile.max)
    )


def plain_name(column: RawColumn) -> str:
    """The snake_case name, metadata keeping its underscore, reserved words suffixed with `_value`."""
    name = snake_case(column.name)
    if is_metadata(column.name):
        return f"_{name.lstrip('_')}"
    # A reserved word would need quoting in every model downstream; a suffix keeps SQL plain.
    return f"{name}_value" if name in RESERVED_WORDS else name


def meaningful_name(column: RawColumn, staged_type: str) -> str | None:
    """The name that says what the column holds, when its plain name does not (None: keep the plain name)."""
    if is_metadata(column.name):
        return None
    name = snake_case(column.name)
    words = name.split("_")
    if is_boolean(staged_type):
        if words[0] in _BOOLEAN_LEADS or _BOOLEAN_VERBS & set(words):
            return None
        return f"is_{name}"
    if _DATE_TYPE.match(staged_type.strip()):
        if words[-1] == "on" and len(words) > 1:
            return f"{'_'.join(words[:-1])}_date"
        return f"{name}_date" if words[-1].endswith("ed") else None
    if is_temporal(staged_type):
        if words[-1] == "on" and len(words) > 1:
            return None  # `due_on` holding a timestamp: `due_at` may exist beside it
        return (
            f"{name}_at" if words[-1].endswith("ed") and words[-1] not in ("speed", "seed", "feed") else None
        )
    return None


def staged_names(columns: list[RawColumn], staged_types: list[str], key_names: dict[str, str]) -> list[str]:
    """Each column's staged name: `key_names` first (raw → name), else the meaningful name when no other takes it.

    Names may still repeat (two raw columns with one snake_case spelling): the caller dedupes them.
    """
    plain = [key_names.get(c.name) or plain_name(c) for c in columns]
    taken = set(plain)
    names = []
    for column, name, staged_type in zip(columns, plain, staged_types, strict=True):
        wanted = None if column.name in key_names else meaningful_name(column, staged_type)
        if wanted is not None and wanted not in taken:
            taken.add(wanted)
            names.append(wanted)
        else:
            names.append(name)
    return names
