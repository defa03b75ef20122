"""What an intermediate or mart request shows besides its inputs' columns: the columns that split a child's rows
(statuses, flags) and, for a fact over a big growing table, the column it may be incremental on.

Both come from the rules planner's own judgements (sum_conditions, measures.flags, incremental), so the two
planners read a schema alike, and the LLM confirms or ignores what the rules would choose.
"""

from __future__ import annotations

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.gather.facts import RawRelation
from cartridge_bridge.planning.llm.answers import OutlineModel
from cartridge_bridge.planning.llm.prompt_data import IncrementalFacts, SplitColumn, TableFacts
from cartridge_bridge.planning.plan import ModelSpec, StagingSpec
from cartridge_bridge.planning.rules.incremental import growing_column
from cartridge_bridge.planning.rules.measures import flags
from cartridge_bridge.planning.rules.state import Staged
from cartridge_bridge.planning.rules.sum_conditions import status_values


def staged_relation(
    context: ProjectContext, spec: ModelSpec, tables: dict[str, TableFacts]
) -> RawRelation | None:
    """The raw table a planned staging spec reads (`tables`: `<source>.<table>` → its facts), or None."""
    if not isinstance(spec, StagingSpec):
        return None
    facts = tables.get(f"{spec.source_name}.{spec.table}")
    if facts is None:
        return None
    return next(
        (
            r
            for raw in context.raw_schemas
            for r in raw.relations
            if r.schema_ == facts.schema_name and r.identifier == facts.identifier
        ),
        None,
    )


def split_columns(
    name: str, spec: ModelSpec, relation: RawRelation | None, share_samples: bool
) -> list[SplitColumn]:
    """A planned staging model's statuses (with their values only when the user shares samples: values leave the
    warehouse) and flags; none for any other model."""
    if not isinstance(spec, StagingSpec) or relation is None:
        return []
    statuses = status_values(relation, spec.columns)
    found = [
        SplitColumn(model=name, column=column, kind="status", values=values if share_samples else None)
        for column, values in statuses.items()
    ]
    found += [
        SplitColumn(model=name, column=flag.column, kind="flag")
        for flag in flags(relation, spec.columns, set(spec.grain))
    ]
    return found


def incremental_facts(
    model: OutlineModel, name: str, spec: ModelSpec, relation: RawRelation | None, context: ProjectContext
) -> IncrementalFacts | None:
    """For a fact whose base model `name` stages a raw table of at least `incremental_min_rows` rows with a column
    that only grows, that column (as the rules planner would choose it); None otherwise."""
    threshold = context.incremental_min_rows
    if model.role != "fact" or threshold is None or relation is None or not isinstance(spec, StagingSpec):
        return None
    rows = relation.profile.row_count if relation.profile else None
    if rows is None or rows < threshold:
        return None
    staged = Staged(relation=relation, table=spec.table, entity=spec.entity, model=name, spec=spec)
    column = growing_column(staged, context.adapter_type)
    if column is None:
        return None
    return IncrementalFacts(
        base_model=name, row_count=rows, incremental_min_rows=threshold, growing_column=column.name
    )
