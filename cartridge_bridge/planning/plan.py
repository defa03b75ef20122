"""The execution plan: a reviewable JSON document of what cartridge will write, action by action."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

PLAN_VERSION = 1


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


class ColumnSpec(_Strict):
    """A column of a generated model: where it comes from, what it is, how it is tested."""

    name: str
    expression: str  # SQL expression over the model's input, rendered as `<expression> as <name>`
    data_type: str | None = None
    description: str
    tests: list[DataTest] = []


class SourceTableSpec(_Strict):
    """One raw table declared as a dbt source."""

    name: str
    identifier: str
    quote_identifier: bool = False
    description: str
    columns: list[ColumnSpec]


class SourceSpec(_Strict):
    """A dbt source: one raw schema and the tables cartridge declares in it."""

    kind: Literal["source"] = "source"
    source_name: str
    database: str | None = None
    schema_name: str
    quote_schema: bool = False
    description: str
    tables: list[SourceTableSpec]


class StagingSpec(_Strict):
    """A staging model: one raw table renamed to snake_case with explicit casts."""

    kind: Literal["staging"] = "staging"
    source_name: str
    table: str  # the source table's name in the sources YAML
    entity: str
    primary_key: str | None
    columns: list[ColumnSpec]


class AggregateSpec(_Strict):
    """An intermediate model that re-grains a child model to its parent's key."""

    kind: Literal["aggregate"] = "aggregate"
    from_model: str
    group_key: str
    columns: list[ColumnSpec]  # the group key first, then the aggregates


class MartJoin(_Strict):
    """A model left-joined into a mart on one key, with the columns it contributes."""

    model: str
    alias: str
    key: str
    columns: list[ColumnSpec]  # expressions over the joined model's alias


class MartSpec(_Strict):
    """A dimension or fact: a base model with the aggregates of its children joined on."""

    kind: Literal["mart"] = "mart"
    role: Literal["dimension", "fact"]
    base_model: str
    base_alias: str
    primary_key: str | None
    columns: list[ColumnSpec]  # expressions over the base alias
    joins: list[MartJoin] = []


def output_columns(spec: StagingSpec | AggregateSpec | MartSpec) -> list[ColumnSpec]:
    """The columns a model outputs, in order: its own, then those of its joins."""
    if isinstance(spec, MartSpec):
        return spec.columns + [c for join in spec.joins for c in join.columns]
    return spec.columns


ActionSpec = Annotated[SourceSpec | StagingSpec | AggregateSpec | MartSpec, Field(discriminator="kind")]

ActionType = Literal["create_source", "create_staging", "create_intermediate", "create_mart"]


class PlanAction(_Strict):
    """One step of the plan: a source or model to create, where, and what it depends on."""

    step_id: int
    type: ActionType
    name: str
    file_path: str  # relative to the project root; SQL for models, YAML for sources
    properties_path: str | None = None  # the YAML file that documents and tests a model
    materialized: str | None = None  # set in the model's config block when no folder config covers it
    description: str
    dependencies: list[str] = []  # names of models and sources this action needs
    spec: ActionSpec


class RenderSettings(_Strict):
    """How the plan's files are written: the project's SQL style, documentation habits and dbt flags."""

    nested_test_arguments: bool = True  # dbt ≥1.10 `arguments:` under generic tests
    sql_import_ctes: bool = True
    sql_leading_commas: bool = False
    sql_keyword_case: Literal["lower", "upper"] = "lower"
    sql_indent: int = 4
    describe_models: bool = True
    describe_columns: bool = True


class ExecutionPlan(_Strict):
    """A complete, reviewable integration plan for a set of raw tables."""

    plan_version: int = PLAN_VERSION
    project_name: str
    strategy: Literal["greenfield", "brownfield"]
    planner: str
    adapter_type: str
    actions: list[PlanAction]
    skipped: list[str] = []  # raw tables left out, each with the reason
    # Part of the plan so that applying a reviewed plan writes exactly what was reviewed.
    render: RenderSettings = RenderSettings()

    def models(self) -> list[PlanAction]:
        """The actions that create models (everything but sources)."""
        return [a for a in self.actions if a.type != "create_source"]
