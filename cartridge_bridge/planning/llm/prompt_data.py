"""The typed data the prompts are fed: raw tables, keys, statistics, existing models, conventions, each task.

Only schema metadata and counts go in by default: a column's minimum, maximum and top values are values
read from the warehouse, and go in only when `share_samples` is set. Everything here is rendered inside
a prompt's data block, never into its instructions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from cartridge_bridge.context.existing_models import ExistingColumn, short_description
from cartridge_bridge.context.key_facts import KeyFacts, SchemaKeys
from cartridge_bridge.context.key_owners import KeyOwner
from cartridge_bridge.context.keys import EdgeEvidence
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.gather.facts import ProfileValue, RawColumn, RawRelation, ValueCount
from cartridge_bridge.planning.llm.answers import DataTestsAnswer, OutlineModel, SpecAnswer
from cartridge_bridge.planning.plan import (
    HISTORY_COLUMNS,
    AggregateSpec,
    AnyModelSpec,
    ColumnSpec,
    HistorySpec,
    ModelSpec,
    PeriodicSnapshotSpec,
    SourceSpec,
    StagingSpec,
    TimeSpineSpec,
    output_columns,
)
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.snapshots import is_money
from cartridge_bridge.sql.naming import snake_case
from cartridge_bridge.sql.sql_types import is_temporal, is_whole_number

_ROUNDING = 4  # digits of a null fraction


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnStats(_Data):
    """What the profile says about a column's values; min, max and top values only with share_samples."""

    null_fraction: float | None = None
    distinct_count: int | None = None
    # An integer column with no value on any row: said outright, since a model otherwise reads an `_id` or a
    # count-like name and keys, joins or sums it (a null fraction of 1.0 is easy to pass over).
    entirely_null: Literal[True] | None = None
    min: ProfileValue = None
    max: ProfileValue = None
    top_values: list[ValueCount] | None = None


class ColumnFacts(_Data):
    """A raw column exactly as the warehouse has it."""

    name: str
    data_type: str
    nullable: bool
    comment: str | None = None
    stats: ColumnStats | None = None


class ForeignKeyFacts(_Data):
    """Raw columns that point at another table, and how that is known: declared in the warehouse, checked on
    the data (the parent's key holds the column's values), named (from the column's name alone) or refuted
    (the data shows values the parent's key lacks). When the data showed such values: how many distinct
    values the raw column holds and how many of them the raw parent lacks (before any staging filter)."""

    columns: list[str]
    references: str  # `<source>.<table>` when the table is new, else `<schema>.<identifier>`
    ref_columns: list[str]
    how: EdgeEvidence
    distinct_values: int | None = None
    missing_from_parent: int | None = None


class MoneyEventFacts(_Data):
    """Rows that move money, as the rules planner judges a table worth a periodic snapshot: the raw column
    dating each row, and the money amounts (not quantities, prices or levels) that add up."""

    event_time: str
    money_columns: list[str]


class TableFacts(_Data):
    """A new raw table: its source table name, columns, keys, comment and counts."""

    source_table: str  # `<source>.<table>`, how answers name it
    schema_name: str
    identifier: str
    relation_type: str
    comment: str | None = None
    row_count: int | None = None
    # The context's key (raw names) and how it is known; a history's key with the versions completing it.
    key: KeyFacts | None = None
    foreign_keys: list[ForeignKeyFacts]
    columns: list[ColumnFacts]
    staging_model: str  # the name the project's convention gives its staging model
    money_event: MoneyEventFacts | None = None  # a periodic snapshot's signal, when the table has it


class ExistingModel(_Data):
    """A model of the project related to the new tables (the budgeted relevant slice), as it really is: its
    columns from the warehouse (else its SQL) with types, descriptions and, in staging, the transforms the
    project applies (`amount / 100`); its grain; what it reads."""

    name: str
    path: str | None = None
    why: str
    layer: str | None = None
    grain: list[str] = []
    reads: list[str] = []
    columns: list[ExistingColumn] = []


class ConventionFacts(_Data):
    """The project's conventions a planner follows: names, materializations, testing and documenting habits."""

    staging_model: str
    intermediate_model: str
    dimension_model: str
    fact_model: str
    staging_materialized: str
    intermediate_materialized: str
    marts_materialized: str
    test_primary_keys: bool
    test_relationships: bool


class ProjectFacts(_Data):
    """Everything the outline is planned from."""

    project_name: str
    adapter_type: str
    strategy: Literal["greenfield", "brownfield"]
    conventions: ConventionFacts
    existing_models: list[ExistingModel]
    existing_models_left_out: dict[str, int]
    existing_key_owners: list[KeyOwner]
    raw_tables: list[TableFacts]


