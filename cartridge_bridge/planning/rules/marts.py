"""Intermediate and mart rules: a handful of marts at business grain, fed by their children's aggregates.

Which tables become marts is `mart_shapes`; which columns are measures is `measures`. Here: one intermediate
per child that a mart re-grains (counts, sums of amounts, first and last event), the marts joining them,
and in a brownfield project, joins to the existing models that own a new table's keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from cartridge_bridge.context.key_owners import KeyOwner
from cartridge_bridge.context.keys import KeyEdge
from cartridge_bridge.context.naming import cte_name, dedupe, plural
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    DataTest,
    JoinCondition,
    MartJoin,
    MartSpec,
)
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.mart_shapes import Shapes, mart_shapes
from cartridge_bridge.planning.rules.state import PlannerState, Staged

# Descriptive columns of an existing model worth carrying into a new fact that joins it.
_DESCRIPTIVE = ("name", "email", "title", "status", "type", "category", "segment", "country")
_MAX_DESCRIPTIVE = 4


@dataclass
class Aggregate:
    """An intermediate model: one child re-grained to a mart's key, and the measures it outputs."""

    model: str
    child: Staged
    key: str  # the child's column grouped by, which holds the mart's key
    parent_key: str  # the mart's column it joins
    role: str  # `_by_<key>` when the child points at the parent through several keys
    measures: list[ColumnSpec]


