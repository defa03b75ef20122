"""The seam every planner fills: a Planner turns the ProjectContext into drafts of what each model is.

A draft says what a model *is* (its layer, name, spec, description and tests); it says nothing
about where files go, how models are materialized or what depends on what. `placement.place`
decides those from the project's conventions and the specs themselves, so no planner (the rules
planner, the LLM planner, or one added later) can put a file outside the model paths or claim a
dependency that its SQL does not have.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    HistorySpec,
    IncrementalConfig,
    Layer,
    MartSpec,
    Materialization,
    ModelTest,
    PeriodicSnapshotSpec,
    SemanticModelSpec,
    SourceSpec,
    StagingSpec,
    TimeSpineSpec,
    UnionSpec,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceDraft(_Strict):
    """A raw schema to declare as a dbt source."""

    description: str
    spec: SourceSpec


class ModelDraft(_Strict):
    """One model a planner wants: what it is, not where it goes."""

    name: str
    layer: Layer
    description: str
    spec: StagingSpec | AggregateSpec | MartSpec | UnionSpec
    tests: list[ModelTest] = []
    semantic_model: SemanticModelSpec | None = None  # marts: how the semantic layer sees them
    materialized: Materialization | None = None  # only when the model needs other than its layer's default
    unique_key: list[str] = []
    tags: list[str] = []
    incremental: IncrementalConfig | None = None  # with materialized incremental: the column that only grows


class HistoryDraft(_Strict):
    """A type-2 history a planner wants, in the intermediate layer.

    Apart from ModelDraft because its SQL is cartridge's own, like the time spine's: the LLM planner's phases
    describe, test and repair ModelDraft specs, and a history needs none of them.
    """

    name: str
    layer: Layer = "intermediate"
    description: str
    spec: HistorySpec
    tests: list[ModelTest] = []  # its grain and the overlap test
    semantic_model: None = None
    materialized: Materialization | None = None
    unique_key: list[str] = []
    tags: list[str] = []
    incremental: None = None  # rebuilt whole: a history's versions change as its source is re-synced


class SnapshotDraft(_Strict):
    """A periodic snapshot a planner wants: a mart of cartridge's own SQL, which no LLM answer rewrites."""

    name: str
    layer: Layer = "marts"
    description: str
    spec: PeriodicSnapshotSpec
    tests: list[ModelTest] = []
    semantic_model: None = None
    materialized: Materialization | None = None
    unique_key: list[str] = []
    tags: list[str] = []
    incremental: None = None  # a snapshot is rebuilt whole: its spine ends where the newest data does


class PlanDraft(_Strict):
    """Everything a planner proposes for the context, in the order it was planned."""

    sources: list[SourceDraft] = []
    models: list[ModelDraft] = []
    snapshots: list[SnapshotDraft] = []  # placed after the models, which they read
    skipped: list[str] = []  # raw tables left out, each with the reason
    time_spine: TimeSpineSpec | None = None  # the semantic layer's date table, when the project has none
    histories: list[HistoryDraft] = []  # type-2 histories, placed before the models that read them


class Planner(Protocol):
    """Anything that drafts models for a context: the rules planner, an LLM planner."""

    name: str

    def draft(self, context: ProjectContext) -> PlanDraft:
        """Draft sources and models for every uncovered raw table of the context."""
        ...
