"""Intermediate and mart rules: what the staged tables are aggregated and joined into."""

from __future__ import annotations

import re
from collections import Counter

from cartridge_bridge.context.keys import KeyEdge
from cartridge_bridge.context.naming import cte_name, dedupe
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    DataTest,
    JoinCondition,
    MartJoin,
    MartSpec,
)
from cartridge_bridge.planning.planner import ModelDraft
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules.state import PlannerState, Staged
from cartridge_bridge.planning.sql_types import is_numeric, is_temporal

# Prices, rates and ratios do not add up across rows; summing them would make a misleading measure.
_NON_ADDITIVE = re.compile(r"price|rate|ratio|percent|pct|share|score|avg|average|latitude|longitude")


class MartRules(PlannerState):
    """Aggregates of each child to its parent, then dimensions and facts."""

    def plan_aggregates(self, staged: dict[str, Staged], edges: list[KeyEdge]) -> dict[KeyEdge, ModelDraft]:
        """One intermediate per foreign key: the child re-grained to its parent, with counts and measures."""
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

    def measure_columns(self, child: Staged, parent: Staged, edge: KeyEdge) -> list[ColumnSpec]:
        """Sums of additive numbers and first/last of timestamps of a child, per parent."""
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
        staged: dict[str, Staged],
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
        self, staged: dict[str, Staged], edges: list[KeyEdge], aggregates: dict[KeyEdge, ModelDraft]
    ) -> None:
        """A dimension for each parent and a fact for each child, joined to the aggregates of its children."""
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
