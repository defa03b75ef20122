"""The deterministic planner: dbt Labs' structure from the key structure of the raw tables, no LLM.

The rules live by stage: `staging` (sources, staging models, keys and their tests) and `marts`
(aggregates, dimensions, facts), sharing `state.PlannerState`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.context.key_facts import renamed_relation
from cartridge_bridge.context.project_context import ProjectContext, RawSchema
from cartridge_bridge.gather.facts import RawRelation
from cartridge_bridge.planning.carried_transforms import carry_transforms
from cartridge_bridge.planning.placement import TIME_SPINE_MODEL, place
from cartridge_bridge.planning.plan import ExecutionPlan, MartSpec, StagingSpec
from cartridge_bridge.planning.planner import ModelDraft, PlanDraft
from cartridge_bridge.planning.rules import semantic
from cartridge_bridge.planning.rules.histories import HistoryRules
from cartridge_bridge.planning.rules.marts import MartRules
from cartridge_bridge.planning.rules.staging import StagingRules, is_marker
from cartridge_bridge.sql.identifiers import dbt_quoting_problem
from cartridge_bridge.sql.naming import dedupe, snake_case, unprefixed

PLANNER_NAME = "rules"


class _Planner(StagingRules, MartRules, HistoryRules):
    marts = True  # False: the raw tables selected, declared as sources and staged, nothing built on them
    event_models: set[str]  # without marts: the staging models whose rows are events (the facts' tables)

    def plan_schema(self, raw: RawSchema) -> None:
        candidates = []
        adapter = self.context.adapter_type
        for relation in raw.relations:
            # dbt's source() quotes names without escaping them: such a relation cannot be declared safely.
            unquotable = dbt_quoting_problem(raw.schema_name, adapter) or dbt_quoting_problem(
                relation.identifier, adapter
            )
            if unquotable:
                self.draft.skipped.append(f"{raw.schema_name}.{relation.identifier}: {unquotable}")
            elif relation.identifier in raw.covered:
                readers = raw.staged_by.get(relation.identifier)
                read_by = f", read by {', '.join(readers)}" if readers else ""
                declared = (
                    "a seed of the project" if relation.identifier in raw.seeds else "declared as a source"
                )
                self.draft.skipped.append(
                    f"{raw.schema_name}.{relation.identifier}: already {declared}{read_by}"
                )
            elif not relation.columns:
                self.draft.skipped.append(f"{raw.schema_name}.{relation.identifier}: has no columns")
            elif all(is_marker(c, adapter) for c in relation.columns):
                # Staging leaves the markers out: nothing would be left to select.
                self.draft.skipped.append(
                    f"{raw.schema_name}.{relation.identifier}: has no columns but loader markers"
                )
            else:
                candidates.append(relation)
        # Keys and entities are named after the table as the project names it (`raw_reviews` → `review_id`);
        # the source YAML maps that name back to the warehouse's identifier.
        renames = self.unprefixed([r.identifier for r in candidates], [r.identifier for r in raw.relations])
        self.renames = renames
        candidates = [renamed_relation(r, renames) for r in candidates]
        # Names are settled before the existence check: `Orders` and `orders` become `orders`, `orders_2`.
        tables = [self.fit(t) for t in dedupe([self.fit(snake_case(r.identifier)) for r in candidates])]
        kept: dict[str, tuple[RawRelation, str]] = {}
        for relation, table in zip(candidates, tables, strict=True):
            model = self.owned_name("staging_model", source=raw.source_name, table=table)
            if model in self.context.existing_models:
                self.draft.skipped.append(
                    f"{raw.schema_name}.{renames.get(relation.identifier, relation.identifier)}: "
                    f"model {model} already exists"
                )
            else:
                kept[relation.identifier] = (relation, table)
        if not kept:
            return
        staged = self.plan_staging(raw, list(kept.values()))
        if self.marts:
            self.plan_histories(staged)  # before the marts: they read a version history's current state
        self.restore_identifiers(raw.schema_name, {new: old for old, new in renames.items()})
        # A self reference (`task.parent_id`) is tested in staging; aggregating a table to itself is no mart.
        edges = [e for e in self.key_edges(raw, staged) if not e.self_reference]
        if self.marts:
            self.plan_marts(staged, edges)
        else:
            shapes, _ = self.choose_shapes(staged, edges)
            self.event_models |= {staged[i].model for i, role in shapes.marts.items() if role == "fact"}
        # The project's own staging transforms (`amount / 100`), carried to new columns like them.
        carry_transforms([s.spec for s in staged.values()], self.context.existing, adapter)

    def unprefixed(self, identifiers: list[str], schema_identifiers: list[str]) -> dict[str, str]:
        """identifier → the same without the prefix the project's staging drops (see `naming.unprefixed`)."""
        return unprefixed(identifiers, schema_identifiers, self.conventions.strip_prefix)

    def restore_identifiers(self, schema: str, originals: dict[str, str]) -> None:
        """Point the last source's tables and their staging descriptions back at the warehouse's identifiers."""
        if not originals:
            return
        for table in self.draft.sources[-1].spec.tables:
            if table.identifier in originals:
                table.identifier = originals[table.identifier]
                # Quoted only to keep a spelling snake_case would lose (`RawReviews`), not for the prefix.
                table.quote_identifier = table.identifier != snake_case(table.identifier)
        for model in self.draft.models:
            if isinstance(model.spec, StagingSpec):
                for short, original in originals.items():
                    model.description = model.description.replace(
                        f"`{schema}.{short}`", f"`{schema}.{original}`"
                    )