class MartRules(PlannerState):
    """Marts at business grain for one schema, and the aggregates they read."""

    def plan_marts(self, staged: dict[str, Staged], edges: list[KeyEdge]) -> None:
        """Choose the marts, plan the aggregates they need, then the marts and brownfield extensions."""
        external = self.external_marts()
        shapes = mart_shapes(staged, edges, external)
        names = self.mart_names(staged, shapes)
        links = [e for e in edges if e.parent in shapes.marts and e.child != e.parent]
        aggregates = self.plan_aggregates(staged, links, names)
        for identifier, role in shapes.marts.items():
            mine = [a for e, a in aggregates.items() if e.parent == identifier]
            self.plan_mart(
                staged[identifier],
                role,
                names[identifier],
                mine,
                self.parent_models(staged, edges, identifier, shapes, names),
            )
        self.plan_extensions(staged, shapes)

    def external_marts(self) -> dict[str, set[str]]:
        """Raw table → its staged columns that join an existing mart."""
        found: dict[str, set[str]] = {}
        for (identifier, column), owner in self.external.items():
            if owner.mart is not None:
                found.setdefault(identifier, set()).add(column)
        return found

    def mart_names(self, staged: dict[str, Staged], shapes: Shapes) -> dict[str, str]:
        """Each mart's model name, from the project's convention for its role."""
        wanted = [
            self.fit(
                self.conventions.fill(
                    "fact_model" if role == "fact" else "dimension_model",
                    table=staged[identifier].table,
                    source=staged[identifier].spec.source_name,
                )
            )
            for identifier, role in shapes.marts.items()
        ]
        return dict(zip(shapes.marts, [self.fit(n) for n in dedupe(wanted)], strict=True))

    def parent_models(
        self,
        staged: dict[str, Staged],
        edges: list[KeyEdge],
        identifier: str,
        shapes: Shapes,
        names: dict[str, str],
    ) -> dict[str, tuple[str, str]]:
        """A mart's foreign key columns → (the model they point at, its entity): a mart when there is one."""
        table = staged[identifier]
        pointed: dict[str, tuple[str, str]] = {}
        for edge in edges:
            if edge.child == identifier and edge.parent != identifier:
                parent = staged[edge.parent]
                pointed[table.renamed[edge.column]] = (names.get(edge.parent, parent.model), parent.entity)
        for (child, column), owner in self.external.items():
            target = owner.mart or owner.staging
            if child == identifier and target is not None:
                pointed[column] = (target, column.removesuffix("_id"))
        return pointed

    def plan_aggregates(
        self, staged: dict[str, Staged], links: list[KeyEdge], names: dict[str, str]
    ) -> dict[KeyEdge, Aggregate]:
        """One intermediate per child of a mart: the child re-grained to the mart's key."""
        pairs: dict[tuple[str, str], int] = {}
        for edge in links:
            pairs[(edge.child, edge.parent)] = pairs.get((edge.child, edge.parent), 0) + 1
        for edge in links:
            key = staged[edge.child].renamed[edge.column]
            # Two keys from one child to one parent (billing and shipping address): name each by its key.
            self.roles[edge] = (
                f"_by_{key.removesuffix('_id')}" if pairs[(edge.child, edge.parent)] > 1 else ""
            )
        wanted = [
            self.fit(
                self.conventions.fill(
                    "intermediate_model",
                    child=staged[e.child].table,
                    parent=staged[e.parent].table,
                    source=staged[e.child].spec.source_name,
                )
                + self.roles[e]
            )
            for e in links
        ]
        aggregates = {}
        for edge, model in zip(links, [self.fit(n) for n in dedupe(wanted)], strict=True):
            child, parent = staged[edge.child], staged[edge.parent]
            aggregate = self.aggregate(
                model,
                child,
                child.renamed[edge.column],
                parent.renamed[edge.parent_column],
                self.roles[edge],
                parent.entity,
            )
            self.add_aggregate(aggregate, parent.entity, names[edge.parent])
            aggregates[edge] = aggregate
        return aggregates

    def aggregate(
        self, model: str, child: Staged, key: str, parent_key: str, role: str, parent_entity: str
    ) -> Aggregate:
        """The measures of a child per parent: how many, sums of its amounts, its first and last event."""
        columns = [c for c in child.spec.columns if not measures.is_loader_column(c)]
        keys = {key, *child.spec.grain} | {c.name for c in columns if c.name.endswith("_id")}
        owned = f"the {docs.words(parent_entity)}'s {docs.words(child.table)}"
        found = [
            ColumnSpec(
                name=self.fit(f"number_of_{plural(child.table)}{role}"),
                expression="count(*)",
                description=f"How many {docs.words(child.table)} the {docs.words(parent_entity)} has"
                f"{f' (through `{key}`)' if role else ''}.",
            )
        ]
        currency = measures.currency_of(child.relation, columns)
        in_currency = f" (in {currency.single})" if currency.single else ""
        for column in measures.amounts(child.relation, columns, keys):
            # `total_price` of orders is `total_order_price` at a customer's grain: the child's entity says of what.
            what = column.name.removeprefix("total_")
            if child.entity in what:
                total = f"total_{what}"
            else:  # `quantity` of an inventory quantity is its `total_inventory_quantity`
                total = (
                    f"total_{child.entity}" if child.entity.endswith(what) else f"total_{child.entity}_{what}"
                )
            found.append(
                ColumnSpec(
                    name=self.fit(f"{total}{role}"),
                    expression=f"sum({column.name})",
                    description=f"Sum of `{column.name}` over {owned}{in_currency}.",
                )
            )
        dated = measures.event_time(child.relation, columns)
        if dated is not None and dated.name not in keys:
            # `first_created_at` would not say of what: the child's entity goes in unless the name has it.
            named = dated.name if child.entity in dated.name else f"{child.entity}_{dated.name}"
            for first_last, function, superlative in (
                ("first", "min", "Earliest"),
                ("last", "max", "Latest"),
            ):
                found.append(
                    ColumnSpec(
                        name=self.fit(f"{first_last}_{named}{role}"),
                        expression=f"{function}({dated.name})",
                        description=f"{superlative} `{dated.name}` among {owned}.",
                    )
                )
        return Aggregate(model, child, key, parent_key, role, found)

    def add_aggregate(self, aggregate: Aggregate, parent_entity: str, mart: str) -> None:
        """Add an aggregate to the plan as an intermediate model, its key tested unique and not null."""
        key_tests = (
            [DataTest(name="unique"), DataTest(name="not_null")] if self.conventions.test_primary_keys else []
        )
        key = ColumnSpec(
            name=aggregate.key,
            expression=aggregate.key,
            description=f"The {docs.words(parent_entity)} these {docs.words(aggregate.child.table)} belong to.",
            tests=key_tests,
        )
        description = docs.describe_aggregate(
            aggregate.child.table, parent_entity, mart, [m.name for m in aggregate.measures]
        )
        spec = AggregateSpec(
            from_model=aggregate.child.model,
            group_by=[aggregate.key],
            columns=[key, *aggregate.measures],
        )
        self.add(aggregate.model, "intermediate", description, spec)

    def base_columns(
        self, table: Staged, alias: str, parents: dict[str, tuple[str, str]]
    ) -> list[ColumnSpec]:
        """A mart's own columns: the staged ones but loader metadata, key tests kept, no relationships."""
        columns = []
        for column in table.spec.columns:
            if measures.is_loader_column(column):
                continue
            description = column.description
            if column.name in parents:
                description = docs.describe_foreign_key(
                    table.entity, parents[column.name][1], parents[column.name][0]
                )
            columns.append(
                ColumnSpec(
                    name=column.name,
                    expression=f"{alias}.{column.name}",
                    data_type=column.data_type,
                    description=description,
                    # Each foreign key is tested once, in staging.
                    tests=[t.model_copy() for t in column.tests if t.name != "relationships"],
                )
            )
        return columns

    def plan_mart(
        self,
        table: Staged,
        role: str,
        name: str,
        aggregates: list[Aggregate],
        parents: dict[str, tuple[str, str]],
    ) -> None:
        """A dimension or fact: the staged table, existing models it points at, its children's aggregates."""
        alias = cte_name(table.table)
        columns = self.base_columns(table, alias, parents)
        joins = self.existing_joins(table, alias, {c.name for c in columns})
        taken = {c.name for c in columns} | {c.name for j in joins for c in j.columns}
        joins += self.aggregate_joins(alias, aggregates, taken)
        expressions = [m.expression or "" for a in aggregates for m in a.measures]
        description = docs.describe_mart(
            role,
            table.entity,
            [a.child.table for a in aggregates],
            sorted({entity for _, entity in parents.values()}),
            totals=any(e.startswith("sum(") for e in expressions),
            dated=any(e.startswith("min(") for e in expressions),
        )
        spec = MartSpec(
            role=role,  # type: ignore[arg-type]
            base_model=table.model,
            base_alias=alias,
            grain=list(table.spec.grain),
            columns=columns,
            joins=joins,
        )
        self.add(name, "marts", description, spec, [t.model_copy() for t in table.model_tests])

    def aggregate_joins(self, alias: str, aggregates: list[Aggregate], taken: set[str]) -> list[MartJoin]:
        """Left joins of the aggregates on the mart's key; a measure whose name clashes takes its child's entity."""
        proposed = [m.name for a in aggregates for m in a.measures]
        clashing = {n for n in proposed if n in taken or proposed.count(n) > 1}
        joins = []
        for aggregate in aggregates:
            join_alias = cte_name(self.fit(f"{aggregate.child.table}{aggregate.role}_aggregated"))
            joined = []
            for measure in aggregate.measures:
                name = measure.name
                if name in clashing:
                    verb, _, rest = name.partition("_")
                    name = self.fit(f"{verb}_{aggregate.child.entity}_{rest}")
                reference = f"{join_alias}.{measure.name}"
                counted = measure.expression == "count(*)" or measure.expression.startswith("sum(")  # type: ignore[union-attr]
                joined.append(
                    ColumnSpec(
                        name=name,
                        expression=f"coalesce({reference}, 0)" if counted else reference,
                        description=measure.description,
                    )
                )
            on = JoinCondition(left_alias=alias, left_column=aggregate.parent_key, right_column=aggregate.key)
            joins.append(MartJoin(model=aggregate.model, alias=join_alias, on=[on], columns=joined))
        return joins

    def existing_joins(self, table: Staged, alias: str, taken: set[str]) -> list[MartJoin]:
        """Joins to the existing models that own this table's keys, carrying a few of their descriptive columns."""
        joins = []
        for (identifier, key), owner in sorted(self.external.items()):
            target = owner.mart or owner.staging
            if identifier != table.relation.identifier or target is None:
                continue
            entity = key.removesuffix("_id")
            picked = []
            for column in self.descriptive(owner, target):
                name = column if column.startswith(f"{entity}_") else self.fit(f"{entity}_{column}")
                if name not in taken:
                    taken.add(name)
                    picked.append((name, column))
            if not picked:
                continue
            join_alias = cte_name(self.fit(f"existing_{target}"))
            joins.append(
                MartJoin(
                    model=target,
                    alias=join_alias,
                    on=[JoinCondition(left_alias=alias, left_column=key, right_column=key)],
                    columns=[
                        ColumnSpec(
                            name=name,
                            expression=f"{join_alias}.{column}",
                            description=f"`{column}` of the {docs.words(entity)} (from `{target}`).",
                        )
                        for name, column in picked
                    ],
                )
            )
        return joins

    @staticmethod
    def descriptive(owner: KeyOwner, model: str) -> list[str]:
        """The existing model's columns that describe its entity (a name, an email, a status), as they exist."""
        columns = [c for c in owner.columns.get(model, []) if c.isidentifier() and c == c.lower()]
        found = [
            c
            for c in columns
            if c != owner.key
            and not c.endswith("_id")
            and not c.startswith("_")
            and any(word in c for word in _DESCRIPTIVE)
        ]
        return found[:_MAX_DESCRIPTIVE]

    def plan_extensions(self, staged: dict[str, Staged], shapes: Shapes) -> None:
        """New measures at an existing mart's grain, through new models: an aggregate and a mart over both."""
        by_owner: dict[str, list[tuple[Staged, str]]] = {}
        owners: dict[str, KeyOwner] = {}
        for (identifier, key), owner in sorted(self.external.items()):
            if owner.mart is None or identifier not in shapes.marts:
                continue
            by_owner.setdefault(owner.mart, []).append((staged[identifier], key))
            owners[owner.mart] = owner
        for mart, children in by_owner.items():
            owner = owners[mart]
            entity = owner.key.removesuffix("_id")
            aggregates = []
            for child, key in children:
                model = self.fit(
                    self.conventions.fill(
                        "intermediate_model",
                        child=child.table,
                        parent=plural(entity),
                        source=child.spec.source_name,
                    )
                )
                if model in self.context.existing_models:
                    continue
                aggregate = self.aggregate(model, child, key, owner.key, "", entity)
                self.add_aggregate(aggregate, entity, mart)
                aggregates.append(aggregate)
            name = self.fit(
                f"{mart}_with_{children[0][0].table}" if len(children) == 1 else f"{mart}_enriched"
            )
            if not aggregates or name in self.context.existing_models:
                continue
            alias = cte_name(self.fit(f"existing_{mart}"))
            known = [c for c in owner.columns.get(mart, []) if c.isidentifier() and c == c.lower()]
            own = [owner.key, *(c for c in known if c != owner.key)]
            key_tests = (
                [DataTest(name="unique"), DataTest(name="not_null")]
                if self.conventions.test_primary_keys
                else []
            )
            columns = [
                ColumnSpec(
                    name=c,
                    expression=f"{alias}.{c}",
                    description=f"`{c}` as in `{mart}`.",
                    tests=key_tests if c == owner.key else [],
                )
                for c in own
            ]
            spec = MartSpec(
                role="fact" if mart.startswith("fct") else "dimension",
                base_model=mart,
                base_alias=alias,
                grain=[owner.key],
                columns=columns,
                joins=self.aggregate_joins(alias, aggregates, set(own)),
            )
            description = docs.describe_extension(mart, entity, [a.child.table for a in aggregates])
            self.add(name, "marts", description, spec)
