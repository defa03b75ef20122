"""What a model may answer: strict, LLM-facing mirrors of the plan's specs (converted by `conversion`).

An answer holds only what a model decides. What code can derive (the source a staging model reads, the
model an aggregate re-grains, paths, dependencies, materializations) is filled in by the conversion,
so a model cannot get it wrong. Every class forbids extra fields: an answer with a `path` or `sql` is
refused by pydantic and re-asked. Their JSON schemas are what each request sends, so each field's
description says whose columns it names (the raw table's, the model's own output columns, or an input
model's) with a short example; they are kept short because every request pays for them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cartridge_bridge.planning.plan import (
    LOOKBACK_DAYS_LIMIT,
    Aggregation,
    ConditionalFunction,
    JoinCondition,
)

# Characters of a model's one-line reason (a failing test's verdict, a test kept at warn): one line in a report
# and in the test's meta.
REASON_LENGTH = 200


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# What an intermediate or mart model of the outline does (the plan's SPEC_KINDS_OF_TYPE says which layer may).
OutlineKind = Literal["aggregate", "mart", "union", "history", "periodic_snapshot"]


class OutlineModel(_Answer):
    """One model of the plan: what it is, where its rows come from, what one row is."""

    name: str = Field(description="lower-case snake_case, following the project's naming conventions")
    layer: Literal["staging", "intermediate", "marts"]
    source_table: str | None = Field(
        default=None, description="staging only: the `<source>.<table>` it stages, as listed in the data"
    )
    inputs: list[str] = Field(
        default=[],
        description="intermediate: the one model it re-grains; marts: the models it joins (planned or existing)",
    )
    role: Literal["dimension", "fact"] | None = Field(default=None, description="marts only")
    grain: str = Field(description="what one row is, e.g. `one row per order`")
    description: str = Field(description="one or two sentences for the model's documentation")
    materialized: Literal["view", "table", "ephemeral"] | None = Field(
        default=None, description="only when the model needs other than its layer's default"
    )
    kind: OutlineKind | None = Field(
        default=None,
        description="what the model does; default `aggregate` for intermediate, `mart` for marts; "
        "`history` (intermediate), `periodic_snapshot` (marts), `union` (either)",
    )

    def model_kind(self) -> str:
        """The kind the model is specified as: the outline's, else its layer's default."""
        if self.layer == "staging":
            return "staging"
        return self.kind or ("aggregate" if self.layer == "intermediate" else "mart")


class SkippedTable(_Answer):
    """A source table left out on purpose, and why."""

    source_table: str
    reason: str


class SourceTableDescription(_Answer):
    """What a new raw table holds, in one or two sentences for the sources YAML."""

    source_table: str = Field(description="the `<source>.<table>` described, as listed in the data")
    description: str = Field(description="what one row is and what the table is for; no filler")


class PlanOutline(_Answer):
    """Which models to create for the new raw tables, in dependency order, and what each raw table holds."""

    models: list[OutlineModel]
    skipped: list[SkippedTable] = []
    source_tables: list[SourceTableDescription] = Field(
        default=[], description="a description of each raw table the outline stages"
    )


class StagingColumn(_Answer):
    """A staging column: a raw column renamed and cast, or an expression over raw columns."""

    name: str = Field(description="the output column, snake_case, e.g. `customer_id` for raw `CustomerId`")
    source_column: str | None = Field(
        default=None, description="the raw column it reads, spelled exactly as in the data, e.g. `CustomerId`"
    )
    cast_to: str | None = Field(
        default=None, description="with source_column: the SQL type to cast to, e.g. `timestamp`"
    )
    expression: str | None = Field(
        default=None,
        description="instead of source_column: one SQL expression over raw columns, e.g. `lower(email)`",
    )


class LatestFirst(_Answer):
    """One column ordering a key's rows; the first row is kept."""

    column: str = Field(description="an output column (a raw name is read as its output), e.g. `updated_at`")
    descending: bool = Field(default=False, description="true to keep the latest row first")


