"""`fallback: rules`: what cartridge plans itself where the model's answers stayed invalid after every re-ask.

A model whose spec could not be had is replaced by the rules planner's draft of the same name, and a
raw table whose staging model could not be had is staged (and modelled downstream) by the rules
planner, as long as each such draft fits the plan; tests and documentation that could not be had
become the grain's tests and the rules planner's wording. Every replacement is named in a note.
"""

from __future__ import annotations

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.llm.answers import ColumnDoc, DocsAnswer, PlanOutline
from cartridge_bridge.planning.llm.prompt_data import TableFacts, grain_of
from cartridge_bridge.planning.placement import place
from cartridge_bridge.planning.plan import (
    DataTest,
    ModelSpec,
    ModelTest,
    StagingSpec,
    model_inputs,
    output_columns,
)
from cartridge_bridge.planning.planner import ModelDraft, PlanDraft, SourceDraft
from cartridge_bridge.planning.rules import column_docs

_FALLBACK_PLANNER = "llm-fallback"


def rules_instead(
    produced: list[ModelDraft],
    failed: dict[str, str],
    outline: PlanOutline,
    rules: PlanDraft,
    context: ProjectContext,
    sources: list[SourceDraft],
    notes: list[str],
) -> list[ModelDraft]:
    """The rules planner's drafts that stand in for the failed models, each checked against the plan; notes added."""
    names = {m.name for m in produced}
    rules_names = {m.name for m in rules.models}
    lost_tables = {m.source_table for m in outline.models if m.name in failed and m.layer == "staging"}
    taken: list[ModelDraft] = []
    for model in rules.models:  # the rules planner drafts in dependency order
        if model.name in names:
            continue
        available = names | {t.name for t in taken} | set(context.existing_models)
        inputs = model_inputs(model.spec)
        if isinstance(model.spec, StagingSpec):
            wanted = f"{model.spec.source_name}.{model.spec.table}" in lost_tables
        else:
            from_rules = [i for i in inputs if i in rules_names]
            follows = bool(from_rules) and all(i in {t.name for t in taken} for i in from_rules)
            wanted = (model.name in failed or follows) and all(i in available for i in inputs)
        if not wanted:
            continue
        candidate = _without_dangling_tests(model, available | {model.name})
        if _fits(candidate, [*produced, *taken], sources, context):
            taken.append(candidate)
    taken_names = {t.name for t in taken}
    for name, reason in failed.items():
        instead = "the rules planner's model of that name instead" if name in taken_names else "left out"
        notes.append(f"{reason}; {instead}")
    extra = sorted(taken_names - set(failed))
    if extra:
        notes.append(
            f"the rules planner also planned {', '.join(extra)} for the tables the model could not stage"
        )
    return taken


def _without_dangling_tests(model: ModelDraft, available: set[str]) -> ModelDraft:
    """The draft without relationships tests to models the plan will not have."""
    spec = model.spec.model_copy(deep=True)
    for column in output_columns(spec):
        column.tests = [t for t in column.tests if t.name != "relationships" or t.to in available]
    return model.model_copy(update={"spec": spec})


def _fits(
    candidate: ModelDraft, others: list[ModelDraft], sources: list[SourceDraft], context: ProjectContext
) -> bool:
    # Its semantic model joins the plan's when the layer is settled as a whole (names the model's answers took
    # give way there), so it does not cost the mart its place.
    model = candidate.model_copy(update={"semantic_model": None})
    placed = place(PlanDraft(sources=sources, models=[*others, model]), context, _FALLBACK_PLANNER)
    return not any(p.action == candidate.name for p in plan_problems(placed, context))


def tests_fallback(
    draft: ModelDraft, context: ProjectContext
) -> tuple[tuple[ModelSpec, list[ModelTest]], str]:
    """The grain's tests only (as the project's conventions allow), and the note saying so."""
    spec = draft.spec.model_copy(deep=True)
    for column in output_columns(spec):
        column.tests = []
    grain = grain_of(spec)
    model_tests: list[ModelTest] = []
    if context.conventions.test_primary_keys and len(grain) == 1:
        key = next(c for c in output_columns(spec) if c.name == grain[0])
        key.tests = [DataTest(name="unique"), DataTest(name="not_null")]
    elif context.conventions.test_primary_keys and len(grain) > 1:
        model_tests = [ModelTest(name="unique_combination_of_columns", columns=grain)]
    return (spec, model_tests), f"cartridge tested the grain of {draft.name} only"


def docs_fallback(draft: ModelDraft, table: TableFacts | None) -> tuple[DocsAnswer, str]:
    """Descriptions in the rules planner's wording (the warehouse's comments first), and the note saying so."""
    spec = draft.spec
    entity = spec.entity if isinstance(spec, StagingSpec) else draft.name
    comments = {c.name: c.comment for c in table.columns} if table else {}
    key = table.key if table is not None and table.key is not None and len(table.key.grain) == 1 else None
    columns = [
        ColumnDoc(
            name=c.name,
            description=column_docs.describe_column(
                c.name,
                entity,
                comments.get(c.source_column or ""),
                key=key if key is not None and c.source_column == key.grain[0] else None,
            ),
        )
        for c in output_columns(spec)
    ]
    answer = DocsAnswer(description=draft.description, columns=columns)
    return answer, f"cartridge described {draft.name} in its own words"
