"""The pieces of a type-2 history model's SQL and of its overlap test, from checked names only.

Versions of one entity that start together are a tie: the first by the spec's `tie_breaker` is kept, so the
grain (entity key + `valid_from`) holds. Each version then ends where the loader says (its end column) or at
the next version's start; the latest version has no end and is the current one.
"""

from __future__ import annotations

from typing import Any

from cartridge_bridge.planning.plan import HISTORY_COLUMNS, ColumnSpec, HistorySpec, ModelTest
from cartridge_bridge.render.guards import checked_name

_NEXT = "cartridge_next_valid_from"
_LOADER_END = "cartridge_loader_valid_to"


def history_values(spec: HistorySpec, adapter_type: str) -> dict[str, Any]:
    """The template's windows, its not-null filter and the columns of its two select lists."""
    keys = [checked_name(k, adapter_type) for k in spec.entity_key]
    start = checked_name(spec.valid_from, adapter_type)
    ties = ", ".join(
        checked_name(o.column, adapter_type) + (" desc" if o.descending else "") for o in spec.tie_breaker
    )
    valid_from, valid_to, is_current = HISTORY_COLUMNS
    loader_end = (
        [ColumnSpec(name=_LOADER_END, expression=checked_name(spec.valid_to, adapter_type), description="")]
        if spec.valid_to
        else []
    )
    # The latest version has no end even when the loader writes a far date there: `valid_to is null` finds it.
    end = _LOADER_END if spec.valid_to else _NEXT
    return {
        # A version with no key or no start cannot be placed in its entity's timeline.
        "where": " and ".join(f"{c} is not null" for c in [*keys, start]),
        "tie_window": f"partition by {', '.join([*keys, start])} order by {ties}",
        "next_window": f"partition by {', '.join(keys)} order by {valid_from}",
        "version_columns": [
            *spec.columns,
            ColumnSpec(name=valid_from, expression=start, description=""),
            *loader_end,
        ],
        "history_columns": [
            *(ColumnSpec(name=c.name, expression=c.name, description="") for c in spec.columns),
            ColumnSpec(name=valid_from, expression=valid_from, description=""),
            ColumnSpec(
                name=valid_to,
                expression=f"case when {_NEXT} is null then null else {end} end",
                description="",
            ),
            ColumnSpec(name=is_current, expression=f"{_NEXT} is null", description=""),
        ],
    }


def overlap_test_arguments(test: ModelTest, adapter_type: str) -> dict[str, Any]:
    """The overlap test's arguments: the entity key and the validity columns, as names in the grammar."""
    return {
        "entity_key": [checked_name(c, adapter_type) for c in test.columns],
        "valid_from": checked_name(test.valid_from or "", adapter_type),
        "valid_to": checked_name(test.valid_to or "", adapter_type),
    }