class ModelColumn(_Data):
    """An output column of a model, typed when the type is known."""

    name: str
    data_type: str | None = None
    expression: str | None = None
    source_column: str | None = None
    # An existing model's key, as the project describes it: what a foreign key to it is described from.
    description: str | None = None


class OrphanedKey(_Data):
    """A foreign key of a model whose values its parent's rows partly lack, as counted on the raw tables: a count
    per parent is right only from this model (grouped by the key), never from the parent's rows."""

    columns: list[str]  # the model's own columns
    references: str  # the parent's `<source>.<table>`
    distinct_values: int
    missing_from_parent: int


class ModelFacts(_Data):
    """A model another model reads or tests against: planned in this run, or existing in the project."""

    name: str
    planned: bool
    grain: list[str] = []
    columns: list[ModelColumn] | None = None  # every column, when listed (an existing model's real ones)
    some_columns: list[str] = []  # columns known without the whole list (an existing model's tested keys)
    orphaned_keys: list[OrphanedKey] | None = None  # a planned staging model's, when the data counted some


class SplitColumn(_Data):
    """A column of an input that splits its rows: a status (its values, when the profile read them all and the
    user shares samples) or a boolean flag. A measure over some of the rows is a conditional aggregate on it."""

    model: str
    column: str
    kind: Literal["status", "flag"]
    values: list[str] | None = None


class IncrementalFacts(_Data):
    """The fact's base model stages a big raw table with a column that only grows: the fact may be incremental on
    it (cartridge's rules would choose it)."""

    base_model: str
    row_count: int
    incremental_min_rows: int  # the project's threshold (cartridge.yml)
    growing_column: str  # the base model's column: a loader's timestamp, else the event time


class SpecTask(_Data):
    """Write the spec of one intermediate or mart model of the outline."""

    model: OutlineModel
    adapter_type: str
    inputs: list[ModelFacts] = []  # what it may select from
    conventions: ConventionFacts
    split_columns: list[SplitColumn] | None = None  # an intermediate's input's statuses and flags
    incremental: IncrementalFacts | None = None  # a fact over a big growing table only


class VersionKeyFacts(_Data):
    """A history's input as its raw table's key says: the key and the version columns, under the input's names."""

    key: list[str]
    version_columns: list[str]


class DateColumnFacts(_Data):
    """A date or timestamp column of an input a spine may be dated by, with its raw column's profile."""

    column: str  # `<model>.<column>`
    data_type: str | None = None
    stats: ColumnStats | None = None  # min and max (the spine's range) only with share_samples


class KindTask(SpecTask):
    """Write the spec of a history, a periodic snapshot or a union: the model, its inputs, what their data shows."""

    history_key: VersionKeyFacts | None = None  # a history: its input table's key and versions
    date_columns: list[DateColumnFacts] | None = None  # a periodic snapshot: the inputs' dates


class StagingTask(_Data):
    """One staging model of a staging request: its outline entry and the raw table it stages."""

    model: OutlineModel
    table: TableFacts
    # A history reads this staging model: it keeps every version (no `deduplicate`), keyed on key and version.
    read_by_history: str | None = None


class TransformFact(_Data):
    """How the project's staging makes a column of this name (`amount / 100`): new columns like it do the same."""

    column: str
    expression: str  # over the existing model's raw column, which a new column replaces with its own
    models: list[str]


class StagingBatchTask(_Data):
    """Write the specs of several staging models: each reads one raw table and nothing else."""

    adapter_type: str
    models: list[StagingTask]
    conventions: ConventionFacts
    # The project's staging transforms of columns named like the batch's raw columns (None: no such column).
    project_transforms: list[TransformFact] | None = None


class DescribedColumn(_Data):
    """An output column whose tests and description are asked for; a staging column with its raw column's facts.

    A column with neither `source_column` nor `expression` reads the raw column of its own name (the common
    case, left unsaid to keep wide tables short).
    """

    name: str
    data_type: str | None = None
    expression: str | None = None
    source_column: str | None = None
    nullable: bool | None = None
    comment: str | None = None
    stats: ColumnStats | None = None


class CandidateMeasure(_Data):
    """A measure cartridge derived for a mart's semantic model: what a metric over it would aggregate, dated by
    `time`."""

    name: str
    agg: str
    expr: str
    time: str