class DeduplicateAnswer(_Answer):
    """Keep one row per `partition_by`, the first by `order_by`: a history's latest version."""

    partition_by: list[str] = Field(
        description="the key's output columns (raw names are read as their outputs), e.g. [`account_id`]"
    )
    order_by: list[LatestFirst] = Field(
        description='e.g. [{"column": "_fivetran_synced", "descending": true}]'
    )


class StagingAnswer(_Answer):
    """The spec of a staging model over one source table."""

    entity: str = Field(description="the singular snake_case thing one row is, e.g. `order_item`")
    grain: list[str] = Field(
        description="output columns that make a row unique: the table's `key` renamed, e.g. [`order_id`, `line_number`]"
    )
    columns: list[StagingColumn]
    filter: str | None = Field(
        default=None,
        description="a boolean SQL expression over the raw columns (not the output names), e.g. `not _fivetran_deleted`",
    )
    deduplicate: DeduplicateAnswer | None = Field(
        default=None, description="only for a table keeping several rows per key (a `key` with `history`)"
    )


class StagingEntry(StagingAnswer):
    """The spec of one staging model of the request, naming the model."""

    model: str = Field(description="the staging model's name, as in the data")


class StagingBatchAnswer(_Answer):
    """The specs of every staging model the request lists, one entry per model."""

    models: list[StagingEntry]


class ExpressionColumn(_Answer):
    """An output column computed by one SQL expression over the model's inputs."""

    name: str = Field(description="the output column, snake_case, e.g. `number_of_orders`")
    expression: str = Field(
        description="one SQL expression over the input models' columns; in a mart, qualified by their alias, "
        "e.g. `count(*)`, `orders.order_id`"
    )


class ConditionalAggregateAnswer(_Answer):
    """An aggregate over only the input rows where a condition holds, e.g. the amount of succeeded charges."""

    function: ConditionalFunction
    column: str | None = Field(
        default=None,
        description="one plain column of the input model, e.g. `amount`, never an expression; null with `count`",
    )
    where: str = Field(
        description="a boolean SQL expression over one input row's columns, e.g. `status = 'succeeded'`, "
        "`is_opened`"
    )


class AggregateColumn(_Answer):
    """An output column of an intermediate model: one SQL expression, or a conditional aggregate."""

    name: str = Field(description="the output column, snake_case, e.g. `number_of_succeeded_charges`")
    expression: str | None = Field(
        default=None,
        description="one SQL expression over the input model's columns, unqualified, e.g. `count(*)`, "
        "`sum(amount)`; leave out with `aggregate`",
    )
    aggregate: ConditionalAggregateAnswer | None = Field(
        default=None,
        description='instead of expression: e.g. {"function": "sum", "column": "amount", '
        '"where": "status = \'succeeded\'"}',
    )


class AggregateAnswer(_Answer):
    """The spec of an intermediate model that groups its input by some of its columns."""

    group_by: list[str] = Field(description="the input model's columns to group by, e.g. [`customer_id`]")
    columns: list[AggregateColumn] = Field(description="the group columns first, then the aggregates")
    filter: str | None = Field(
        default=None, description="a boolean SQL expression over the input model's columns, e.g. `amount > 0`"
    )


class JoinAnswer(_Answer):
    """A model joined into a mart, on column pairs, with the columns it contributes."""

    model: str = Field(description="a planned or existing model listed in the data")
    alias: str = Field(description="how expressions name this model, e.g. `orders_aggregated`")
    join_type: Literal["left", "inner", "full"] = "left"
    on: list[JoinCondition] = Field(
        description="input models' columns: `left_column` of `left_alias` (the base or an earlier join) "
        "= `right_column` of this model"
    )
    columns: list[ExpressionColumn] = Field(
        description="the columns this model adds, e.g. `orders_aggregated.total`"
    )


class IncrementalAnswer(_Answer):
    """A fact built incrementally on a column that only grows (a loader's timestamp, the event time, an increasing
    id): each run adds only the base model's rows past its newest value built (rows read again replaced by grain)."""

    column: str = Field(
        description="an output column passing the base model's growing column through as it is, e.g. "
        "`_fivetran_synced`"
    )
    lookback_days: int = Field(
        default=0,
        ge=0,
        le=LOOKBACK_DAYS_LIMIT,
        description="days read again before the newest value, for late rows; a date or timestamp column only",
    )


