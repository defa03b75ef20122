"""Placement: turn a planner's drafts into an ExecutionPlan, deciding everything a planner must not.

File paths, property files, materializations, step ids and render settings come from the project's
conventions; every dependency is derived from the refs and sources the specs select from. What a
planner writes is never trusted for any of these.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.dependencies import dependency_order
from cartridge_bridge.planning.plan import (
    ExecutionPlan,
    ModelConfig,
    PlanAction,
    RenderSettings,
    SourceSpec,
    StagingSpec,
    TimeSpineSpec,
    model_inputs,
)
from cartridge_bridge.planning.planner import HistoryDraft, ModelDraft, PlanDraft, SnapshotDraft

TIME_SPINE_MODEL = "metricflow_time_spine"  # the name MetricFlow looked for before `time_spine:` existed

# The action type follows the model's layer (a union is an intermediate or a mart, a history's current state a
# mart spec in the intermediate layer); the time spine is placed apart, with a type of its own.
_TYPE_OF_LAYER = {"staging": "create_staging", "intermediate": "create_intermediate", "marts": "create_mart"}
_FOLDER_SETTING = {"staging": "staging_dir", "intermediate": "intermediate_dir", "marts": "marts_dir"}
_PROPERTIES_SETTING = {
    "staging": "staging_properties_file",
    "intermediate": "intermediate_properties_file",
    "marts": "marts_properties_file",
}
# The render settings that come straight from the project's conventions (the rest from dbt's flags).
_CONVENTION_RENDER_SETTINGS = set(RenderSettings.model_fields) - {"nested_test_arguments"}


def render_settings(context: ProjectContext) -> RenderSettings:
    """How files are written in this project: its SQL style and documentation habits, dbt's test flag."""
    return RenderSettings(
        nested_test_arguments=context.nested_test_arguments,
        **context.conventions.model_dump(include=_CONVENTION_RENDER_SETTINGS),
    )


def place(draft: PlanDraft, context: ProjectContext, planner: str) -> ExecutionPlan:
    """The ExecutionPlan for a draft: paths, property files, materializations, dependencies, step ids."""
    conventions = context.conventions
    root = PurePosixPath(context.model_path)
    actions: list[PlanAction] = []
    for source in draft.sources:
        name = source.spec.source_name
        folder = conventions.fill("sources_dir", source=name)
        file_name = conventions.fill("sources_file", source=name, folder=PurePosixPath(folder).name)
        actions.append(
            PlanAction(
                step_id=0,
                type="create_source",
                name=name,
                file_path=str(root / folder / file_name),
                description=source.description,
                spec=source.spec,
            )
        )
    fallback_source = next((s.spec.source_name for s in draft.sources), None) or next(
        (raw.source_name for raw in context.raw_schemas), "models"
    )
    source_of: dict[str, str] = {}
    drafts: list[ModelDraft | HistoryDraft | SnapshotDraft] = [
        *draft.models,
        *draft.histories,
        *draft.snapshots,
    ]
    for model in drafts:
        source_of[model.name] = _source_of(model, source_of, fallback_source)
        actions.append(_model_action(model, source_of[model.name], context, root))
    if draft.time_spine is not None:
        actions.append(_time_spine_action(draft.time_spine, fallback_source, context, root))
    ordered = _dependency_order(actions)
    for step, action in enumerate(ordered, start=1):
        action.step_id = step
    return ExecutionPlan(
        project_name=context.project_name,
        strategy=context.strategy,
        planner=planner,
        adapter_type=context.adapter_type,
        actions=ordered,
        skipped=list(draft.skipped),
        render=render_settings(context),
    )


def _source_of(model: ModelDraft | HistoryDraft | SnapshotDraft, known: dict[str, str], fallback: str) -> str:
    """The source a model's folder is named after: its own, or that of the first input that has one."""
    if isinstance(model.spec, StagingSpec):
        return model.spec.source_name
    return next((known[name] for name in model_inputs(model.spec) if name in known), fallback)


def _model_action(
    model: ModelDraft | HistoryDraft | SnapshotDraft,
    source: str,
    context: ProjectContext,
    root: PurePosixPath,
) -> PlanAction:
    conventions = context.conventions
    folder = conventions.fill(_FOLDER_SETTING[model.layer], source=source)
    properties = conventions.fill(
        _PROPERTIES_SETTING[model.layer], source=source, model=model.name, folder=PurePosixPath(folder).name
    )
    materialized = model.materialized
    if materialized is None and model.layer not in context.configured_materializations:
        materialized = getattr(conventions, f"{model.layer}_materialized")
    action = PlanAction(
        step_id=0,
        type=_TYPE_OF_LAYER[model.layer],  # type: ignore[arg-type]
        name=model.name,
        file_path=str(root / folder / f"{model.name}.sql"),
        properties_path=str(root / folder / properties),
        config=ModelConfig(
            materialized=materialized,
            unique_key=model.unique_key,
            tags=model.tags,
            incremental=model.incremental,
        ),
        description=model.description,
        dependencies=model_inputs(model.spec),
        spec=model.spec,
        tests=model.tests,
        semantic_model=model.semantic_model,
    )
    if model.semantic_model is not None:
        action.semantic_model_path, action.metrics_path = _semantic_files(action, folder, context, root)
    return action


def _semantic_files(
    action: PlanAction, folder: str, context: ProjectContext, root: PurePosixPath
) -> tuple[str | None, str | None]:
    """The project's files for a mart's semantic model and for its metrics, as its conventions say; None where
    that is the default (the mart's properties file; the semantic model's file)."""
    assert action.semantic_model is not None
    conventions = context.conventions
    values = {"model": action.name, "semantic_model": action.semantic_model.name, "folder": folder}

    def path(setting: str) -> str | None:
        template = getattr(conventions, setting)
        return str(root / conventions.fill(setting, **values)) if template else None

    model_path = path("semantic_models_file")
    model_path = None if model_path == action.properties_path else model_path
    metrics_path = path("metrics_file")
    metrics_path = None if metrics_path == (model_path or action.properties_path) else metrics_path
    return model_path, metrics_path


def _time_spine_action(
    spec: TimeSpineSpec, source: str, context: ProjectContext, root: PurePosixPath
) -> PlanAction:
    """The time spine goes with the marts, a table (MetricFlow joins to it), named as MetricFlow once required."""
    conventions = context.conventions
    folder = conventions.fill("marts_dir", source=source)
    properties = conventions.fill(
        "marts_properties_file", source=source, model=TIME_SPINE_MODEL, folder=PurePosixPath(folder).name
    )
    return PlanAction(
        step_id=0,
        type="create_time_spine",
        name=TIME_SPINE_MODEL,
        file_path=str(root / folder / f"{TIME_SPINE_MODEL}.sql"),
        properties_path=str(root / folder / properties),
        config=ModelConfig(materialized="table"),
        description="One row per day: the time spine dbt's semantic layer joins metrics to.",
        spec=spec,
    )


def _dependency_order(actions: list[PlanAction]) -> list[PlanAction]:
    """The actions in planned order, except that nothing comes before what it depends on."""
    provided = {name: a.name for a in actions for name in _provides(a)}
    return dependency_order(
        actions, lambda a: a.name, lambda a: [provided[d] for d in a.dependencies if d in provided]
    )


def _provides(action: PlanAction) -> list[str]:
    """What other actions can depend on: a model's name, or a source's `source.table` names."""
    if isinstance(action.spec, SourceSpec):
        return [f"{action.name}.{table.name}" for table in action.spec.tables]
    return [action.name]