class DescribedModel(_Data):
    """A specified model whose tests and documentation are asked for."""

    model: OutlineModel
    grain: list[str]
    columns: list[DescribedColumn]
    table: TableFacts | None = (
        None  # staging: the raw table's keys and comment (its columns' facts are above)
    )
    # A mart with a semantic model: the measures its metrics may keep, and the times a new one may be dated by.
    measures: list[CandidateMeasure] | None = None
    time_dimensions: list[str] | None = None


class ModelKey(_Data):
    """A planned model a relationships test may point at: its name and the columns that make a row unique."""

    name: str
    grain: list[str]


class DocsTestsTask(_Data):
    """Document and test several specified models in one request."""

    models_to_describe: list[DescribedModel]
    other_models: list[
        ModelKey | ModelFacts
    ]  # what relationships tests may point at, besides the models above
    existing_key_owners: list[KeyOwner]
    conventions: ConventionFacts


class FailureFacts(_Data):
    """One node of a failed dbt build, with dbt's whole message."""

    node: str
    resource_type: str
    status: str
    file: str | None
    message: str
    compiled_sql: str | None


class ColumnCounts(_Data):
    """What the gathered profile says about the raw column a model's column passes through (counts; values only
    with share_samples). Counted on the raw table (or its profiled rows), before any filter, join or grouping."""

    column: str  # `<model>.<column>`
    reads: str  # the raw column: `<source>.<table>.<column>`
    # Said in the data: a model reading `failing_rows` (the built model's) beside these cannot tell otherwise.
    counted_on: Literal["the raw table, before staging's filters"] = "the raw table, before staging's filters"
    profiled_rows: int | None = None
    stats: ColumnStats


class FailingTestFacts(_Data):
    """A data test of the model that ran and failed on the data: what it checks and how many rows failed."""

    node: str  # dbt's name of the test: what a verdict names
    test: str  # unique, not_null, accepted_values, relationships, unique_combination_of_columns, …
    column: str | None = None  # None: a test on the whole model
    to: str | None = None
    field: str | None = None
    values: list[str] | None = None
    columns: list[str] | None = None
    expression: str | None = None
    failing_rows: int | None  # as dbt reported it
    failing_rows_are: str  # what dbt counted, in words
    counts: list[
        ColumnCounts
    ] = []  # the tested column (and a relationships test's parent field), when profiled


class RepairTask(_Data):
    """Correct the spec (and tests) of one model whose build failed, or say why a failing test stays relaxed."""

    model: str
    kind: str
    adapter_type: str
    failures: list[FailureFacts]  # nodes that errored (could not run)
    failing_tests: list[FailingTestFacts] = []  # data tests that ran and found rows
    rendered_sql: str  # the model's SQL as cartridge wrote it from the spec
    current_spec: SpecAnswer
    current_tests: DataTestsAnswer
    inputs: list[ModelFacts]
    raw_columns: list[ModelColumn] = []  # staging: the source table's columns
    models: list[ModelFacts] = []  # with a failing relationships test: the planned models it may point at


def convention_facts(context: ProjectContext) -> ConventionFacts:
    """The conventions of the context, as the prompts show them."""
    return ConventionFacts.model_validate(
        context.conventions.model_dump(include=set(ConventionFacts.model_fields))
    )


def project_facts(
    context: ProjectContext,
    sources: list[SourceSpec],
    staging_names: dict[str, str],
    share_samples: bool,
    events: set[str] | None = None,
) -> ProjectFacts:
    """The facts of every raw table the sources declare, the existing models that matter and the conventions.

    `staging_names` maps `<source>.<table>` to the staging model name the project's convention gives it;
    `events` names the `<source>.<table>`s whose rows are events (the rules planner's facts): only those are
    offered a `money_event`, so an account's balance and creation date never read as a series to snapshot.
    """
    tables: list[TableFacts] = []
    for raw in context.raw_schemas:
        declared = {t.identifier: f"{s.source_name}.{t.name}" for s in sources for t in s.tables}
        for relation in [r for r in raw.relations if r.identifier in declared]:
            name = declared[relation.identifier]
            facts = table_facts(
                relation, name, staging_names.get(name, ""), raw.keys, declared, share_samples
            )
            if events is not None and name not in events:
                facts.money_event = None
            tables.append(facts)
    relevant = context.relevant
    return ProjectFacts(
        project_name=context.project_name,
        adapter_type=context.adapter_type,
        strategy=context.strategy,
        conventions=convention_facts(context),
        existing_models=[
            ExistingModel.model_validate(e.model_dump(exclude={"signal", "keys"}))
            for e in (relevant.entries if relevant else [])
        ],
        existing_models_left_out=relevant.left_out if relevant else {},
        existing_key_owners=sorted(context.existing_keys.values(), key=lambda o: o.key),
        raw_tables=tables,
    )