class MartAnswer(_Answer):
    """The spec of a dimension or fact: a base model with other models joined on."""

    base_model: str = Field(description="the planned or existing model one row of the mart comes from")
    base_alias: str = Field(description="how expressions name the base model, e.g. `customers`")
    grain: list[str] = Field(
        description="this mart's output columns that make a row unique, e.g. [`customer_id`]"
    )
    columns: list[ExpressionColumn] = Field(
        description="expressions over the base alias, e.g. `customers.email`"
    )
    joins: list[JoinAnswer] = []
    filter: str | None = Field(
        default=None,
        description="a boolean SQL expression over the inputs' aliased columns, e.g. `orders.amount > 0`",
    )
    incremental: IncrementalAnswer | None = Field(
        default=None,
        description="a fact without joins, over a big growing table only (its `incremental` in the data)",
    )


SpecAnswer = StagingAnswer | AggregateAnswer | MartAnswer


class ColumnTest(_Answer):
    """A generic data test on one column."""

    name: Literal["unique", "not_null", "accepted_values", "relationships"]
    to: str | None = Field(default=None, description="relationships: the model the column points at")
    field: str | None = Field(
        default=None, description="relationships: that model's output column, e.g. `customer_id`"
    )
    values: list[str] | None = Field(default=None, description="accepted_values: every allowed value")
    severity: Literal["warn"] | None = Field(
        default=None, description="`warn` only for a test the data is known to fail, with its `reason`"
    )
    reason: str | None = Field(
        default=None,
        description="with `warn`: one line a reviewer reads, e.g. `3 of 4 account_id values are not account keys`",
    )

    @model_validator(mode="after")
    def _warn_says_why(self) -> ColumnTest:
        """A test kept at warn says why in one line; a reason goes only with warn (it lands in the test's meta)."""
        reason = " ".join((self.reason or "").split())
        if self.severity == "warn" and not 0 < len(reason) <= REASON_LENGTH:
            raise ValueError(f"severity warn needs a `reason` of one line, 1 to {REASON_LENGTH} characters")
        if self.severity is None and self.reason is not None:
            raise ValueError("a `reason` goes only with severity warn; leave it out")
        return self

    def same_test(self, other: ColumnTest) -> bool:
        """The same test of a column (kind and arguments), whatever its severity."""
        return (self.name, self.to, self.field, self.values) == (
            other.name,
            other.to,
            other.field,
            other.values,
        )


class ColumnTests(_Answer):
    """The tests of one output column."""

    column: str = Field(description="an output column of this model, e.g. `customer_id`")
    tests: list[ColumnTest]


class ModelTestAnswer(_Answer):
    """A test on the whole model: a unique combination of columns, or an expression that must hold."""

    name: Literal["unique_combination_of_columns", "expression_is_true"]
    columns: list[str] = Field(
        default=[], description="this model's output columns, e.g. [`order_id`, `line_number`]"
    )
    expression: str | None = Field(
        default=None,
        description="a boolean SQL expression over this model's output columns, e.g. `total >= 0`",
    )


class DataTestsAnswer(_Answer):
    """The data tests of one model."""

    columns: list[ColumnTests]
    model_tests: list[ModelTestAnswer] = []


class ColumnDoc(_Answer):
    """The description of one output column."""

    name: str = Field(description="an output column of this model")
    description: str


class DocsAnswer(_Answer):
    """The documentation of one model."""

    description: str
    columns: list[ColumnDoc]


class DocumentedColumn(_Answer):
    """One output column: its description and its data tests."""

    name: str
    description: str = Field(description='plain sentences; "" when nothing tells more than the name')
    tests: list[ColumnTest] = []


