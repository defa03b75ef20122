"""The deterministic planner: dbt Labs' structure from the key structure of the raw tables, no LLM."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from cartridge_bridge.context.key_owners import KeyOwner
from cartridge_bridge.context.keys import KeyEdge, entity_of, foreign_keys, table_key
from cartridge_bridge.context.naming import RESERVED_WORDS, cte_name, dedupe, fit_name, snake_case
from cartridge_bridge.context.project_context import ProjectContext, RawSchema
from cartridge_bridge.gather.facts import RawColumn, RawRelation
from cartridge_bridge.planning.identifiers import identifier_limit
from cartridge_bridge.planning.placement import place
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    DataTest,
    Deduplicate,
    ExecutionPlan,
    JoinCondition,
    Layer,
    MartJoin,
    MartSpec,
    ModelTest,
    OrderBy,
    SourceSpec,
    SourceTableSpec,
    StagingSpec,
)
from cartridge_bridge.planning.planner import ModelDraft, PlanDraft, SourceDraft
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.sql_fragments import is_plain_cast_type
from cartridge_bridge.planning.sql_types import is_numeric, is_temporal

PLANNER_NAME = "rules"
# Prices, rates and ratios do not add up across rows; summing them would make a misleading measure.
_NON_ADDITIVE = re.compile(r"price|rate|ratio|percent|pct|share|score|avg|average|latitude|longitude")


@dataclass
class _Staged:
    """A raw table and the staging model planned for it."""

    relation: RawRelation
    table: str  # snake_case name in the sources YAML
    entity: str
    model: str
    spec: StagingSpec
    renamed: dict[str, str] = field(default_factory=dict)  # raw column → staged column
    model_tests: list[ModelTest] = field(default_factory=list)  # a composite grain, tested as a combination


class _Planner:
    def __init__(self, context: ProjectContext):
        self.context = context
        self.conventions = context.conventions
        self.draft = PlanDraft()
        self.roles: dict[KeyEdge, str] = {}
        # (raw table, staged column) → the existing models that own that key
        self.external: dict[tuple[str, str], KeyOwner] = {}

    def fit(self, name: str) -> str:
        """A name within the warehouse's identifier limit (cut with a hash, so cut names stay distinct)."""
        return fit_name(name, identifier_limit(self.context.adapter_type))

    def add(
        self,
        name: str,
        layer: Layer,
        description: str,
        spec: StagingSpec | AggregateSpec | MartSpec,
        tests: list[ModelTest] | None = None,
    ) -> None:
        draft = ModelDraft(name=name, layer=layer, description=description, spec=spec, tests=tests or [])
        self.draft.models.append(draft)

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
        aggregates = self.plan_aggregates(staged, edges)
        self.plan_marts(staged, edges, aggregates)

    def plan_staging(self, raw: RawSchema, tables: list[tuple[RawRelation, str]]) -> dict[str, _Staged]:
        conventions, source = self.conventions, raw.source_name
        staged: dict[str, _Staged] = {}
        relations = [relation for relation, _ in tables]
        entities = frozenset(entity_of(r) for r in relations)
        for relation, table in tables:
            model = self.fit(conventions.fill("staging_model", source=source, table=table))
            staged[relation.identifier] = self.staging_columns(relation, table, model, source, entities)
        edges = foreign_keys(relations)
        for edge in edges:
            child, parent = staged[edge.child], staged[edge.parent]
            column = next(c for c in child.spec.columns if c.name == child.renamed[edge.column])
            column.description = docs.describe_foreign_key(child.entity, parent.entity, parent.model)
            if conventions.test_relationships:
                column.tests.append(
                    DataTest(name="relationships", to=parent.model, field=parent.renamed[edge.parent_column])
                )
        self.link_existing_keys(staged, edges)
        source_tables = [
            SourceTableSpec(
                name=s.table,
                identifier=s.relation.identifier,
                quote_identifier=s.relation.identifier != s.table,
                description=docs.describe_source_table(s.entity, s.relation.comment),
                columns=[
                    ColumnSpec(
                        name=c.name,
                        data_type=c.data_type,
                        description=docs.describe_column(snake_case(c.name), s.entity, c.comment),
                    )
                    for c in s.relation.columns
                ],
            )
            for s in staged.values()
        ]
        self.draft.sources.append(
            SourceDraft(
                description=f"Declare {len(source_tables)} tables of `{raw.schema_name}` as source `{source}`.",
                spec=SourceSpec(
                    source_name=source,
                    schema_name=raw.schema_name,
                    quote_schema=raw.schema_name != snake_case(raw.schema_name),
                    description=f"Raw tables loaded into the `{raw.schema_name}` schema.",
                    tables=source_tables,
                ),
            )
        )
        for s in staged.values():
            description = docs.describe_staging(
                source, raw.schema_name, s.relation.identifier, s.entity, s.relation.comment
            )
            self.add(s.model, "staging", description, s.spec, s.model_tests)
        return staged

    def link_existing_keys(self, staged: dict[str, _Staged], edges: list[KeyEdge]) -> None:
        """Test `<entity>_id` columns that no new table owns against the existing model that does."""
        internal = {(e.child, e.column) for e in edges}
        for s in staged.values():
            for raw_column in s.relation.columns:
                name = s.renamed[raw_column.name]
                owner = self.context.existing_keys.get(name)
                if (
                    owner is None
                    or name in s.spec.grain
                    or (s.relation.identifier, raw_column.name) in internal
                ):
                    continue
                self.external[(s.relation.identifier, name)] = owner
                target = owner.staging or owner.mart
                assert target is not None
                column = next(c for c in s.spec.columns if c.name == name)
                column.description = docs.describe_foreign_key(s.entity, name.removesuffix("_id"), target)
                if self.conventions.test_relationships:
                    column.tests.append(DataTest(name="relationships", to=target, field=name))

    def staging_columns(
        self, relation: RawRelation, table: str, model: str, source: str, entities: frozenset[str]
    ) -> _Staged:
        entity = entity_of(relation)
        found = table_key(relation, entities)
        key = found.columns[0] if len(found.columns) == 1 else None
        wanted = [self.staged_name(c, key, entity) for c in relation.columns]
        names = [self.fit(n) for n in dedupe([self.fit(w) for w in wanted])]
        adapter = self.context.adapter_type
        # A key of several columns is the grain: each column not null, the combination unique.
        composite = list(found.columns) if len(found.columns) > 1 else []
        testing = self.conventions.test_primary_keys
        columns = []
        for column, name in zip(relation.columns, names, strict=True):
            tests = []
            if column.name == key and testing:
                tests = [DataTest(name="unique"), DataTest(name="not_null")]
            elif column.name in composite and testing:
                tests = [DataTest(name="not_null")]
            columns.append(
                ColumnSpec(
                    name=name,
                    source_column=column.name,
                    # A type a cast cannot name (a struct with quoted fields, a user-defined type) stays as is.
                    cast_to=column.data_type if is_plain_cast_type(column.data_type, adapter) else None,
                    data_type=column.data_type,
                    description=docs.describe_column(
                        name if column.name == key else snake_case(column.name), entity, column.comment
                    ),
                    tests=tests,
                )
            )
        renamed = {c.name: n for c, n in zip(relation.columns, names, strict=True)}
        spec = StagingSpec(
            source_name=source,
            table=table,
            entity=entity,
            grain=[renamed[c] for c in composite] or ([renamed[key]] if key else []),
            columns=columns,
            # A history table: the staging model keeps each key's latest version, so the key holds.
            deduplicate=Deduplicate(
                partition_by=[renamed[c] for c in found.columns],
                order_by=[OrderBy(column=renamed[c], descending=True) for c in found.latest_by],
            )
            if found.latest_by
            else None,
        )
        model_tests = (
            [ModelTest(name="unique_combination_of_columns", columns=spec.grain)]
            if composite and testing
            else []
        )
        return _Staged(relation, table, entity, model, spec, renamed, model_tests)

    @staticmethod
    def staged_name(column: RawColumn, key: str | None, entity: str) -> str:
        name = snake_case(column.name)
        if column.name == key and name == "id":
            return f"{entity}_id"
        # A reserved word would need quoting in every model downstream; a suffix keeps SQL plain.
        return f"{name}_value" if name in RESERVED_WORDS else name

    def plan_aggregates(self, staged: dict[str, _Staged], edges: list[KeyEdge]) -> dict[KeyEdge, ModelDraft]:
        conventions = self.conventions
        aggregates: dict[KeyEdge, ModelDraft] = {}
        pairs = Counter((e.child, e.parent) for e in edges)
        for edge in edges:
            key = staged[edge.child].renamed[edge.column]
            # Two keys from one child to one parent (billing and shipping address): name each by its key.
            self.roles[edge] = (
                f"_by_{key.removesuffix('_id')}" if pairs[(edge.child, edge.parent)] > 1 else ""
            )
        wanted = [
            self.fit(
                conventions.fill(
                    "intermediate_model",
                    child=staged[e.child].table,
                    parent=staged[e.parent].table,
                    source=staged[e.child].spec.source_name,
                )
                + self.roles[e]
            )
            for e in edges
        ]
        names = [self.fit(n) for n in dedupe(wanted)]
        for edge, model in zip(edges, names, strict=True):
            child, parent = staged[edge.child], staged[edge.parent]
            key = child.renamed[edge.column]
            role = self.roles[edge]
            children = docs.words(child.table)
            key_tests = (
                [DataTest(name="unique"), DataTest(name="not_null")] if conventions.test_primary_keys else []
            )
            if conventions.test_relationships:
                key_tests.append(
                    DataTest(name="relationships", to=parent.model, field=parent.renamed[edge.parent_column])
                )
            measures = [
                ColumnSpec(
                    name=key,
                    expression=key,
                    description=f"The {docs.words(parent.entity)} these {children} belong to.",
                    tests=key_tests,
                ),
                ColumnSpec(
                    name=self.fit(f"number_of_{child.table}{role}"),
                    expression="count(*)",
                    description=f"How many {children} the {docs.words(parent.entity)} has"
                    f"{f' (through `{key}`)' if role else ''}.",
                ),
            ]
            measures += self.measure_columns(child, parent, edge)
            description = docs.describe_aggregate(child.table, parent.entity, [m.name for m in measures[1:]])
            self.add(
                model,
                "intermediate",
                description,
                AggregateSpec(from_model=child.model, group_by=[key], columns=measures),
            )
            aggregates[edge] = self.draft.models[-1]
        return aggregates

    def measure_columns(self, child: _Staged, parent: _Staged, edge: KeyEdge) -> list[ColumnSpec]:
        measures = []
        role = self.roles[edge]
        owned = f"the {docs.words(parent.entity)}'s {docs.words(child.table)}"
        for raw_column in child.relation.columns:
            name = child.renamed[raw_column.name]
            if name in child.spec.grain or name.endswith("_id") or raw_column.name == edge.column:
                continue
            if is_numeric(raw_column.data_type) and not _NON_ADDITIVE.search(name):
                measures.append(
                    ColumnSpec(
                        name=self.fit(f"total_{name}{role}"),
                        expression=f"sum({name})",
                        description=f"Sum of `{name}` over {owned}.",
                    )
                )
            elif is_temporal(raw_column.data_type):
                for first_last, function, superlative in (
                    ("first", "min", "Earliest"),
                    ("last", "max", "Latest"),
                ):
                    measures.append(
                        ColumnSpec(
                            name=self.fit(f"{first_last}_{name}{role}"),
                            expression=f"{function}({name})",
                            description=f"{superlative} `{name}` among {owned}.",
                        )
                    )
        return measures

    def mart_target(
        self,
        staged: dict[str, _Staged],
        edge: KeyEdge | None,
        mart_names: dict[str, str],
        identifier: str,
        column: str,
    ) -> tuple[str, str, str] | None:
        """The mart a fact's key column points at: (model, its key column, the entity), if any."""
        if edge is not None:
            parent = staged[edge.parent]
            return mart_names[edge.parent], parent.renamed[edge.parent_column], parent.entity
        owner = self.external.get((identifier, column))
        if owner is not None and owner.mart is not None:
            return owner.mart, column, column.removesuffix("_id")
        return None

    def plan_marts(
        self, staged: dict[str, _Staged], edges: list[KeyEdge], aggregates: dict[KeyEdge, ModelDraft]
    ) -> None:
        conventions = self.conventions
        parents = {e.parent for e in edges}
        # A table pointing at an existing dimension is a fact too, even with no new parent.
        children = {e.child for e in edges} | {t for (t, _), owner in self.external.items() if owner.mart}
        roles = {
            identifier: ("fact" if identifier in children else "dimension")
            for identifier in staged
            if identifier in parents or identifier in children
        }
        mart_names = {
            identifier: self.fit(
                conventions.fill(
                    "fact_model" if role == "fact" else "dimension_model",
                    table=staged[identifier].table,
                    source=staged[identifier].spec.source_name,
                )
            )
            for identifier, role in roles.items()
        }
        for identifier, role in roles.items():
            base = staged[identifier]
            base_alias = cte_name(base.table)
            outgoing = {staged[identifier].renamed[e.column]: e for e in edges if e.child == identifier}
            columns = []
            for column in base.spec.columns:
                tests = [t.model_copy() for t in column.tests if t.name != "relationships"]
                description = column.description
                target = self.mart_target(
                    staged, outgoing.get(column.name), mart_names, identifier, column.name
                )
                if target is not None:
                    to, field_name, parent_entity = target
                    description = docs.describe_foreign_key(base.entity, parent_entity, to)
                    if conventions.test_relationships:
                        tests.append(DataTest(name="relationships", to=to, field=field_name))
                columns.append(
                    ColumnSpec(
                        name=column.name,
                        expression=f"{base_alias}.{column.name}",
                        data_type=column.data_type,
                        description=description,
                        tests=tests,
                    )
                )
            taken = {c.name for c in columns}
            joins = []
            for edge, aggregate in aggregates.items():
                if edge.parent != identifier:
                    continue
                spec = aggregate.spec
                assert isinstance(spec, AggregateSpec)
                alias = cte_name(self.fit(f"{staged[edge.child].table}{self.roles[edge]}_aggregated"))
                joined = []
                for measure in spec.columns[1:]:
                    name = (
                        measure.name
                        if measure.name not in taken
                        else self.fit(f"{measure.name}_{staged[edge.child].table}")
                    )
                    taken.add(name)
                    reference = f"{alias}.{measure.name}"
                    counted = measure.name.startswith(("number_of_", "total_"))
                    joined.append(
                        ColumnSpec(
                            name=name,
                            expression=f"coalesce({reference}, 0)" if counted else reference,
                            description=measure.description,
                        )
                    )
                # The parent's own key, which the child's foreign key (the aggregate's group) points at.
                on = JoinCondition(
                    left_alias=base_alias,
                    left_column=base.renamed[edge.parent_column],
                    right_column=spec.group_by[0],
                )
                joins.append(MartJoin(model=aggregate.name, alias=alias, on=[on], columns=joined))
            description = docs.describe_mart(
                role, base.entity, [staged[e.child].table for e in edges if e.parent == identifier]
            )
            spec = MartSpec(
                role=role,  # type: ignore[arg-type]
                base_model=base.model,
                base_alias=base_alias,
                grain=list(base.spec.grain),
                columns=columns,
                joins=joins,
            )
            self.add(
                mart_names[identifier], "marts", description, spec, [t.model_copy() for t in base.model_tests]
            )


class RulesPlanner:
    """The deterministic planner: sources, staging, aggregates to each parent, dimensions and facts."""

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