def table_facts(
    relation: RawRelation,
    source_table: str,
    staging_model: str,
    keys: SchemaKeys,
    declared: dict[str, str],
    share_samples: bool,
) -> TableFacts:
    """One raw table with its key and foreign keys as the context found them and, when profiled, its counts.

    `declared` maps the identifiers of the tables the sources declare to their `<source>.<table>`.
    """
    references = [
        ForeignKeyFacts(
            columns=fk.columns,
            references=declared.get(fk.ref_identifier, f"{fk.ref_schema}.{fk.ref_identifier}")
            if fk.ref_schema == relation.schema_
            else f"{fk.ref_schema}.{fk.ref_identifier}",
            ref_columns=fk.ref_columns,
            how="declared",
        )
        for fk in relation.foreign_keys
    ]
    references += [
        ForeignKeyFacts(
            columns=[edge.column],
            references=declared[edge.parent],
            ref_columns=[edge.parent_column],
            how=edge.how,
            distinct_values=edge.counts[0] if edge.counts else None,
            missing_from_parent=edge.counts[0] - edge.counts[1] if edge.counts else None,
        )
        for edge in keys.foreign_keys
        if edge.child == relation.identifier and edge.how != "declared" and edge.parent in declared
    ]
    rows = relation.profile.row_count if relation.profile else None
    return TableFacts(
        source_table=source_table,
        schema_name=relation.schema_,
        identifier=relation.identifier,
        relation_type=relation.type,
        comment=relation.comment,
        row_count=rows,
        key=keys.key(relation.identifier),
        foreign_keys=references,
        columns=[_column_facts(c, rows, share_samples) for c in relation.columns],
        staging_model=staging_model,
        money_event=money_event(relation, keys.key(relation.identifier)),
    )


def money_event(relation: RawRelation, key: KeyFacts | None) -> MoneyEventFacts | None:
    """The raw table's event time and money amounts, when the rules would snapshot it daily (`snapshots.py`)."""
    columns = [
        ColumnSpec(name=snake_case(c.name), source_column=c.name, data_type=c.data_type, description="")
        for c in relation.columns
    ]
    time = measures.event_time(relation, columns)
    if time is None or not is_temporal(measures.column_type(time)):
        return None
    keys = {snake_case(k) for k in (key.columns if key else [])} | {
        c.name for c in columns if c.name.endswith("_id")
    }
    money = [
        c
        for c in measures.amounts(relation, columns, keys, any_currency=True)
        if is_money(c) and not measures.is_quantity(c)
    ]
    if not money:
        return None
    return MoneyEventFacts(
        event_time=time.source_column or time.name, money_columns=[c.source_column or c.name for c in money]
    )


def _column_facts(column: RawColumn, rows: int | None, share_samples: bool) -> ColumnFacts:
    return ColumnFacts(
        name=column.name,
        data_type=column.data_type,
        nullable=column.nullable,
        comment=column.comment,
        stats=column_stats(column, rows, share_samples),
    )


def column_stats(column: RawColumn, rows: int | None, share_samples: bool) -> ColumnStats | None:
    """A raw column's profile as prompts show it: counts, and its values only when the user opted in."""
    profile = column.profile
    if profile is None:
        return None
    stats = ColumnStats(
        null_fraction=round(profile.null_count / rows, _ROUNDING) if rows else None,
        distinct_count=profile.distinct_count,
    )
    if rows and profile.null_count == rows and is_whole_number(column.data_type):
        stats.entirely_null = True
    if share_samples:  # values read from the table: only when the user opted in
        stats.min, stats.max, stats.top_values = profile.min, profile.max, profile.top_values
    return stats


def model_columns(spec: AnyModelSpec) -> list[ModelColumn]:
    """A spec's output columns as the prompts show them."""
    return [
        ModelColumn(
            name=c.name, data_type=c.data_type, expression=c.computed(), source_column=c.source_column
        )
        for c in output_columns(spec)
    ]