class MetricAnswer(_Answer):
    """A mart's metric: a candidate measure kept (named, labelled, described) or dropped, or a new measure's."""

    measure: str = Field(description="a candidate measure's name, or a new measure's")
    keep: bool = Field(default=True, description="false drops the candidate")
    name: str | None = Field(default=None, description="the metric's snake_case name, e.g. `revenue`")
    label: str = Field(default="", description="e.g. `Revenue`")
    description: str = Field(default="", description="one line")
    agg: Aggregation | None = Field(default=None, description="new measure only")
    expr: str | None = Field(
        default=None,
        description="new measure only: over the mart's columns, e.g. `case when paid then 1 else 0 end`",
    )
    time: str | None = Field(default=None, description="new measure only, if not the default time dimension")


class ModelDocsAndTests(_Answer):
    """The documentation and data tests of one model of the request."""

    model: str = Field(description="the model's name, as in the data")
    description: str = Field(description="what one row is, where it comes from, what it is for")
    columns: list[DocumentedColumn] = Field(description="every output column of the model, exactly once")
    model_tests: list[ModelTestAnswer] = []
    metrics: list[MetricAnswer] = Field(default=[], description="a model listed with `measures` only")


class DocsAndTestsAnswer(_Answer):
    """The documentation and data tests of every model the request lists, one entry per model."""

    models: list[ModelDocsAndTests]


class FailingTestVerdict(_Answer):
    """What the answer does about one data test that failed on the data."""

    test: str = Field(description="the failing test's `node`, as the data lists it")
    verdict: Literal["fixed", "keep_relaxed"] = Field(
        description="`fixed`: the spec or tests above correct the cause (e.g. the right `to` model); "
        "`keep_relaxed`: the test is right to fail on this data and stays, at severity warn"
    )
    reason: str = Field(
        description="one line: what was wrong, or why the data fails the test, e.g. `deals may name accounts "
        "deleted upstream`"
    )


# Shared by the three repair answers; a default, so an answer about a model error alone may leave it out.
_VERDICTS: Any = Field(
    default=[], description="one entry for each failing data test of the data, none otherwise"
)


class StagingRepair(_Answer):
    """A corrected staging model: its whole spec and its whole tests."""

    spec: StagingAnswer
    tests: DataTestsAnswer
    failing_tests: list[FailingTestVerdict] = _VERDICTS


class AggregateRepair(_Answer):
    """A corrected intermediate model: its whole spec and its whole tests."""

    spec: AggregateAnswer
    tests: DataTestsAnswer
    failing_tests: list[FailingTestVerdict] = _VERDICTS


class MartRepair(_Answer):
    """A corrected mart: its whole spec and its whole tests."""

    spec: MartAnswer
    tests: DataTestsAnswer
    failing_tests: list[FailingTestVerdict] = _VERDICTS


ANSWER_OF_KIND: dict[str, type[SpecAnswer]] = {
    "staging": StagingAnswer,
    "aggregate": AggregateAnswer,
    "mart": MartAnswer,
}
REPAIR_OF_KIND: dict[str, type[StagingRepair | AggregateRepair | MartRepair]] = {
    "staging": StagingRepair,
    "aggregate": AggregateRepair,
    "mart": MartRepair,
}


class HistoryAnswer(_Answer):
    """The spec of a type-2 history over its one input, a staging model keeping every version of a key.

    Cartridge carries the input's columns (not a loader's), adds `valid_from`, `valid_to` and `is_current`, and
    tests that versions do not overlap.
    """

    entity_key: list[str] = Field(
        description="the input's columns naming what changes (the table's key, renamed), e.g. [`account_id`]"
    )
    valid_from: str = Field(description="the input's date or timestamp column a version starts at")
    valid_to: str | None = Field(
        default=None,
        description="the input's column a version ends at, only when the loader writes one (e.g. `_fivetran_end`); "
        "otherwise the next version's start",
    )
    tie_breaker: list[LatestFirst] = Field(
        description="the input's columns ordering versions that start at the same time, the kept one first, "
        'e.g. [{"column": "_fivetran_synced", "descending": true}]'
    )


class SnapshotEntityAnswer(_Answer):
    """What each period is crossed with: every distinct value (combination) of `columns` in `model`."""

    model: str = Field(description="an input model: a dimension, or the event model itself")
    columns: list[str] = Field(description="that model's key columns, e.g. [`account_id`] or [`currency`]")
    event_columns: list[str] = Field(
        default=[], description="the event model's columns holding the same key, when named otherwise"
    )


