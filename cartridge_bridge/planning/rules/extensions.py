"""Extension tables and lifecycle durations: what a mart's rows hold beyond their own table, one row each.

- An **extension** is a table keyed on another table's own key (`issue_merged` keyed on `issue_id`, the key of
  `issue`): one row per parent at most, proved by its key's own checks (declared, or checked unique on the data).
  It is no child to count (a count of 0 or 1 says nothing a column would not) and no mart of its own: its columns
  join its parent's mart one-to-one, where a merge time is asked (`merged_at` beside `created_at`).
- A **duration** is the time between the row's event time and a later lifecycle timestamp of the same row (named by
  a past participle: `closed_at`, `merged_at`, `resolved_at`), in hours: arithmetic a reader of the mart may not do.
  Beside it, a 0/1 column (`merged_before_created`) marks the rows whose duration is negative, so a sum counts them.
"""

from __future__ import annotations

from cartridge_bridge.context.keys import KeyEdge
from cartridge_bridge.planning.plan import ColumnSpec
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.mart_shapes import Shapes
from cartridge_bridge.planning.rules.state import Staged
from cartridge_bridge.sql.sql_types import is_temporal

# Seconds between two timestamps, per adapter: `{0}` the start, `{1}` the end. Dates alone are left out (a date
# minus a date is already a number of days in some warehouses and an interval in others).
_SECONDS_BETWEEN = {
    "postgres": "extract(epoch from ({1} - {0}))",
    "duckdb": "extract(epoch from ({1} - {0}))",
    "redshift": "datediff(second, {0}, {1})",
    "snowflake": "datediff(second, {0}, {1})",
    "bigquery": "timestamp_diff({1}, {0}, second)",
    "databricks": "(unix_timestamp({1}) - unix_timestamp({0}))",
    "spark": "(unix_timestamp({1}) - unix_timestamp({0}))",
    "trino": "date_diff('second', {0}, {1})",
}
_TIME_SUFFIXES = ("_at", "_on", "_time", "_timestamp", "_date")


def extensions(staged: dict[str, Staged], shapes: Shapes, edges: list[KeyEdge]) -> dict[str, list[Staged]]:
    """Mart identifier → the tables that extend it: keyed on one column that is the mart's own single key column
    (named after the mart's entity), the key known to hold one row per value; neither a mart, a bridge nor a
    history, and no child already counted at that mart through a foreign key."""
    counted = {(e.child, e.parent) for e in edges}
    found: dict[str, list[Staged]] = {}
    for identifier, table in staged.items():
        if identifier in shapes.marts or identifier in shapes.bridges or identifier in shapes.histories:
            continue
        if len(table.spec.grain) != 1 or table.key is None or not table.key.primary:
            continue
        key = table.spec.grain[0]
        for parent_id in shapes.marts:
            parent = staged[parent_id]
            if (
                parent_id != identifier
                and parent.spec.grain == [key]
                and key == f"{parent.entity}_id"
                and parent.entity != table.entity
                and (identifier, parent_id) not in counted
            ):
                found.setdefault(parent_id, []).append(table)
                break
    return found


def extension_columns(table: Staged) -> list[ColumnSpec]:
    """The columns an extension adds to its parent's rows: all but its key and the loader's."""
    key = set(table.spec.grain)
    return [c for c in table.spec.columns if c.name not in key and not measures.is_loader_column(c)]


def _stem(name: str) -> str:
    for suffix in _TIME_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _is_timestamp(column: ColumnSpec) -> bool:
    kind = measures.column_type(column).strip().lower()
    return is_temporal(kind) and kind != "date"


def lifecycle_ends(start: ColumnSpec, columns: list[ColumnSpec]) -> list[ColumnSpec]:
    """The row's timestamps after its event time in a lifecycle: named by a past participle (`merged_at`,
    `closed_at`), not bookkeeping (`updated_at`), not the loader's, and not the start again under another name
    (`original_created_date` beside `created_date`)."""
    return [
        c
        for c in columns
        if c.name != start.name
        and not _stem(c.name).endswith(_stem(start.name))
        and _is_timestamp(c)
        and _stem(c.name) != c.name
        and _stem(c.name).endswith("ed")
        and not measures.is_bookkeeping_time(c.name)
        and not measures.is_loader_column(c)
    ]


def hours_between(start: str, end: str, adapter_type: str) -> str | None:
    """SQL for the hours from one timestamp column to another (negative when the end is earlier, null when
    either is), or None for an adapter whose arithmetic on timestamps is not known here."""
    seconds = _SECONDS_BETWEEN.get(adapter_type)
    return None if seconds is None else f"{seconds.format(start, end)} / 3600.0"


def duration_name(start: str, end: str) -> str:
    """`created_at`, `merged_at` → `hours_from_created_to_merged`."""
    return f"hours_from_{_stem(start)}_to_{_stem(end)}"


def durations(
    start: ColumnSpec | None, columns: list[ColumnSpec], references: dict[str, str], adapter_type: str
) -> list[ColumnSpec]:
    """A column of hours from the row's event time to each later lifecycle timestamp of the row. `references`
    maps a column's name to the SQL that reads it in the mart (`issue.created_at`, `issue_merged.merged_at`)."""
    if start is None or not _is_timestamp(start) or start.name not in references:
        return []
    found = []
    for end in lifecycle_ends(start, columns):
        sql = hours_between(references[start.name], references.get(end.name, ""), adapter_type)
        name = duration_name(start.name, end.name)
        if sql is None or end.name not in references or len(name) > measures.READABLE_NAME:
            continue
        found.append(
            ColumnSpec(
                name=name,
                expression=sql,
                description=(
                    f"Hours from `{start.name}` to `{end.name}` (negative when `{end.name}` is recorded earlier; "
                    f"null until both are set)."
                ),
            )
        )
        # A negative duration is a data-quality warning the averages beside it hide: counted by a sum of this.
        before = f"{_stem(end.name)}_before_{_stem(start.name)}"
        found.append(
            ColumnSpec(
                name=before,
                expression=(
                    f"case when {references[end.name]} < {references[start.name]} then 1 "
                    f"when {references[end.name]} >= {references[start.name]} then 0 end"
                ),
                description=(
                    f"1 when `{end.name}` is recorded before `{start.name}` (a negative `{name}`: a data-quality "
                    f"warning), 0 when not, null until both are set; its sum counts those rows."
                ),
            )
        )
    return found
