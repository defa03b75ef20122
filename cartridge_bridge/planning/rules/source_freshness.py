"""Which raw column tells when a loader last wrote a table: the `loaded_at_field` of its source freshness.

Judged on what any schema shows: a loader's bookkeeping column (naming.is_loader_name) named for the load
(`_fivetran_synced`, `_airbyte_extracted_at`, `_sdc_batched_at`, `_etl_loaded_at`), holding timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.gather.facts import RawColumn, RawRelation
from cartridge_bridge.planning.plan import ExecutionPlan, SourceSpec, SourceTableSpec
from cartridge_bridge.planning.rules.measures import is_loader_name, words
from cartridge_bridge.planning.rules.staged_columns import holds_timestamps
from cartridge_bridge.sql.naming import snake_case
from cartridge_bridge.sql.sql_types import is_temporal

# Words naming the moment a loader wrote a row, best first: when it reached the warehouse (`synced`, `loaded`,
# `batched`) tells freshness better than when it left the source (`extracted`, `emitted`). `_sdc_deleted_at` or
# `_fivetran_start` (a history row's validity) are bookkeeping but no load time. dlt's `_dlt_load_id` is text
# naming a load whose time lives in another table (`_dlt_loads`): it is left out.
_LOAD_WORDS = ("synced", "loaded", "batched", "ingested", "inserted", "received", "extracted", "emitted")
_LOAD_WORDS_SET = frozenset(_LOAD_WORDS)


def is_load_time(column: RawColumn) -> bool:
    """A loader's column named for the load and holding timestamps (a timestamp type, or ISO text)."""
    if not is_loader_name(column.name) or not _LOAD_WORDS_SET & set(words(snake_case(column.name))):
        return False
    return _is_timestamp(column.data_type) or holds_timestamps(column)


def loaded_at_column(relation: RawRelation) -> RawColumn | None:
    """The column whose newest value dates the table's last load, or None (no loader timestamp, or none filled)."""
    candidates = [c for c in relation.columns if is_load_time(c) and not _never_filled(relation, c)]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (_rank(c), c.position))


def _rank(column: RawColumn) -> int:
    found = set(words(snake_case(column.name)))
    return next(i for i, word in enumerate(_LOAD_WORDS) if word in found)


def _is_timestamp(data_type: str) -> bool:
    # A date says nothing of the hour: a table loaded hourly would look a day old by midnight.
    return is_temporal(data_type) and data_type.strip().lower() != "date"


def _never_filled(relation: RawRelation, column: RawColumn) -> bool:
    """Profiled and null on every row (or the table empty): dbt would find no newest value to judge."""
    if relation.profile is None or column.profile is None:
        return False
    return column.profile.null_count >= relation.profile.row_count


@dataclass(frozen=True)
class FreshnessCoverage:
    """A plan's new source tables by freshness: how many it checks, and how many have no loader timestamp at all."""

    tables: int
    checked: int  # with `loaded_at_field` and thresholds
    unstamped: int  # no loader timestamp: nothing `dbt source freshness` could judge them by

    @property
    def unchecked_stamped(self) -> int:
        """Tables with a loader timestamp the plan does not check (`source_freshness: false`, a plan's choice)."""
        return self.tables - self.checked - self.unstamped


def freshness_coverage(plan: ExecutionPlan, context: ProjectContext) -> FreshnessCoverage:
    """Count the plan's new source tables that check freshness, and those with no loader timestamp to check."""
    gathered = {(raw.schema_name, r.identifier): r for raw in context.raw_schemas for r in raw.relations}
    tables = [(a.spec, t) for a in plan.actions if isinstance(a.spec, SourceSpec) for t in a.spec.tables]
    unstamped = 0
    for source, table in tables:
        relation = gathered.get((source.schema_name, table.identifier)) or _declared(source, table)
        unstamped += table.loaded_at_field is None and loaded_at_column(relation) is None
    checked = sum(table.loaded_at_field is not None for _, table in tables)
    return FreshnessCoverage(tables=len(tables), checked=checked, unstamped=unstamped)


def _declared(source: SourceSpec, table: SourceTableSpec) -> RawRelation:
    """The table as the plan declares it, when the warehouse was not read for this apply (the plan was applied)."""
    columns = [
        RawColumn(name=c.name, data_type=c.data_type or "", position=i)
        for i, c in enumerate(table.columns, 1)
    ]
    return RawRelation(schema=source.schema_name, identifier=table.identifier, columns=columns)