class SnapshotMeasureAnswer(_Answer):
    """A measure of each period: one aggregate of the event rows dated in it."""

    name: str = Field(description="the output column, snake_case, e.g. `total_amount`")
    expression: str = Field(description="one aggregate over the event model's columns, e.g. `sum(amount)`")
    description: str = Field(description="one line for the documentation")
    when_no_event: Literal["zero", "null"] = Field(
        default="zero", description="`null` for a min, max or average; a sum or count of nothing is 0"
    )


class SnapshotStateColumn(_Answer):
    """A column of the history's version current at each period's end."""

    name: str = Field(description="the output column, snake_case, e.g. `plan`")
    expression: str = Field(description="one expression over the alias `state`, e.g. `state.plan`")
    description: str = Field(description="one line for the documentation")


class SnapshotStateAnswer(_Answer):
    """A history input joined as of each period's end: the version that had begun and not yet ended."""

    model: str = Field(description="an input model of kind history")
    key_columns: list[str] = Field(
        description="the history's columns holding the entity's key, in the entity's order, e.g. [`account_id`]"
    )
    columns: list[SnapshotStateColumn]


class PeriodicSnapshotAnswer(_Answer):
    """The spec of a periodic snapshot: one row per day, week or month (per entity) with the period's measures.

    The periods run from the period of the event time's first value to that of its last (`today`: to now).
    """

    period: Literal["day", "week", "month"]
    event_model: str = Field(description="the input whose rows are the events, e.g. a transactions model")
    event_time: str = Field(description="the event model's date or timestamp column dating each row")
    event_filter: str | None = Field(
        default=None,
        description="a boolean SQL expression over the event model's columns, e.g. `status = 'paid'`",
    )
    entity: SnapshotEntityAnswer | None = Field(
        default=None, description="none: one row per period; else one row per period and entity"
    )
    measures: list[SnapshotMeasureAnswer]
    end: Literal["data", "today"] = Field(
        default="data", description="`today` when the periods must reach the build day (a running balance)"
    )
    state: SnapshotStateAnswer | None = Field(
        default=None,
        description="with an entity: a history's columns as of each period's end (e.g. the plan)",
    )


class UnionColumnAnswer(_Answer):
    """An output column of a union and the SQL type every input's expression is cast to."""

    name: str = Field(description="snake_case, e.g. `amount`")
    data_type: str = Field(description="a plain SQL type, e.g. `decimal(18,2)`, `varchar`, `date`")


class UnionMapping(_Answer):
    """One output column of the union as one input fills it."""

    column: str = Field(description="an output column of the union (not the source column)")
    expression: str = Field(
        description="one scalar expression over THIS input's columns, unqualified: a column, a literal, "
        "`-amount`, `null`; no aggregate"
    )


class UnionInputAnswer(_Answer):
    """One input of the union: its rows kept one for one, each output column mapped."""

    model: str = Field(description="an input model, as listed in the data")
    label: str | None = Field(
        default=None,
        description="the source column's value on its rows (plain text); default its model's name",
    )
    columns: list[UnionMapping] = Field(description="every output column but the source column, once")


class UnionAnswer(_Answer):
    """The spec of a union: several models with lines of one shape stacked with `union all`."""

    columns: list[UnionColumnAnswer] = Field(
        description="the output columns in order, the source column among them (a text type)"
    )
    source_column: str = Field(
        default="source_model", description="the output column holding each row's input label"
    )
    inputs: list[UnionInputAnswer] = Field(description="two or more inputs")
    grain: list[str] = Field(
        description="output columns unique across the union, e.g. [`source_model`, `line_id`]"
    )


KindAnswer = HistoryAnswer | PeriodicSnapshotAnswer | UnionAnswer
# The answers of the kinds the outline chooses beyond a layer's default (the phase and prompt share the name).
ANSWER_OF_OUTLINE_KIND: dict[str, type[KindAnswer]] = {
    "history": HistoryAnswer,
    "periodic_snapshot": PeriodicSnapshotAnswer,
    "union": UnionAnswer,
}
