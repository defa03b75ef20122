"""The execution plan: a reviewable JSON document of what cartridge will write, action by action.

The plan is the one contract between a planner (the rules, the LLM or another in the registry) and
everything after it. It is also input: people edit plan files and LLMs write them, so every field is
checked by `planning.checks` before anything is rendered. The specs are typed descriptions of models,
never SQL files: the renderer writes the SQL from them with cartridge's own templates.
"""

from __future__ import annotations

import datetime
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from cartridge_bridge.config import SourceFreshness, check_list_indents

# 2: grain lists, explicit join conditions, filters, de-duplication, model tests and config.
# 3: the shapes of analytics layers (unions, type-2 histories, periodic snapshots, window columns, conditional
#    aggregates, incremental facts, an aggregate's joins before grouping). A version-2 file is a version-3 plan that
#    uses none of them, so it still reads.
PLAN_VERSION = 3
READABLE_PLAN_VERSIONS = (2, 3)

Layer = Literal["staging", "intermediate", "marts"]
Materialization = Literal["view", "table", "incremental", "ephemeral"]


LABEL_LIMIT = 100  # e.g. `llm:ollama/qwen2.5-coder:32b-instruct-q4_K_M` fits
PATH_LIMIT = 512  # a path in a dbt project; 255 is the usual limit of one part of it


def _label(value: str) -> str:
    """A short printable label (the planner's name): what a report prints, refused before it is printed."""
    if not value or len(value) > LABEL_LIMIT or not value.isprintable():
        raise ValueError(
            f"must be a printable label of 1 to {LABEL_LIMIT} characters, with no control character"
        )
    return value


def _project_path(value: str) -> str:
    """A file path short enough for any filesystem, with no control character, refused before any rendering."""
    if len(value) > PATH_LIMIT:
        raise ValueError(f"is {len(value):,} characters long; a path in the project has at most {PATH_LIMIT}")
    if any(len(part) > 255 for part in PurePosixPath(value).parts):
        raise ValueError("has a part longer than 255 characters, more than a filesystem allows")
    if not value.isprintable():
        raise ValueError("holds a control or invisible character")
    return value


