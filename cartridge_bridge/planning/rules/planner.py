"""The deterministic planner: dbt Labs' structure from the key structure of the raw tables, no LLM.

The rules live by stage: `staging` (sources, staging models, keys and their tests) and `marts`
(aggregates, dimensions, facts), sharing `state.PlannerState`.
"""

from __future__ import annotations

from cartridge_bridge.context.keys import foreign_keys
from cartridge_bridge.context.naming import dedupe, snake_case
from cartridge_bridge.context.project_context import ProjectContext, RawSchema
from cartridge_bridge.gather.facts import RawRelation
from cartridge_bridge.planning.placement import place
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.planning.planner import PlanDraft
from cartridge_bridge.planning.rules.marts import MartRules
from cartridge_bridge.planning.rules.staging import StagingRules

PLANNER_NAME = "rules"


class _Planner(StagingRules, MartRules):
    def plan_schema(self, raw: RawSchema) -> None:
        candidates = []
        for relation in raw.relations:
            if relation.identifier in raw.covered:
                readers = raw.staged_by.get(relation.identifier)
                read_by = f", read by {', '.join(readers)}" if readers else ""
                self.draft.skipped.append(
                    f"{raw.schema_name}.{relation.identifier}: already declared as a source{read_by}"
                )
            elif not relation.columns:
                self.draft.skipped.append(f"{raw.schema_name}.{relation.identifier}: has no columns")
            else:
                candidates.append(relation)
        # Names are settled before the existence check: `Orders` and `orders` become `orders`, `orders_2`.
        tables = [self.fit(t) for t in dedupe([self.fit(snake_case(r.identifier)) for r in candidates])]
        kept: dict[str, tuple[RawRelation, str]] = {}
        for relation, table in zip(candidates, tables, strict=True):
            model = self.fit(self.conventions.fill("staging_model", source=raw.source_name, table=table))
            if model in self.context.existing_models:
                self.draft.skipped.append(
                    f"{raw.schema_name}.{relation.identifier}: model {model} already exists"
                )
            else:
                kept[relation.identifier] = (relation, table)
        if not kept:
            return
        staged = self.plan_staging(raw, list(kept.values()))
        relations = [relation for relation, _ in kept.values()]
        edges = [e for e in foreign_keys(relations) if e.child in staged and e.parent in staged]
        self.plan_marts(staged, edges)


class RulesPlanner:
    """The deterministic planner: sources, staging, and a handful of marts at business grain with their aggregates."""

    name = PLANNER_NAME

    def draft(self, context: ProjectContext) -> PlanDraft:
        """Drafts for every uncovered raw table of every raw schema in the context."""
        planner = _Planner(context)
        for raw in context.raw_schemas:
            planner.plan_schema(raw)
        return planner.draft


def plan_with_rules(context: ProjectContext) -> ExecutionPlan:
    """The rules planner's drafts, placed: the plan for every uncovered raw table."""
    return place(RulesPlanner().draft(context), context, PLANNER_NAME)