def described_model(
    model: OutlineModel, spec: ModelSpec | PeriodicSnapshotSpec, table: TableFacts | None
) -> DescribedModel:
    """A specified model as a tests-and-documentation request shows it: each staging column once, with its raw facts."""
    raw = {c.name: c for c in table.columns} if table else {}
    columns = []
    for column in model_columns(spec):
        facts = raw.get(column.source_column or "")
        if column.source_column == column.name:
            column.source_column = None
        columns.append(
            DescribedColumn(
                **column.model_dump(exclude={"description"}),
                nullable=facts.nullable if facts else None,
                comment=facts.comment if facts else None,
                stats=facts.stats if facts else None,
            )
        )
    return DescribedModel(
        model=model,
        grain=grain_of(spec),
        columns=columns,
        table=table.model_copy(update={"columns": []}) if table else None,
    )


def grain_of(spec: AnyModelSpec) -> list[str]:
    """The columns that make a row of the model unique: its grain, an aggregate's group, a history's versions."""
    if isinstance(spec, HistorySpec):
        return [*spec.entity_key, HISTORY_COLUMNS[0]]
    if isinstance(spec, TimeSpineSpec):
        return [spec.column]
    return list(spec.group_by if isinstance(spec, AggregateSpec) else spec.grain)


def planned_model(name: str, spec: AnyModelSpec, all_columns: bool = True) -> ModelFacts:
    """A model planned in this run, with its grain and its columns (or only its key columns, to keep prompts short)."""
    if all_columns:
        return ModelFacts(name=name, planned=True, grain=grain_of(spec), columns=model_columns(spec))
    keys = [c.name for c in output_columns(spec) if c.name in grain_of(spec) or c.name.endswith("_id")]
    return ModelFacts(name=name, planned=True, grain=grain_of(spec), some_columns=keys)


def existing_model(name: str, context: ProjectContext | None) -> ModelFacts:
    """A model of the project as the context knows it: its real columns (typed, transforms said) and grain."""
    if context is None:
        return ModelFacts(name=name, planned=False)
    facts = context.existing.get(name)
    if facts is not None and facts.columns:
        columns = [
            ModelColumn(
                name=c.name,
                data_type=c.data_type,
                expression=c.expression,
                # Every column's, on one line: a new column inherits a description only through lineage, which
                # a request can follow only if it says what the existing columns are (not only the key's).
                description=short_description(c.description),
            )
            for c in facts.columns
        ]
        return ModelFacts(name=name, planned=False, grain=facts.grain, columns=columns)
    # Columns unknown (not built, SQL unreadable): only its keys, which its tests show.
    known = [o.key for o in context.existing_keys.values() if name in (o.staging, o.mart)]
    return ModelFacts(
        name=name, planned=False, grain=facts.grain if facts else [], some_columns=list(dict.fromkeys(known))
    )


def version_key(spec: StagingSpec, table: TableFacts) -> VersionKeyFacts | None:
    """The key and version columns of a versioned raw table as its staging model names them (None: no history)."""
    if table.key is None or table.key.history is None:
        return None
    renamed = {c.source_column: c.name for c in spec.columns if c.source_column}
    return VersionKeyFacts(
        key=[renamed.get(c, c) for c in table.key.columns],
        version_columns=[renamed.get(c, c) for c in table.key.history.version_columns],
    )


def date_columns(
    inputs: Mapping[str, AnyModelSpec], tables: Mapping[str, TableFacts]
) -> list[DateColumnFacts]:
    """The date and timestamp columns of the inputs (model → spec), each with its raw column's profile when it
    stages one (`tables`: `<source>.<table>` → facts)."""
    found = []
    for name, spec in inputs.items():
        raw = {}
        if isinstance(spec, StagingSpec) and (table := tables.get(f"{spec.source_name}.{spec.table}")):
            raw = {c.name: c.stats for c in table.columns}
        for column in output_columns(spec):
            data_type = column.cast_to or column.data_type
            if data_type and is_temporal(data_type):
                stats = raw.get(column.source_column or "")
                found.append(
                    DateColumnFacts(column=f"{name}.{column.name}", data_type=data_type, stats=stats)
                )
    return found


def orphaned_keys(spec: StagingSpec, table: TableFacts) -> list[OrphanedKey] | None:
    """The staged table's foreign keys whose parent lacks some of their values, under the staged names."""
    staged = {c.source_column: c.name for c in spec.columns if c.source_column is not None}
    found = [
        OrphanedKey(
            columns=[staged[c] for c in key.columns],
            references=key.references,
            distinct_values=key.distinct_values,
            missing_from_parent=key.missing_from_parent,
        )
        for key in table.foreign_keys
        if key.missing_from_parent
        and key.distinct_values is not None
        and all(c in staged for c in key.columns)
    ]
    return found or None
