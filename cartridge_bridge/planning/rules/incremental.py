"""Which facts the rules planner makes incremental, from what any schema shows.

A fact is incremental when its raw table has at least `incremental_min_rows` rows (the gather's profile; an
unprofiled table is never judged large), it selects only its own rows (no joins: a joined aggregate or
attribute of an old row would go stale while its row is never read again), it has a grain to be the
`unique_key`, and a column that only grows:
- a loader's timestamp (source_freshness.loaded_at_column: `_fivetran_synced`, `_airbyte_extracted_at`…),
  first where the adapter replaces rows by key: a row the loader syncs again after a change is read again;
- else the event time (measures.event_time: `created_at`, `ordered_at`…), first on an append-only adapter
  (Spark): a re-synced row keeps its event time, so appending never adds it twice.
"""

from __future__ import annotations

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.incremental_checks import APPEND_ONLY_ADAPTERS
from cartridge_bridge.planning.plan import ColumnSpec, IncrementalConfig, MartSpec
from cartridge_bridge.planning.planner import ModelDraft
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.source_freshness import loaded_at_column
from cartridge_bridge.planning.rules.state import Staged
from cartridge_bridge.planning.sql_types import is_temporal


def growing_column(table: Staged, adapter_type: str) -> ColumnSpec | None:
    """The staged column whose newest value marks what a fact has read: a loader's timestamp or the event time."""
    loaded = loaded_at_column(table.relation)
    loader = next(
        (
            c
            for c in table.spec.columns
            if loaded is not None and c.source_column == loaded.name and is_temporal(measures.column_type(c))
        ),
        None,
    )
    event = measures.event_time(table.relation, table.spec.columns)
    found = (event, loader) if adapter_type in APPEND_ONLY_ADAPTERS else (loader, event)
    return next((c for c in found if c is not None), None)


def is_large(table: Staged, context: ProjectContext) -> bool:
    """Whether the table has the rows that make its fact incremental (an unprofiled one never has)."""
    rows = table.relation.profile.row_count if table.relation.profile else None
    return (
        context.incremental_min_rows is not None and rows is not None and rows >= context.incremental_min_rows
    )


def make_incremental(draft: ModelDraft, table: Staged, context: ProjectContext) -> None:
    """Make a fact's draft incremental when its table is large, it reads only its own rows and has a growing column."""
    spec = draft.spec
    if not is_large(table, context):
        return
    if not isinstance(spec, MartSpec) or spec.role != "fact" or spec.joins or not spec.grain:
        return
    column = growing_column(table, context.adapter_type)
    if column is None:
        return
    if column.name not in {c.name for c in spec.columns}:  # a loader's column: marts leave it out otherwise
        spec.columns.append(
            ColumnSpec(
                name=column.name,
                expression=f"{spec.base_alias}.{column.name}",
                data_type=measures.column_type(column),
                description=column.description,
            )
        )
    draft.materialized = "incremental"
    draft.unique_key = list(spec.grain)
    draft.incremental = IncrementalConfig(column=column.name)