Label = Annotated[str, AfterValidator(_label)]
ProjectPath = Annotated[str, AfterValidator(_project_path)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataTest(_Strict):
    """A generic data test on a column: unique, not_null, accepted_values or relationships."""

    name: Literal["unique", "not_null", "accepted_values", "relationships"]
    to: str | None = None  # relationships: the model the column points at
    field: str | None = None  # relationships: the column there
    values: list[str] | None = None  # accepted_values
    severity: Literal["error", "warn"] = "error"
    note: str | None = None  # why cartridge relaxed or added the test, kept in the test's meta
    # The LLM planner's one-line reason for keeping a test that fails on the data at warn (meta cartridge_relaxed).
    relaxed_reason: str | None = None


class ModelTest(_Strict):
    """A data test on the whole model: a combination of columns that is unique, or an expression that holds."""

    name: Literal["unique_combination_of_columns", "expression_is_true", "versions_do_not_overlap"]
    # unique_combination_of_columns: the grain; versions_do_not_overlap: the entity key
    columns: list[str] = []
    expression: str | None = None  # expression_is_true: a boolean SQL expression over the model's columns
    severity: Literal["error", "warn"] = "error"
    note: str | None = None
    relaxed_reason: str | None = None
    # versions_do_not_overlap: the columns a version's validity starts and ends at (an end null: still valid).
    valid_from: str | None = None
    valid_to: str | None = None


ConditionalFunction = Literal["sum", "count", "count_distinct", "min", "max", "avg"]


class ConditionalAggregate(_Strict):
    """An aggregate over the rows where a condition holds: `sum(case when <where> then <column> end)`.

    Written with `case` rather than `filter (where …)`, which not every warehouse reads; a `column` of null
    counts rows (`count(case when <where> then 1 end)`).
    """

    function: ConditionalFunction
    column: str | None = None  # a column of the model's input; null only with `count`
    where: str  # a boolean SQL expression over the input's columns, with no aggregate or window of its own

    def sql(self) -> str:
        """The portable SQL of the aggregate (the parts are checked by the plan checks and again on render)."""
        value = "1" if self.column is None else self.column
        function = "count" if self.function == "count_distinct" else self.function
        distinct = "distinct " if self.function == "count_distinct" else ""
        return f"{function}({distinct}case when ({self.where}) then {value} end)"


class ColumnSpec(_Strict):
    """A column of a generated model: where it comes from, what it is, how it is tested.

    A staging column names its raw column (`source_column`, quoted for the adapter by the renderer)
    and the type to cast it to; every other column is a SQL `expression` over the model's inputs.
    """

    name: str
    expression: str | None = None  # rendered as `<expression> as <name>`
    source_column: str | None = None  # the raw column, exactly as in the warehouse
    # An aggregate model's column: a conditional aggregate, instead of an `expression` (plan version 3).
    aggregate: ConditionalAggregate | None = None
    cast_to: str | None = None  # with source_column: `cast(<raw column> as <cast_to>)`
    data_type: str | None = None  # documented in the properties file
    description: str
    # A doc block of the project the description ends with, written `{{ doc('<name>') }}` by the renderer:
    # a block inherited through lineage stays a reference, never flattened text (checked against the manifest).
    description_doc: str | None = None
    tests: list[DataTest] = []

    def computed(self) -> str | None:
        """The SQL the column is computed by: its `expression`, or its conditional aggregate's SQL."""
        return self.aggregate.sql() if self.aggregate is not None else self.expression


class SourceTableSpec(_Strict):
    """One raw table declared as a dbt source."""

    name: str
    identifier: str
    quote_identifier: bool = False
    description: str
    columns: list[ColumnSpec]
    # The column holding when the loader wrote each row (one of `columns`, a timestamp), and how old its newest
    # value may be: `dbt source freshness` checks them. Both or neither.
    loaded_at_field: str | None = None
    freshness: SourceFreshness | None = None


class SourceSpec(_Strict):
    """A dbt source: one raw schema and the tables cartridge declares in it."""

    kind: Literal["source"] = "source"
    source_name: str
    database: str | None = None
    schema_name: str
    quote_schema: bool = False
    description: str
    tables: list[SourceTableSpec]


class OrderBy(_Strict):
    """One ordering column."""

    column: str
    descending: bool = False


class Deduplicate(_Strict):
    """Keep one row per `partition_by`: the first by `order_by` (e.g. the latest version of a history row)."""

    partition_by: list[str]
    order_by: list[OrderBy]


class StagingSpec(_Strict):
    """A staging model: one raw table renamed to snake_case with explicit casts."""

    kind: Literal["staging"] = "staging"
    source_name: str
    table: str  # the source table's name in the sources YAML
    entity: str
    grain: list[str] = []  # the columns that make a row unique (the primary key, or a composite key)
    columns: list[ColumnSpec]
    # A boolean SQL expression over the raw columns. With `deduplicate` it applies after the latest row per
    # key is picked (a latest version marked deleted drops the key, never lets an older version back).
    filter: str | None = None
    deduplicate: Deduplicate | None = None  # over the staged columns, after renaming


class JoinCondition(_Strict):
    """`<left_alias>.<left_column> = <join alias>.<right_column>`."""

    left_alias: str  # the base alias or the alias of an earlier join
    left_column: str
    right_column: str


class InputJoin(_Strict):
    """A model joined to an aggregate's input rows before grouping, many-to-one on its key, and the columns it
    adds to each row: row-level expressions over the aliases in scope, read by name after the join."""

    model: str
    alias: str
    join_type: Literal["left", "inner"] = "left"  # inner: rows without a match are left out before grouping
    on: list[JoinCondition]
    columns: list[ColumnSpec]


class AggregateSpec(_Strict):
    """An intermediate model that re-grains a model to `group_by` (a parent's key, or any grouping).

    With `joins`, each input row first takes columns of the models it points at (a refund its payment's
    method and order): every join must reach one row at most, on the joined model's proved key, so grouping
    sees each input row once. The group keys, columns and filter then read the joined columns by name like
    the input's own.
    """

    kind: Literal["aggregate"] = "aggregate"
    from_model: str
    group_by: list[str]
    columns: list[ColumnSpec]  # the group columns first (expression = the column), then the aggregates
    filter: str | None = None  # a boolean SQL expression over the input's columns, before grouping
    # Plan version 3: the input's alias in the join conditions (required with joins), and the many-to-one joins.
    from_alias: str | None = None
    joins: list[InputJoin] = []


# The columns a history model adds to the columns it carries, and those its template computes on the way.
HISTORY_COLUMNS = ("valid_from", "valid_to", "is_current")
HISTORY_WORK_COLUMNS = ("cartridge_tie_rank", "cartridge_next_valid_from", "cartridge_loader_valid_to")


class HistorySpec(_Strict):
    """A type-2 dimension: every version of an entity, from a model that keeps them all, dated and flagged.

    One row per entity key and `valid_from` (versions of one entity starting together are a tie: the first by
    `tie_breaker` is kept). `valid_to` is the loader's end column when it has one, else the next version's start;
    null for the current version, which `is_current` flags. The state as of a time `t` is the rows with
    `valid_from <= t and (valid_to is null or t < valid_to)`.
    """

    kind: Literal["history"] = "history"
    from_model: str
    entity_key: list[str]  # columns of `from_model`, each carried under its own name in `columns`
    valid_from: str  # the column of `from_model` a version starts at
    valid_to: str | None = None  # the loader's column a version ends at; none: the next version's start
    # Columns of `from_model` ordering versions that start together; the first is kept.
    tie_breaker: list[OrderBy]
    # The carried columns: expressions over `from_model`'s columns, the key among them.
    columns: list[ColumnSpec]


class MartJoin(_Strict):
    """A model joined into a mart on one or more column pairs, with the columns it contributes."""

    model: str
    alias: str
    join_type: Literal["left", "inner", "full"] = "left"
    on: list[JoinCondition]
    columns: list[ColumnSpec]  # expressions over the joined model's alias (and the others)


class MartSpec(_Strict):
    """A dimension or fact: a base model with other models joined on (aggregates, dimensions, anything)."""

    kind: Literal["mart"] = "mart"
    role: Literal["dimension", "fact"]
    base_model: str
    base_alias: str
    grain: list[str] = []
    columns: list[ColumnSpec]  # expressions over the base alias
    joins: list[MartJoin] = []
    filter: str | None = None  # a boolean SQL expression over the aliases


class TimeSpineSpec(_Strict):
    """The day-by-day date table dbt's semantic layer joins metrics to (dbt ≥1.9 `time_spine:` properties).

    Rendered by cartridge's template over `dbt.date_spine`; the dates are dates, so nothing else reaches the SQL.
    """

    kind: Literal["time_spine"] = "time_spine"
    column: str = "date_day"  # the standard_granularity_column, at day granularity
    start_date: datetime.date
    end_date: datetime.date  # exclusive, as dbt.date_spine takes it


SnapshotPeriod = Literal["day", "week", "month"]
# The columns the cartridge package's `period_spine` macro outputs: a period's first day, the next one's, and
# the period's own last day.
SPINE_COLUMNS = ("period_start", "period_end", "period_last_day")


class SpineBounds(_Strict):
    """Where a periodic snapshot's spine starts and ends: the first and last value of one column of one model.

    The spine starts at the period holding the column's minimum. It ends at the period holding its maximum
    (`end: data`: data that stopped in the past ends the spine there), or at the period holding the day the
    model is built (`end: today`: the last periods carry 0 until new data comes).
    """

    model: str
    column: str  # a date or timestamp column of `model`
    end: Literal["data", "today"] = "data"


class SnapshotEntity(_Strict):
    """What each period is crossed with: every distinct combination of `columns` in `model` (nulls left out).

    `model` may be a dimension (each customer) or the event model itself (each currency it holds);
    `event_columns` are the event model's columns holding the same key, in order (default: the same names).
    """

    model: str
    columns: list[str]
    event_columns: list[str] = []


class SnapshotMeasure(ColumnSpec):
    """An aggregate of the event model's rows whose event time falls in the period (for the entity).

    `expression` is one aggregate over the event model's columns (`sum(amount)`, `count(*)`); a period with
    no event holds 0 (`when_no_event: zero`, a sum or a count of nothing) or null (a min, a max, an average).
    `running`: the sum of the period's values over the entity's periods up to and including this one (what had
    been invoiced by each month's end), for a sum or a count only.
    """

    when_no_event: Literal["zero", "null"] = "zero"
    running: bool = False


class SnapshotState(_Strict):
    """Columns of a type-2 history joined as of each period's end: the version that began before the next
    period starts and had not ended by then (`valid_to` null or later: the current version)."""

    model: str
    valid_from: str
    valid_to: str
    key_columns: list[str]  # the history's columns holding the entity's key, in the entity's order
    columns: list[ColumnSpec]  # expressions over the alias `state`


class PeriodicSnapshotSpec(_Strict):
    """One row per period (day, week or month) per entity, with the period's measures and the state as of it.

    The spine comes from the cartridge package's `period_spine` macro; its grain is the period column plus
    the entity's columns. A `running` measure is the running total of its period values per entity.
    """

    kind: Literal["periodic_snapshot"] = "periodic_snapshot"
    period: SnapshotPeriod
    period_column: str = "period_start"  # the first day of each period, a date
    # The last day of each period, a date, when set: where a balance "at each month-end" is keyed.
    period_end_column: str | None = None
    bounds: SpineBounds
    event_model: str
    event_time: str  # the event model's column dating each row; its period is the row's period
    event_filter: str | None = None  # a boolean SQL expression over the event model's columns
    entity: SnapshotEntity | None = None
    measures: list[SnapshotMeasure] = []
    state: SnapshotState | None = None

    @property
    def grain(self) -> list[str]:
        """What makes a row unique: the period, then the entity's key."""
        return [self.period_column, *(self.entity.columns if self.entity else [])]

    def output_columns(self) -> list[ColumnSpec]:
        """The period, the entity's key, the measures, the state's columns."""
        # The spine makes the period never null, and unique when no entity multiplies it.
        tests = [DataTest(name="not_null"), *([] if self.entity else [DataTest(name="unique")])]
        period = ColumnSpec(
            name=self.period_column,
            data_type="date",
            description={"day": "The day.", "week": "The week's Monday.", "month": "The month's first day."}[
                self.period
            ],
            tests=tests,
        )
        ends = [
            ColumnSpec(
                name=end,
                data_type="date",
                description=f"The {self.period}'s last day.",
                tests=[DataTest(name="not_null")],
            )
            for end in ([self.period_end_column] if self.period_end_column else [])
        ]
        keys = [
            ColumnSpec(name=c, description=f"The {c} each row is about.")
            for c in (self.entity.columns if self.entity else [])
        ]
        return [
            period,
            *ends,
            *keys,
            *self.measures,
            *(self.state.columns if self.state else []),
        ]

    def inputs(self) -> list[str]:
        """The models it reads, each once: the events, the bounds' model, the entities', the history."""
        models = [self.event_model, self.bounds.model]
        models += [self.entity.model] if self.entity else []
        models += [self.state.model] if self.state else []
        return list(dict.fromkeys(models))


class UnionInput(_Strict):
    """One input of a union: a model, the label its rows carry, and each output column's expression over it."""

    model: str
    label: str | None = None  # the source column's value on this input's rows; the model's name when left out
    # Output column → one scalar SQL expression over this input's columns (a column, a literal, a cast, `null`).
    columns: dict[str, str]


class UnionSpec(_Strict):
    """Several models stacked into one (`union all`): a general ledger of every transaction type's lines.

    Every output column declares its `data_type` and every input's expression is cast to it, so the inputs
    agree on types on every warehouse. `source_column` (one of `columns`) says which input each row came from.
    """

    kind: Literal["union"] = "union"
    inputs: list[UnionInput]
    source_column: str = "source_model"
    columns: list[ColumnSpec]  # the output columns, in order, the source column among them; no expression
    grain: list[str] = []  # across the union: typically the source column + each input's key


ModelSpec = StagingSpec | AggregateSpec | MartSpec | UnionSpec
AnyModelSpec = (
    StagingSpec | AggregateSpec | MartSpec | TimeSpineSpec | UnionSpec | HistorySpec | PeriodicSnapshotSpec
)
ActionSpec = Annotated[
    SourceSpec
    | StagingSpec
    | AggregateSpec
    | MartSpec
    | TimeSpineSpec
    | UnionSpec
    | HistorySpec
    | PeriodicSnapshotSpec,
    Field(discriminator="kind"),
]

ActionType = Literal[
    "create_source",
    "create_staging",
    "create_intermediate",
    "create_mart",
    "create_time_spine",
    "modify_in_place",
]
# Which specs each action type may carry: the type names the layer, the spec says what the model does.
SPEC_KINDS_OF_TYPE: dict[str, tuple[str, ...]] = {
    "create_source": ("source",),
    "create_staging": ("staging",),
    # history: a type-2 dimension; mart: its current state (the history filtered on is_current), which others join
    "create_intermediate": ("aggregate", "union", "history", "mart"),
    "create_mart": ("mart", "union", "periodic_snapshot"),
    "create_time_spine": ("time_spine",),
    # An existing mart extended in its own file: its SQL wrapped as it is, the spec's joins adding the new measures.
    "modify_in_place": ("mart",),
}
LAYER_OF_TYPE: dict[str, Layer] = {
    "create_staging": "staging",
    "create_intermediate": "intermediate",
    "create_mart": "marts",
    "create_time_spine": "marts",
    "modify_in_place": "marts",
}


def output_columns(spec: AnyModelSpec) -> list[ColumnSpec]:
    """The columns a model outputs, in order: its own, then those of its joins."""
    if isinstance(spec, MartSpec):
        return spec.columns + [c for join in spec.joins for c in join.columns]
    if isinstance(spec, TimeSpineSpec):
        return [ColumnSpec(name=spec.column, data_type="date", description="One row per calendar day.")]
    if isinstance(spec, HistorySpec):
        return spec.columns + history_columns(spec)
    if isinstance(spec, PeriodicSnapshotSpec):
        return spec.output_columns()
    return spec.columns


def history_columns(spec: HistorySpec) -> list[ColumnSpec]:
    """The columns a history model adds after those it carries: its versions' validity and the current flag."""
    valid_from, valid_to, is_current = HISTORY_COLUMNS
    return [
        ColumnSpec(name=valid_from, description="When this version became the state."),
        ColumnSpec(
            name=valid_to,
            description="When the next version replaced this one; null while this version is the current state.",
        ),
        ColumnSpec(
            name=is_current,
            data_type="boolean",
            description="True for the entity's latest version, the one the current-state model keeps.",
        ),
    ]


def model_inputs(spec: AnyModelSpec) -> list[str]:
    """The models (by name) and sources (as `source.table`) a spec selects from, in order."""
    if isinstance(spec, StagingSpec):
        return [f"{spec.source_name}.{spec.table}"]
    if isinstance(spec, AggregateSpec):
        return list(dict.fromkeys([spec.from_model, *(join.model for join in spec.joins)]))
    if isinstance(spec, HistorySpec):
        return [spec.from_model]
    if isinstance(spec, TimeSpineSpec):
        return []
    if isinstance(spec, UnionSpec):
        # One model may feed several inputs (a payment's cash side and its receivable side): selected once.
        return list(dict.fromkeys(branch.model for branch in spec.inputs))
    if isinstance(spec, PeriodicSnapshotSpec):
        return spec.inputs()
    return [spec.base_model, *(join.model for join in spec.joins)]


# The semantic layer (dbt semantic models and metrics, queried with MetricFlow). Every name is checked in the
# plan's grammar, every `expr` is one safe expression over the mart's columns, every description neutralized.
Aggregation = Literal["sum", "count", "count_distinct", "min", "max"]
TimeGranularity = Literal["day", "week", "month", "quarter", "year"]


class SemanticEntity(_Strict):
    """A key of the mart: `primary` from its grain, `foreign` for a key another mart is at the grain of."""

    name: str  # the entity (`customer`): semantic models sharing it can be joined on it
    type: Literal["primary", "foreign", "unique"]
    column: str  # the mart's column holding it


class SemanticDimension(_Strict):
    """A column to group or filter by: categorical, or a time with its granularity."""

    name: str  # a column of the mart
    type: Literal["categorical", "time"]
    time_granularity: TimeGranularity | None = None  # time dimensions only
    description: str = ""


class SemanticMeasure(_Strict):
    """An aggregation over the mart's rows: a column's sum, a count, or a checked expression's (a flag's count)."""

    name: str
    agg: Aggregation
    expr: str  # a column of the mart, or one SQL expression over its columns with no aggregate of its own
    description: str = ""
    agg_time_dimension: str | None = None  # when the measure happens at another time than the model's default


class SemanticMetric(_Strict):
    """A simple metric over one measure: what people ask for by name."""

    name: str
    label: Label
    description: str = ""
    measure: str


class SemanticModelSpec(_Strict):
    """A mart described to dbt's semantic layer: its entities, dimensions, measures and simple metrics."""

    name: str
    description: str = ""
    primary_entity: str | None = None  # a grain of several columns has no primary entity column
    agg_time_dimension: str | None = None  # the mart's event time; needed when it has measures
    entities: list[SemanticEntity] = []
    dimensions: list[SemanticDimension] = []
    measures: list[SemanticMeasure] = []
    metrics: list[SemanticMetric] = []


# dbt's own values for what an incremental model does when its select gains or loses columns.
OnSchemaChange = Literal["ignore", "fail", "append_new_columns", "sync_all_columns"]
LOOKBACK_DAYS_LIMIT = 366  # a longer window re-reads so much that a full rebuild is the honest choice


class IncrementalConfig(_Strict):
    """How an incremental fact picks up only new rows: those whose growing column passed the table's newest value.

    `column` is an output column the mart selects as it is from its base model (a loader timestamp such as
    `_fivetran_synced`, an event time, an increasing id). A run reads the rows at or past its newest value, or
    `lookback_days` before it, so late-arriving rows are caught; `unique_key` replaces the rows read again.
    """

    column: str
    lookback_days: int = Field(default=0, ge=0, le=LOOKBACK_DAYS_LIMIT)  # a date or timestamp column only
    # `fail` by default: a changed select never leaves old rows under a half-changed table; a full refresh rebuilds.
    on_schema_change: OnSchemaChange = "fail"


class ModelConfig(_Strict):
    """The dbt config a model needs, written in its `config()` block."""

    materialized: Materialization | None = None  # None: the folder's config in dbt_project.yml covers it
    unique_key: list[str] = []  # incremental models
    tags: list[str] = []
    incremental: IncrementalConfig | None = None  # with `materialized: incremental`: the filter on new rows


class ModifiedFile(_Strict):
    """The project file an in-place action edits, and the SHA-256 of its text when the plan was made: applying
    the plan to a file that changed since is refused."""

    path: ProjectPath
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class PlanAction(_Strict):
    """One step of the plan: a source or model to create (or an existing mart to extend), where, and what it
    depends on."""

    step_id: int
    type: ActionType
    name: str
    file_path: ProjectPath  # relative to the project root; SQL for models, YAML for sources
    properties_path: ProjectPath | None = None  # the YAML file that documents and tests a model
    config: ModelConfig = ModelConfig()
    description: str
    dependencies: list[str] = []  # derived from the spec by placement; checked again on apply
    spec: ActionSpec
    tests: list[ModelTest] = []  # model-level data tests
    semantic_model: SemanticModelSpec | None = None  # marts only; absent in plans made without them
    # The project's own YAML files for the semantic model and for its metrics; None: the properties file, and
    # the semantic model's file.
    semantic_model_path: ProjectPath | None = None
    metrics_path: ProjectPath | None = None
    modifies: ModifiedFile | None = None  # modify_in_place only: the existing mart's SQL file as planned


def action_inputs(action: PlanAction) -> list[str]:
    """What an action's model selects from; an in-place edit's own mart is its SQL, not an input."""
    assert not isinstance(action.spec, SourceSpec)
    inputs = model_inputs(action.spec)
    return [i for i in inputs if i != action.name] if action.type == "modify_in_place" else inputs


class RenderSettings(_Strict):
    """How the plan's files are written: the project's SQL style, documentation habits and dbt flags."""

    nested_test_arguments: bool = True  # dbt ≥1.10 `arguments:` under generic tests
    sql_import_ctes: bool = True
    sql_leading_commas: bool = False
    sql_keyword_case: Literal["lower", "upper"] = "lower"
    sql_indent: int = Field(default=4, ge=1, le=8)
    describe_models: bool = True
    describe_columns: bool = True
    # The project's YAML dialect (see Conventions): the tests key, `version: 2`, `data_type` on columns, list indents.
    yaml_test_key: Literal["data_tests", "tests"] = "data_tests"
    yaml_version_header: bool = False
    yaml_column_types: bool = True
    yaml_sequence_indent: int = Field(default=4, ge=2, le=12)
    yaml_sequence_offset: int = Field(default=2, ge=0, le=10)
    yaml_mapping_indent: int = Field(default=2, ge=1, le=8)
    yaml_flow_values: bool = False

    @field_validator("yaml_sequence_offset")
    @classmethod
    def _dash_left_of_items(cls, offset: int, info: ValidationInfo) -> int:
        return check_list_indents(info.data.get("yaml_sequence_indent"), offset)


class ExecutionPlan(_Strict):
    """A complete, reviewable integration plan for a set of raw tables."""

    plan_version: int = PLAN_VERSION  # a version-2 file reads as is; it is written back as version 3
    project_name: str
    strategy: Literal["greenfield", "brownfield"]
    planner: Label
    adapter_type: str
    actions: list[PlanAction]
    skipped: list[str] = []  # raw tables left out, each with the reason
    # Part of the plan so that applying a reviewed plan writes exactly what was reviewed.
    render: RenderSettings = RenderSettings()

    def models(self) -> list[PlanAction]:
        """The actions that create models (everything but sources, the time spine included)."""
        return [a for a in self.actions if a.type != "create_source"]


def count_tests(plan: ExecutionPlan) -> tuple[int, int]:
    """How many data tests the plan declares: on columns, and on whole models (a composite grain's)."""
    on_columns = on_models = 0
    for action in plan.models():
        if not isinstance(action.spec, SourceSpec):
            on_columns += sum(len(column.tests) for column in output_columns(action.spec))
            on_models += len(action.tests)
    return on_columns, on_models


def undescribed_columns(plan: ExecutionPlan) -> list[str]:
    """`model.column` for each model column the plan leaves undescribed (none when the project does not describe)."""
    if not plan.render.describe_columns:
        return []
    return [
        f"{action.name}.{column.name}"
        for action in plan.models()
        if not isinstance(action.spec, SourceSpec)
        for column in output_columns(action.spec)
        if not column.description.strip() and column.description_doc is None
    ]