class RulesPlanner:
    """The deterministic planner: sources, staging, and a handful of marts at business grain with their aggregates."""

    name = PLANNER_NAME

    def __init__(
        self,
        type2_histories: bool = True,
        crossed_measures: bool = True,
        rollups: bool = True,
        owner_sequences: bool = True,
    ):
        self.type2_histories = type2_histories
        # Grandchildren's counts rolled up past a child's mart read that mart by the rules' column names: a
        # fallback that fills in for another planner's marts goes without them.
        self.rollups = rollups
        # A flag's sides counted per state and by each other event time: measures the LLM planner is not offered
        # (its requests list the measures of `semantic.semantic_model` without them), so a mirror of it goes without.
        self.crossed_measures = crossed_measures
        # A row's number among its owner's and the flag of the first (see `owners`): window columns, and flag
        # measures the LLM planner's requests do not offer either.
        self.owner_sequences = owner_sequences

    def draft(self, context: ProjectContext) -> PlanDraft:
        """Drafts for every uncovered raw table of every raw schema in the context."""
        planner = _Planner(context)
        planner.type2_histories = self.type2_histories
        planner.crossed_measures = self.crossed_measures
        planner.rollups = self.rollups
        planner.owner_sequences = self.owner_sequences
        for raw in context.raw_schemas:
            planner.plan_schema(raw)
        return with_semantic_layer(planner.draft, context)


@dataclass
class DeclaredSources:
    """The draft every planner may start from, and which of its staging models hold events."""

    draft: PlanDraft  # sources and staging models, and the raw tables skipped with the reason
    event_models: set[str]  # staging models whose rows are events: the rules' facts, the others' dimensions


def declare_sources(context: ProjectContext) -> DeclaredSources:
    """The table selection and source declaration every planner shares: each uncovered raw table that can be
    declared safely, as a source and a staging model with its key tests; the rest skipped with the reason."""
    planner = _Planner(context)
    planner.marts = False
    planner.event_models = set()
    for raw in context.raw_schemas:
        planner.plan_schema(raw)
    return DeclaredSources(with_semantic_layer(planner.draft, context), planner.event_models)


def with_semantic_layer(draft: PlanDraft, context: ProjectContext) -> PlanDraft:
    """The draft's semantic models made to hold together, and a time spine when the project has none; none of
    them when the context says the project does not want them."""
    if not context.semantic_models:
        for model in draft.models:
            model.semantic_model = None
        return draft
    _qualify_taken_names(draft, context.semantic_names)
    described = [m.semantic_model for m in draft.models if m.semantic_model is not None]
    kept = {id(m) for m in semantic.settle_names(described, context.semantic_names)}
    for model in draft.models:
        if model.semantic_model is not None and id(model.semantic_model) not in kept:
            model.semantic_model = None
    if kept and context.time_spine is None and TIME_SPINE_MODEL not in context.existing_models:
        draft.time_spine = semantic.time_spine()
    return draft


def _source_of(model: ModelDraft, by_name: dict[str, ModelDraft]) -> str | None:
    """The source a mart's rows come from: the source of the staging model it is built on."""
    base = by_name.get(model.spec.base_model) if isinstance(model.spec, MartSpec) else None
    return base.spec.source_name if base is not None and isinstance(base.spec, StagingSpec) else None


def _qualify_taken_names(draft: PlanDraft, taken: dict[str, list[str]]) -> None:
    """A new source's entities and measures named as the project's semantic layer already names its own (a second
    connector's `account`, `account_count`) get the source before them (`salesforce_account`): one primary
    entity per name, or MetricFlow refuses the project, and a foreign `account` would join another source's
    accounts. What cannot be qualified is left out by `settle_names`."""
    primaries, measures = set(taken.get("primary entity", [])), set(taken.get("measure", []))
    metrics = set(taken.get("metric", []))
    by_name = {m.name: m for m in draft.models}
    for model in draft.models:
        described = model.semantic_model
        source = _source_of(model, by_name)
        if described is None or source is None:
            continue
        primary = next((e for e in described.entities if e.type == "primary"), None)
        if primary is not None and primary.name in primaries:
            old = primary.name
            for other in draft.models:
                if other.semantic_model is not None and _source_of(other, by_name) == source:
                    for entity in other.semantic_model.entities:
                        if entity.name == old:
                            entity.name = f"{source}_{old}"
        for measure in described.measures:
            if measure.name in measures or measure.name in metrics:
                old, measure.name = measure.name, f"{source}_{measure.name}"
                for metric in described.metrics:
                    if metric.measure == old:
                        metric.measure = measure.name
                        metric.name = measure.name if metric.name == old else metric.name


def plan_with_rules(context: ProjectContext, planner: RulesPlanner | None = None) -> ExecutionPlan:
    """The rules planner's drafts (of `planner`, default the full one), placed: the plan for every uncovered
    raw table."""
    return place((planner or RulesPlanner()).draft(context), context, PLANNER_NAME)
